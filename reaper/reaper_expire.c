/*
 * reaper_expire.c -- see reaper_expire.h.
 *
 * The status is a literal in the DELETE's parameters and the planner sees its value
 * (unnamed statements get a custom plan), so the batch walks tasks_completed_idx in
 * completed_at order and stops after LIMIT rows. SKIP LOCKED: a row someone else holds
 * (a retry request racing the expiry) is left for the next run.
 */
#include "reaper_expire.h"

#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "db.h"
#include "log.h"

static const char sql_expire[] = "WITH old AS ("
                                 "  SELECT id FROM tasks"
                                 "  WHERE status = $1::task_status"
                                 "    AND status IN ('completed', 'failed', 'cancelled')"
                                 "    AND completed_at < now() - make_interval(secs => $2::bigint)"
                                 "  ORDER BY completed_at LIMIT $3 FOR UPDATE SKIP LOCKED"
                                 ")"
                                 "DELETE FROM tasks USING old WHERE tasks.id = old.id";

static long expire_batch(PGconn *conn, const char *status, int retention_s, int batch_size)
{
    char keep[16], limit[16];
    const char *params[] = {status, keep, limit};
    PGresult *res;
    long n;

    snprintf(keep, sizeof(keep), "%d", retention_s);
    snprintf(limit, sizeof(limit), "%d", batch_size);
    if ((res = lt_db_exec(conn, sql_expire, 3, params)) == NULL) {
        return -1;
    }
    n = atol(PQcmdTuples(res));
    PQclear(res);
    return n;
}

int lt_rpr_expire(PGconn *conn, const struct lt_cfg *cfg, int64_t deadline_ms,
                  struct lt_rpr_summary *s)
{
    const struct {
        const char *status;
        int retention_s;
    } kinds[] = {
        {"completed", cfg->retention_completed_s},
        {"failed", cfg->retention_failed_s},
        {"cancelled", cfg->retention_cancelled_s},
    };

    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        long n;
        do {
            if (lt_mono_ms() >= deadline_ms) {
                s->time_boxed = 1;
                return 0;
            }
            n = expire_batch(conn, kinds[k].status, kinds[k].retention_s, cfg->reaper_batch_size);
            if (n < 0) {
                return -1;
            }
            if (n > 0) {
                s->expired += n;
                s->expire_batches++;
                lt_log_debug(
                    "tasks_expired",
                    json_pack("{ss sI}", "status", kinds[k].status, "deleted", (json_int_t)n),
                    "deleted %ld %s task(s) past retention", n, kinds[k].status);
            }
        } while (n == cfg->reaper_batch_size);
    }
    return 0;
}
