/*
 * master.h -- the worker supervisor: forks worker.processes children and keeps that
 * many alive, restarting one that dies (with a growing delay while children die young,
 * so a crash loop does not spin), reloads the configuration on SIGHUP and replaces the
 * children gracefully, and on SIGTERM/SIGINT forwards SIGTERM and waits for every child
 * to drain. The master holds no database connection and no curl handle: children share
 * nothing with it but the configuration they inherit at fork.
 */
#ifndef LT_WRK_MASTER_H
#define LT_WRK_MASTER_H

#include "cfg.h"

/* Runs the master until it has stopped, and returns the exit code. In a forked child
 * it returns too, with the child's exit code, after the child has run, so main() frees
 * what it owns in every process. cfg is the master's: a reload replaces its contents. */
int lt_wrk_master_run(struct lt_cfg *cfg);

#endif
