/*
 * reaper_rescue.c -- see reaper_rescue.h.
 *
 * The lapsed rows are picked with FOR UPDATE SKIP LOCKED through the partial index on
 * lease_until, so a worker finishing one of them at this moment is not waited for: if
 * it commits first its row is no longer running and is not touched.
 */
#include "reaper_rescue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "db.h"
#include "log.h"

static const char sql_rescue[] =
    "WITH lapsed AS ("
    "  SELECT id, worker_id AS lost_worker FROM tasks"
    "  WHERE status = 'running' AND lease_until < now()"
    "  ORDER BY lease_until LIMIT $1 FOR UPDATE SKIP LOCKED"
    "), t AS ("
    "  UPDATE tasks SET"
    "    status = CASE WHEN tasks.cancel_requested THEN 'cancelled'::task_status"
    "                  WHEN tasks.attempt <= tasks.max_retries THEN 'retry'::task_status"
    "                  ELSE 'failed'::task_status END,"
    "    run_at = CASE WHEN NOT tasks.cancel_requested AND tasks.attempt <= tasks.max_retries"
    "                  THEN now() ELSE tasks.run_at END,"
    "    completed_at = CASE WHEN tasks.cancel_requested OR tasks.attempt > tasks.max_retries"
    "                        THEN now() END,"
    "    error = CASE WHEN tasks.cancel_requested THEN 'cancelled'"
    "                 ELSE 'worker lost (lease expired)' END,"
    "    metadata = CASE WHEN tasks.cancel_requested OR tasks.attempt <= tasks.max_retries"
    "                    THEN tasks.metadata"
    "                    ELSE tasks.metadata || jsonb_strip_nulls(jsonb_build_object("
    "                      'retry_exhausted', true, 'worker', lapsed.lost_worker,"
    "                      'duration_ms', (extract(epoch FROM now() - tasks.started_at)"
    "                                      * 1000)::bigint)) END,"
    "    lease_until = NULL, heartbeat_at = NULL, worker_id = NULL,"
    "    version = tasks.version + 1, updated_at = now(), event_seq = tasks.event_seq + 1"
    "  FROM lapsed WHERE tasks.id = lapsed.id"
    "  RETURNING tasks.id, tasks.event_seq, tasks.status, tasks.queue, tasks.attempt,"
    "            tasks.max_retries, tasks.progress, lapsed.lost_worker"
    "), ev AS ("
    "  INSERT INTO task_events (task_id, seq, kind, progress, message)"
    "  SELECT id, event_seq,"
    "         CASE status WHEN 'retry' THEN 'rescued' ELSE status::text END, progress,"
    "         CASE status"
    "           WHEN 'retry' THEN format('worker %s lost (lease expired); attempt %s of %s"
    " will run again', coalesce(lost_worker, '?'), attempt, max_retries + 1)"
    "           WHEN 'failed' THEN format('worker %s lost (lease expired); no attempts left"
    " (%s of %s used)', coalesce(lost_worker, '?'), attempt, max_retries + 1)"
    "           ELSE 'cancelled (worker lost before it could stop)' END"
    "  FROM t"
    "), woken AS ("
    "  SELECT DISTINCT queue FROM t WHERE status = 'retry'"
    ")"
    "SELECT id, status, queue, attempt, coalesce(lost_worker, ''),"
    "       (SELECT count(pg_notify('lt_q_' || queue, '')) FROM woken) FROM t";

/* One batch: one statement, so one transaction. Returns the rows handled, or -1. */
static long rescue_batch(PGconn *conn, int batch_size, struct lt_rpr_summary *s)
{
    char limit[16];
    const char *params[] = {limit};
    PGresult *res;
    long n;

    snprintf(limit, sizeof(limit), "%d", batch_size);
    if ((res = lt_db_exec(conn, sql_rescue, 1, params)) == NULL) {
        return -1;
    }
    n = PQntuples(res);
    for (long i = 0; i < n; i++) {
        const char *status = PQgetvalue(res, (int)i, 1);
        json_t *f =
            json_pack("{ss ss ss si ss}", "task_id", PQgetvalue(res, (int)i, 0), "status", status,
                      "queue", PQgetvalue(res, (int)i, 2), "attempt",
                      atoi(PQgetvalue(res, (int)i, 3)), "worker", PQgetvalue(res, (int)i, 4));
        if (strcmp(status, "retry") == 0) {
            s->rescued++;
            lt_log_info("task_rescued", f, "lease lapsed; the task goes back to its queue");
        } else if (strcmp(status, "failed") == 0) {
            s->failed++;
            lt_log_warn("task_failed", f, "lease lapsed with no attempts left");
        } else {
            s->cancelled++;
            lt_log_info("task_cancelled", f, "lease lapsed on a task whose cancel was requested");
        }
    }
    PQclear(res);
    return n;
}

int lt_rpr_rescue(PGconn *conn, int batch_size, int64_t deadline_ms, struct lt_rpr_summary *s)
{
    for (;;) {
        long n = rescue_batch(conn, batch_size, s);
        if (n < 0) {
            return -1;
        }
        if (n < batch_size) {
            return 0;
        }
        if (lt_mono_ms() >= deadline_ms) {
            s->time_boxed = 1;
            return 0;
        }
    }
}
