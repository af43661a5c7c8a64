/*
 * reaper_purge.c -- see reaper_purge.h.
 */
#include "reaper_purge.h"

#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "db.h"
#include "log.h"

static const char sql_purge_windows[] =
    "WITH old AS ("
    "  SELECT q.ctid AS row_id FROM quota_usage q"
    "  LEFT JOIN tenant_quotas o ON o.tenant = q.tenant"
    "  WHERE q.window_start < now() - 2 * coalesce(o.window_s, $1::int) * interval '1 second'"
    "  LIMIT $2::int)"
    "DELETE FROM quota_usage WHERE ctid IN (SELECT row_id FROM old)";

/* No version bump: neither column is part of the task object. */
static const char sql_retire_keys[] = "WITH old AS ("
                                      "  SELECT id FROM tasks"
                                      "  WHERE idempotency_key IS NOT NULL"
                                      "    AND created_at < now() - make_interval(secs => $1::int)"
                                      "  ORDER BY created_at LIMIT $2::int FOR UPDATE SKIP LOCKED)"
                                      "UPDATE tasks SET idempotency_key = NULL, request_hash = NULL"
                                      "  FROM old WHERE tasks.id = old.id";

/* Runs sql in batches until a batch comes back short or the time box ends. */
static int batches(PGconn *conn, const char *sql, const char *arg, int batch_size,
                   int64_t deadline_ms, long *total, struct lt_rpr_summary *s)
{
    char limit[16];
    const char *params[2] = {arg, limit};
    long n;

    snprintf(limit, sizeof(limit), "%d", batch_size);
    do {
        if (lt_mono_ms() >= deadline_ms) {
            s->time_boxed = 1;
            return 0;
        }
        PGresult *res = lt_db_exec(conn, sql, 2, params);
        if (res == NULL) {
            return -1;
        }
        n = atol(PQcmdTuples(res));
        PQclear(res);
        *total += n;
    } while (n == batch_size);
    return 0;
}

int lt_rpr_purge(PGconn *conn, const struct lt_cfg *cfg, int64_t deadline_ms,
                 struct lt_rpr_summary *s)
{
    char window[16], ttl[16];

    snprintf(window, sizeof(window), "%d", cfg->quota_window_s);
    snprintf(ttl, sizeof(ttl), "%d", LT_RPR_IDEMPOTENCY_TTL_S);
    if (batches(conn, sql_purge_windows, window, cfg->reaper_batch_size, deadline_ms,
                &s->quota_windows_purged, s) < 0 ||
        batches(conn, sql_retire_keys, ttl, cfg->reaper_batch_size, deadline_ms,
                &s->idempotency_keys_retired, s) < 0) {
        return -1;
    }
    if (s->quota_windows_purged > 0 || s->idempotency_keys_retired > 0) {
        lt_log_debug("reaper_purged",
                     json_pack("{sI sI}", "quota_windows", (json_int_t)s->quota_windows_purged,
                               "idempotency_keys", (json_int_t)s->idempotency_keys_retired),
                     "purged old quota windows and idempotency keys");
    }
    return 0;
}
