/*
 * reaper_purge.h -- the small tables that only grow unless someone trims them:
 *
 *   - quota_usage rows of windows that ended more than one window ago (a row is kept
 *     for the window after its own, so GET /quota and refunds of the previous window's
 *     tasks still find it); the window length is the tenant's override or quota.window_s;
 *   - Idempotency-Keys older than 24 hours: the key and the request fingerprint are
 *     cleared on the task (which stays), so the unique index stays small and the key
 *     may be used again. The API replays a key only within 24 h anyway.
 *
 * Both in batches of reaper.batch_size, each its own statement, within the run's time box.
 */
#ifndef LT_REAPER_PURGE_H
#define LT_REAPER_PURGE_H

#include <stdint.h>

#include <libpq-fe.h>

#include "cfg.h"
#include "reaper_summary.h"

#define LT_RPR_IDEMPOTENCY_TTL_S 86400

/* Adds the rows purged to s. 0 ok, -1 error (logged). */
int lt_rpr_purge(PGconn *conn, const struct lt_cfg *cfg, int64_t deadline_ms,
                 struct lt_rpr_summary *s);

#endif
