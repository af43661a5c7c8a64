/*
 * reaper_expire.h -- deletes finished tasks past their retention.
 *
 * Each terminal status has its own retention (retention.completed_s, .failed_s,
 * .cancelled_s, counted from completed_at). Rows go in batches of reaper.batch_size,
 * oldest first, each batch its own transaction, so a large backlog never holds locks
 * or bloats one transaction, and the run stops when its time box is used (the next run
 * continues). Events go with their task (ON DELETE CASCADE).
 */
#ifndef LT_REAPER_EXPIRE_H
#define LT_REAPER_EXPIRE_H

#include <stdint.h>

#include <libpq-fe.h>

#include "cfg.h"
#include "reaper_summary.h"

/* Adds the rows deleted and the batches used to s. 0 ok, -1 error (logged). */
int lt_rpr_expire(PGconn *conn, const struct lt_cfg *cfg, int64_t deadline_ms,
                  struct lt_rpr_summary *s);

#endif
