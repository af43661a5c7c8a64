/*
 * api_pool.h -- the prefork pool: a parent that owns the listening socket and keeps
 * api.processes single-threaded FastCGI children serving it.
 *
 * The parent never touches the database and never serves a request; it forks,
 * watches SIGCHLD, restarts a child that died (after a growing pause when children
 * keep dying young, so a broken database URL does not become a fork storm), replaces
 * a child that retired after api.max_requests requests, reloads the configuration on
 * SIGHUP and replaces every child with one that carries it, and on SIGTERM/SIGINT lets
 * each child finish the request in hand, waits for all of them and returns.
 *
 * Signal handlers only set flags; the parent's loop acts on them.
 */
#ifndef LT_API_POOL_H
#define LT_API_POOL_H

#include "cfg.h"

#define LT_API_YOUNG_MS 1000        /* a child dying sooner than this died young */
#define LT_API_RESTART_MIN_MS 100   /* first pause after a young death, doubling */
#define LT_API_RESTART_MAX_MS 10000 /* the longest pause */
#define LT_API_STOP_GRACE_MS 30000  /* children still busy this long are killed */

/* Runs the pool on the listening descriptor until SIGTERM/SIGINT. *cfg is replaced in
 * place on SIGHUP (the caller still frees it). Returns 0 on a clean stop, -1 when no
 * child could be started at all. Never returns in a child. */
int lt_api_pool_run(struct lt_cfg *cfg, int listen_fd);

#endif
