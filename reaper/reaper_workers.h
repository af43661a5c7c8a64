/*
 * reaper_workers.h -- the workers table's housekeeping.
 *
 * A worker child upserts its row at start and on every heartbeat; a row silent for
 * reaper.worker_dead_s is marked dead (its tasks' leases lapse on their own and are
 * rescued; this only keeps the table and the workers-alive gauge honest). Dead rows
 * are deleted once they have been silent for LT_RPR_DEAD_WORKER_KEEP_S, long enough
 * to tell from the table which worker lost a task.
 */
#ifndef LT_REAPER_WORKERS_H
#define LT_REAPER_WORKERS_H

#include <libpq-fe.h>

#include "cfg.h"
#include "reaper_summary.h"

#define LT_RPR_DEAD_WORKER_KEEP_S 86400

/* Adds to s->workers_dead and s->workers_purged. 0 ok, -1 error (logged). */
int lt_rpr_workers(PGconn *conn, const struct lt_cfg *cfg, struct lt_rpr_summary *s);

#endif
