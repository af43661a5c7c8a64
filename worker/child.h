/*
 * child.h -- one worker child: a single-threaded event loop that holds one PostgreSQL
 * connection, LISTENs for its queues and for cancellations, claims batches of tasks up
 * to its concurrency, runs them through their handlers, renews their leases with one
 * heartbeat statement, enforces their timeouts, writes their outcomes, and on SIGTERM
 * drains: stops claiming, lets running tasks finish for worker.drain_s, hands the rest
 * back and exits. A lost database connection is survived: the child keeps its tasks,
 * reconnects with backoff from its loop and writes what it could not write before.
 */
#ifndef LT_WRK_CHILD_H
#define LT_WRK_CHILD_H

#include "cfg.h"

/* Runs the child until it has drained after SIGTERM/SIGINT. Returns the process exit
 * code (0 after a clean drain, 1 when it could not start). cfg is borrowed. */
int lt_wrk_child_run(const struct lt_cfg *cfg);

#endif
