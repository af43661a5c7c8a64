/*
 * reaper_run.h -- one reaper run: connect (or reuse the connection), take the run
 * lock, rescue lapsed leases, expire finished tasks, tend the workers table, purge old quota
 * windows and Idempotency-Keys (reaper_purge.h), release, write the metrics textfile and log the
 * reaper_run summary.
 *
 * The whole run shares one time box (reaper.time_box_s): work left over waits for the
 * next run instead of overrunning a cron slot.
 */
#ifndef LT_REAPER_RUN_H
#define LT_REAPER_RUN_H

#include <libpq-fe.h>

#include "cfg.h"

/* Opens the reaper's connection (statement timeout applied). NULL when the database
 * cannot be reached (logged). */
PGconn *lt_rpr_connect(const struct lt_cfg *cfg);

/* One run. *conn is the connection to use; NULL or broken means connect first; after a
 * connection failure it is closed and set to NULL so the next run reconnects.
 * Returns 0 when the run succeeded or was skipped (another reaper holds the lock),
 * -1 when it failed (logged, with a reaper_run line saying ok=false). */
int lt_rpr_run(const struct lt_cfg *cfg, PGconn **conn);

#endif
