/*
 * api_store.c -- see api_store.h.
 *
 * Every statement is a named constant next to the function that runs it, with text
 * parameters only. The hot ones (a task's read, its ETag, the type's average) are
 * prepared once per connection (api_prep.h); the rest, whose optional filters are
 * written `($n IS NULL OR col = $n)`, go through PQexecParams, which plans them with
 * the actual values so the planner folds those filters away.
 *
 * Times cross the boundary as Unix microseconds and are rebuilt in SQL as
 * 'epoch' + n microseconds, exact at PostgreSQL's own resolution, so a list cursor
 * lands precisely on the row it came from.
 *
 * A statement that changes one task by its status guards with `status::text`, as the
 * worker's writes do (worker/writer.c): a plain `status IN (...)` implies the predicate
 * of a partial index, and on statistics taken while the table was quiet the planner
 * walks that index (a whole backlog) instead of probing the primary key.
 */
#include "api_store.h"

#include "api_charge.h"
#include "api_prep.h"
#include "api_store_tx.h"

#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "db.h"
#include "log.h"

static PGconn *conn;

/* The session's settings. Sequential scans priced out, as in the worker's session
 * (worker/store.c): every statement here finds its rows through an index (a task by
 * its primary key, a tenant's tasks by tasks_tenant_created_idx, the quota rows by
 * theirs), and the prepared ones run generic plans, built once per session from the
 * statistics of that moment. Made while tasks was small or had been ANALYZEd quiet, a
 * generic plan reads the table with a sequential scan, and keeps doing so as the table
 * grows until something invalidates it: after a burst, every poll and create then reads
 * the whole table. With sequential scans disabled (a 10^10 penalty, not a ban: a table
 * with no usable index still gets one) the index plans are the cheap ones whatever the
 * statistics say; JIT off, because that penalty lifts a plan's estimate far over
 * jit_above_cost and short statements would be compiled on every run. Checked by
 * tests/integration/test_claim_plan.py (test_api_lookups_stay_on_indexes_after_a_burst). */
static const char SQL_SESSION[] = "SELECT set_config('statement_timeout', $1, false),\n"
                                  "       set_config('enable_seqscan', 'off', false),\n"
                                  "       set_config('jit', 'off', false)";

/* Server notices (a WARNING, say) become log lines rather than raw text on stderr. */
static void on_notice(void *arg, const char *message)
{
    char msg[256];
    (void)arg;
    snprintf(msg, sizeof(msg), "%s", message);
    msg[strcspn(msg, "\n")] = '\0';
    lt_log_debug("db_notice", NULL, "%s", msg);
}

/* The connection, opened when missing. NULL when the database cannot be reached. */
static PGconn *db(const struct lt_cfg *cfg)
{
    char ms[16];
    const char *params[1] = {ms};

    /* An idle connection the server closed (a restart, pg_terminate_backend, an idle
     * timeout) has its goodbye waiting on the socket. Between requests nothing else
     * arrives (this process never LISTENs), so readable means gone: reconnect now
     * rather than fail this request with a 503. */
    if (conn != NULL) {
        struct pollfd pfd = {PQsocket(conn), POLLIN, 0};
        if (pfd.fd < 0 || poll(&pfd, 1, 0) != 0 || PQstatus(conn) != CONNECTION_OK ||
            PQpipelineStatus(conn) != PQ_PIPELINE_OFF) {
            PQfinish(conn);
            conn = NULL;
        }
    }
    if (conn == NULL) {
        conn = lt_db_connect(cfg->database_url, cfg->db_connect_timeout_s, "longtask-api");
        if (conn == NULL) {
            return NULL;
        }
        PQsetNoticeProcessor(conn, on_notice, NULL);
        lt_api_prep_reset(); /* prepared statements died with the old session */
        snprintf(ms, sizeof(ms), "%d", cfg->db_statement_timeout_ms);
        if (lt_db_run(conn, SQL_SESSION, 1, params) < 0) {
            PQfinish(conn);
            conn = NULL;
        }
    }
    return conn;
}

/* Classifies the failure of the last statement; drops a dead connection. A failed
 * transaction is rolled back by finish(), the one place that ends transactions. */
static enum lt_api_store_rc failed(void)
{
    if (conn == NULL || lt_db_last_was_connection(conn) || lt_api_prep_last_was_connection(conn)) {
        PQfinish(conn);
        conn = NULL;
        return LT_API_STORE_DOWN;
    }
    return LT_API_STORE_ERROR;
}

void lt_api_store_close(void)
{
    PQfinish(conn);
    conn = NULL;
}

void lt_api_task_view_free(struct lt_api_task_view *v)
{
    free(v->json);
    v->json = NULL;
}

static char *dup_value(PGresult *res, int row, int col)
{
    char *s = strdup(PQgetvalue(res, row, col));
    if (s == NULL) {
        lt_log_error("out_of_memory", NULL, "copying a database value");
    }
    return s;
}

/* The schema version in one prepared round trip, once schema_migrations is known to
 * exist: /readyz is probed every few seconds by every load balancer and orchestrator in
 * front, and a readiness probe should cost what a poll costs, not more. */
static struct lt_api_stmt st_schema_version = {
    "lt_schema_version", "SELECT coalesce(max(version), 0) FROM schema_migrations", 0, 0};
static int schema_table_seen; /* lt_db_schema_version found the table on this process */

enum lt_api_store_rc lt_api_store_schema(const struct lt_cfg *cfg, int *version)
{
    if (db(cfg) == NULL) {
        return LT_API_STORE_DOWN;
    }
    if (schema_table_seen) {
        PGresult *res = lt_api_prep_exec(conn, &st_schema_version, NULL);
        if (res != NULL) {
            *version = atoi(PQgetvalue(res, 0, 0));
            PQclear(res);
            return LT_API_STORE_OK;
        }
        if (strcmp(lt_api_prep_last_sqlstate(), "42P01") != 0) {
            return failed();
        }
        schema_table_seen = 0; /* dropped (undefined_table): the catalog check again */
    }
    *version = lt_db_schema_version(conn);
    schema_table_seen = *version > 0;
    return *version < 0 ? failed() : LT_API_STORE_OK;
}

/* ---- estimated time to completion ---- */

/* Durations come from the worker's metadata.duration_ms, else the timestamps; the
 * type's latest completions of the last 24 hours, newest first through
 * tasks_type_completed_idx, so the cost does not grow with the day's volume. */
static struct lt_api_stmt st_type_avg_ms = {
    "lt_type_avg_ms",
    "SELECT avg(d) FROM (\n"
    "  SELECT CASE WHEN jsonb_typeof(metadata->'duration_ms') = 'number'\n"
    "              THEN (metadata->>'duration_ms')::float8\n"
    "              ELSE extract(epoch FROM completed_at - started_at)::float8 * 1000 END AS d\n"
    "    FROM tasks\n"
    "   WHERE type = $1 AND status = 'completed'\n"
    "     AND completed_at > now() - interval '24 hours'\n"
    "   ORDER BY completed_at DESC LIMIT " LT_API_STR(LT_API_ETA_SAMPLE) ") recent",
    1, 0};

#define ETA_CACHE_SLOTS 16

/* Polling clients read single tasks often; the type's average changes slowly. */
static struct {
    char type[LT_NAME_MAX];
    int64_t at_ms;
    double avg_ms; /* < 0: unknown */
} eta_cache[ETA_CACHE_SLOTS];

/* The type's recent average duration in ms, < 0 when unknown. 0 ok, -1 error. */
static int type_avg_ms(const char *type, double *avg_ms)
{
    int64_t now = lt_mono_ms();
    int slot = 0;
    const char *params[1] = {type};

    for (int i = 0; i < ETA_CACHE_SLOTS; i++) {
        if (strcmp(eta_cache[i].type, type) == 0) {
            if (now - eta_cache[i].at_ms < LT_API_ETA_CACHE_MS) {
                *avg_ms = eta_cache[i].avg_ms;
                return 0;
            }
            slot = i;
            break;
        }
        if (eta_cache[i].at_ms < eta_cache[slot].at_ms) {
            slot = i; /* the oldest entry makes room */
        }
    }
    PGresult *res = lt_api_prep_exec(conn, &st_type_avg_ms, params);
    if (res == NULL) {
        return -1;
    }
    *avg_ms = PQgetisnull(res, 0, 0) ? -1.0 : atof(PQgetvalue(res, 0, 0));
    PQclear(res);
    snprintf(eta_cache[slot].type, sizeof(eta_cache[slot].type), "%s", type);
    eta_cache[slot].at_ms = now;
    eta_cache[slot].avg_ms = *avg_ms;
    return 0;
}

/* ---- single-task reads ---- */

/* queue_position counts the ready tasks the claim would take first: the claim's own
 * order (priority DESC, run_at, id) within the queue, capped (api_store_tx.h). */
static struct lt_api_stmt st_read = {
    "lt_task_read",
    "SELECT lt_task_json(t, true)::text, t.status::text, t.version, t.type, t.progress,\n"
    "       CASE WHEN t.status IN ('pending', 'retry') THEN\n"
    "         " LT_API_SQL_QUEUE_POSITION(
        "t.queue", "t.priority", "t.run_at",
        "t.id") " END,\n"
                "       greatest(extract(epoch FROM t.run_at - now()), 0)::float8,\n"
                "       coalesce(extract(epoch FROM now() - t.started_at), 0)::float8\n"
                "  FROM tasks t WHERE t.id = $1::uuid AND t.tenant = $2",
    2, 0};

static struct lt_api_stmt st_etag = {
    "lt_task_etag", "SELECT status::text, version FROM tasks WHERE id = $1::uuid AND tenant = $2",
    2, 0};

/* Seconds to completion: the type's average, scaled by the progress still to make for
 * a running task, plus the wait until run_at for a waiting one. */
static long long eta_seconds(const char *status, double avg_ms, int progress, double wait_s,
                             double elapsed_s)
{
    double left_ms;

    if (avg_ms < 0) {
        return -1;
    }
    if (strcmp(status, "running") == 0) {
        left_ms = progress > 0 ? avg_ms * (100 - progress) / 100.0 : avg_ms - elapsed_s * 1000;
    } else if (strcmp(status, "pending") == 0 || strcmp(status, "retry") == 0) {
        left_ms = avg_ms + wait_s * 1000;
    } else {
        return -1;
    }
    return left_ms > 0 ? (long long)ceil(left_ms / 1000.0) : 0;
}

enum lt_api_store_rc lt_api_store_view_from(PGresult *res, struct lt_api_task_view *out)
{
    char extra[96], pos[24] = "null", eta[24] = "null";
    double avg_ms = -1;

    memset(out, 0, sizeof(*out));
    snprintf(out->status, sizeof(out->status), "%s", PQgetvalue(res, 0, LT_API_VIEW_STATUS));
    out->version = atoi(PQgetvalue(res, 0, LT_API_VIEW_VERSION));
    if (!PQgetisnull(res, 0, LT_API_VIEW_POSITION)) {
        snprintf(pos, sizeof(pos), "%s", PQgetvalue(res, 0, LT_API_VIEW_POSITION));
    }
    if (strcmp(out->status, "completed") != 0 && strcmp(out->status, "failed") != 0 &&
        strcmp(out->status, "cancelled") != 0) {
        if (type_avg_ms(PQgetvalue(res, 0, LT_API_VIEW_TYPE), &avg_ms) < 0) {
            return failed();
        }
        long long s =
            eta_seconds(out->status, avg_ms, atoi(PQgetvalue(res, 0, LT_API_VIEW_PROGRESS)),
                        atof(PQgetvalue(res, 0, LT_API_VIEW_WAIT_S)),
                        atof(PQgetvalue(res, 0, LT_API_VIEW_ELAPSED_S)));
        if (s >= 0) {
            snprintf(eta, sizeof(eta), "%lld", s);
        }
    }
    /* The object from lt_task_json ends in '}': the two fields go in before it. */
    const char *json = PQgetvalue(res, 0, LT_API_VIEW_JSON);
    size_t n = strlen(json);
    int m = snprintf(extra, sizeof(extra), ", \"queue_position\" : %s, \"eta_s\" : %s}", pos, eta);
    out->json = n > 0 ? malloc(n + (size_t)m) : NULL;
    if (out->json == NULL) {
        return LT_API_STORE_ERROR;
    }
    memcpy(out->json, json, n - 1);
    memcpy(out->json + n - 1, extra, (size_t)m + 1);
    return LT_API_STORE_OK;
}

static enum lt_api_store_rc read_view(const char *tenant, const char *id,
                                      struct lt_api_task_view *out)
{
    const char *params[2] = {id, tenant};

    memset(out, 0, sizeof(*out));
    PGresult *res = lt_api_prep_exec(conn, &st_read, params);
    if (res == NULL) {
        return failed();
    }
    enum lt_api_store_rc rc =
        PQntuples(res) == 0 ? LT_API_STORE_NOT_FOUND : lt_api_store_view_from(res, out);
    PQclear(res);
    return rc;
}

enum lt_api_store_rc lt_api_store_etag(const struct lt_cfg *cfg, const char *tenant, const char *id,
                                       char status[16], int *version)
{
    const char *params[2] = {id, tenant};

    if (db(cfg) == NULL) {
        return LT_API_STORE_DOWN;
    }
    PGresult *res = lt_api_prep_exec(conn, &st_etag, params);
    if (res == NULL) {
        return failed();
    }
    enum lt_api_store_rc rc = LT_API_STORE_NOT_FOUND;
    if (PQntuples(res) > 0) {
        snprintf(status, 16, "%s", PQgetvalue(res, 0, 0));
        *version = atoi(PQgetvalue(res, 0, 1));
        rc = LT_API_STORE_OK;
    }
    PQclear(res);
    return rc;
}

enum lt_api_store_rc lt_api_store_get(const struct lt_cfg *cfg, const char *tenant, const char *id,
                                      struct lt_api_task_view *out)
{
    memset(out, 0, sizeof(*out));
    if (db(cfg) == NULL) {
        return LT_API_STORE_DOWN;
    }
    return read_view(tenant, id, out);
}

/* Ends a transaction: commit when rc is OK, else roll back (a lost connection has
 * nothing left to roll back); the view is given back unless committed. */
static enum lt_api_store_rc finish(enum lt_api_store_rc rc, struct lt_api_task_view *out)
{
    if (rc == LT_API_STORE_OK && lt_db_commit(conn) < 0) {
        rc = failed();
    }
    if (rc != LT_API_STORE_OK && rc != LT_API_STORE_DOWN && conn != NULL) {
        lt_db_rollback(conn);
    }
    if (rc != LT_API_STORE_OK) {
        lt_api_task_view_free(out);
    }
    return rc;
}

/* ---- for the other parts of the store (api_store_tx.h) ---- */

PGconn *lt_api_store_conn(const struct lt_cfg *cfg)
{
    return db(cfg);
}

enum lt_api_store_rc lt_api_store_failed(void)
{
    return failed();
}

enum lt_api_store_rc lt_api_store_finish(enum lt_api_store_rc rc, struct lt_api_task_view *out)
{
    return finish(rc, out);
}

enum lt_api_store_rc lt_api_store_read_view(const char *tenant, const char *id,
                                            struct lt_api_task_view *out)
{
    return read_view(tenant, id, out);
}

/* ---- cancel and retry ---- */

static const char SQL_STATUS[] =
    "SELECT status::text FROM tasks WHERE id = $1::uuid AND tenant = $2";

/* A waiting task is cancelled outright, with its event, in one statement. One that never
 * started gets its units back in the window they were charged to (the status moves
 * out of pending only once, so nothing is refunded twice); once it ran, nothing is.
 * The units come off the window's fullest stripe (sql/004_quota_stripes.sql): lowering
 * a stripe's units never breaks its cap, and the sum is what counts. */
static const char SQL_CANCEL_WAITING[] =
    "WITH t AS (\n"
    "  UPDATE tasks SET status = 'cancelled', completed_at = now(), error = 'cancelled',\n"
    "         version = version + 1, updated_at = now(), event_seq = event_seq + 1\n"
    "   WHERE id = $1::uuid AND tenant = $2 AND status::text IN ('pending', 'retry')\n"
    "   RETURNING id, event_seq, progress, cost, quota_window, started_at IS NULL AS unstarted),\n"
    "ev AS (\n"
    "  INSERT INTO task_events (task_id, seq, kind, progress, message)\n"
    "  SELECT id, event_seq, 'cancelled', progress, 'cancelled by the client' FROM t),\n"
    "refund AS (\n"
    "  UPDATE quota_usage q SET units = q.units - t.cost FROM t\n"
    "   WHERE t.unstarted AND t.cost > 0 AND q.tenant = $2 AND q.window_start = t.quota_window\n"
    "     AND q.stripe = (SELECT u.stripe FROM quota_usage u\n"
    "                      WHERE u.tenant = $2 AND u.window_start = t.quota_window\n"
    "                      ORDER BY u.units DESC LIMIT 1))\n"
    "SELECT id FROM t";

/* A running task is asked to stop; its worker records the transition. Asking twice
 * changes nothing (the version stays, so ETags stay valid). */
static const char SQL_CANCEL_RUNNING[] =
    "UPDATE tasks SET cancel_requested = true,\n"
    "       version = version + CASE WHEN cancel_requested THEN 0 ELSE 1 END,\n"
    "       updated_at = now()\n"
    " WHERE id = $1::uuid AND tenant = $2 AND status::text = 'running'";

static const char SQL_NOTIFY_CANCEL[] = "SELECT pg_notify('lt_cancel', $1)";

#define CANCEL_ROUNDS 3 /* a task may move between the conditional UPDATEs; try again */

static int is_terminal(const char *status)
{
    return strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0 ||
           strcmp(status, "cancelled") == 0;
}

/* Runs a conditional statement: 1 when it changed a row, 0 when not, -1 on error. */
static int changed(const char *sql, int nparams, const char *const *params)
{
    PGresult *res = lt_db_exec(conn, sql, nparams, params);
    if (res == NULL) {
        return -1;
    }
    int n = atoi(PQcmdTuples(res));
    PQclear(res);
    return n > 0;
}

/* NOT_FOUND, CONFLICT (terminal) or OK (still movable). */
static enum lt_api_store_rc current_status(const char *id, const char *tenant)
{
    const char *params[2] = {id, tenant};
    PGresult *res = lt_db_exec(conn, SQL_STATUS, 2, params);
    if (res == NULL) {
        return failed();
    }
    enum lt_api_store_rc rc = PQntuples(res) == 0                  ? LT_API_STORE_NOT_FOUND
                              : is_terminal(PQgetvalue(res, 0, 0)) ? LT_API_STORE_CONFLICT
                                                                   : LT_API_STORE_OK;
    PQclear(res);
    return rc;
}

enum lt_api_store_rc lt_api_store_cancel(const struct lt_cfg *cfg, const char *tenant,
                                         const char *id, struct lt_api_task_view *out,
                                         int *requested)
{
    const char *params[2] = {id, tenant};
    enum lt_api_store_rc rc = LT_API_STORE_CONFLICT;
    int r;

    memset(out, 0, sizeof(*out));
    *requested = 0;
    if (db(cfg) == NULL) {
        return LT_API_STORE_DOWN;
    }
    if (lt_db_begin(conn) < 0) {
        return failed();
    }
    for (int round = 0; round < CANCEL_ROUNDS; round++) {
        if ((r = changed(SQL_CANCEL_WAITING, 2, params)) != 0) {
            rc = r < 0 ? failed() : LT_API_STORE_OK;
            break;
        }
        if ((r = changed(SQL_CANCEL_RUNNING, 2, params)) != 0) {
            rc = r < 0 || lt_db_run(conn, SQL_NOTIFY_CANCEL, 1, params) < 0 ? failed()
                                                                            : LT_API_STORE_OK;
            *requested = 1;
            break;
        }
        if ((rc = current_status(id, tenant)) != LT_API_STORE_OK) {
            break;
        }
        rc = LT_API_STORE_CONFLICT;
    }
    if (rc == LT_API_STORE_OK) {
        rc = read_view(tenant, id, out);
    }
    return finish(rc, out);
}

/* Back to pending with a fresh budget: attempt 0, no error, result or progress; the
 * service's own metadata keys of the last run go, the client's stay. */
static const char SQL_RETRY[] =
    "WITH t AS (\n"
    "  UPDATE tasks SET status = 'pending', attempt = 0, error = NULL, result = NULL,\n"
    "         progress = 0, progress_message = NULL, started_at = NULL, completed_at = NULL,\n"
    "         cancel_requested = false, run_at = now(), lease_until = NULL,\n"
    "         heartbeat_at = NULL, worker_id = NULL, expires_at = NULL,\n"
    "         metadata = metadata - 'duration_ms' - 'retry_exhausted' - 'worker',\n"
    "         quota_window = 'epoch'::timestamptz + $3::bigint * interval '1 microsecond',\n"
    "         version = version + 1, updated_at = now(), event_seq = event_seq + 1\n"
    "   WHERE id = $1::uuid AND tenant = $2 AND status::text IN ('failed', 'cancelled')\n"
    "   RETURNING id, event_seq)\n"
    "INSERT INTO task_events (task_id, seq, kind, progress, message)\n"
    "SELECT id, event_seq, 'created', 0, 'retried' FROM t";

static const char SQL_NOTIFY_TASK_QUEUE[] =
    "SELECT pg_notify('lt_q_' || queue, '') FROM tasks WHERE id = $1::uuid";

/* The task's cost, locked, when it may be retried; 0 rows otherwise. */
static const char SQL_RETRY_COST[] = "SELECT cost FROM tasks WHERE id = $1::uuid AND tenant = $2\n"
                                     "   AND status::text IN ('failed', 'cancelled') FOR UPDATE";

/* Charges a retry like a create: active limit, then its cost. OK, QUOTA, ACTIVE, AGAIN
 * (api_charge.h), CONFLICT/NOT_FOUND (not retryable), or a failure. */
static enum lt_api_store_rc charge_retry(const struct lt_cfg *cfg, const char *tenant,
                                         const char *id, struct lt_api_charge *ch)
{
    const char *params[2] = {id, tenant};
    PGresult *res = lt_db_exec(conn, SQL_RETRY_COST, 2, params);
    int r;

    if (res == NULL) {
        return failed();
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        enum lt_api_store_rc rc = current_status(id, tenant);
        return rc == LT_API_STORE_OK ? LT_API_STORE_CONFLICT : rc;
    }
    long cost = atol(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (lt_api_charge_limits(conn, cfg, tenant, ch) < 0 ||
        (r = lt_api_charge_active(conn, tenant, 1, ch)) < 0) {
        return failed();
    }
    if (r != 1) {
        return r == 2 ? LT_API_STORE_AGAIN : LT_API_STORE_ACTIVE;
    }
    if ((r = lt_api_charge_units(conn, tenant, cost, ch)) < 0) {
        return failed();
    }
    return r == 2 ? LT_API_STORE_AGAIN : r == 0 ? LT_API_STORE_QUOTA : LT_API_STORE_OK;
}

enum lt_api_store_rc lt_api_store_retry(const struct lt_cfg *cfg, const char *tenant,
                                        const char *id, struct lt_api_task_view *out,
                                        struct lt_api_charge *ch)
{
    char window[24];
    const char *params[3] = {id, tenant, window};
    enum lt_api_store_rc rc;
    int r;

    memset(out, 0, sizeof(*out));
    memset(ch, 0, sizeof(*ch));
    if (db(cfg) == NULL) {
        return LT_API_STORE_DOWN;
    }
    do {
        if (lt_db_begin(conn) < 0) {
            return failed();
        }
        rc = charge_retry(cfg, tenant, id, ch);
    } while (rc == LT_API_STORE_AGAIN && finish(rc, out) == LT_API_STORE_AGAIN);
    if (rc != LT_API_STORE_OK) {
        return finish(rc, out);
    }
    snprintf(window, sizeof(window), "%" PRId64, ch->window_us);
    if ((r = changed(SQL_RETRY, 3, params)) < 0) {
        rc = failed();
    } else if (r == 0) {
        rc = LT_API_STORE_CONFLICT; /* locked above: cannot happen, but never a 500 */
    } else if (lt_db_run(conn, SQL_NOTIFY_TASK_QUEUE, 1, params) < 0) {
        rc = failed();
    } else {
        rc = read_view(tenant, id, out);
    }
    return finish(rc, out);
}

/* ---- list ---- */

static const char SQL_LIST[] =
    "SELECT lt_task_json(t, $9::boolean)::text,\n"
    "       (extract(epoch FROM t.created_at) * 1000000)::bigint, t.id::text\n"
    "  FROM tasks t\n"
    " WHERE ($1::text IS NULL OR t.tenant = $1)\n"
    "   AND ($2::task_status[] IS NULL OR t.status = ANY ($2::task_status[]))\n"
    "   AND ($3::text IS NULL OR t.type = $3)\n"
    "   AND ($4::text IS NULL OR t.queue = $4)\n"
    "   AND ($5::bigint IS NULL OR (t.created_at, t.id) <\n"
    "        ('epoch'::timestamptz + $5::bigint * interval '1 microsecond', $6::uuid))\n"
    "   AND ($7::bigint IS NULL\n"
    "        OR t.created_at > 'epoch'::timestamptz + $7::bigint * interval '1 microsecond')\n"
    "   AND ($8::bigint IS NULL\n"
    "        OR t.created_at < 'epoch'::timestamptz + $8::bigint * interval '1 microsecond')\n"
    " ORDER BY t.created_at DESC, t.id DESC\n"
    " LIMIT $10::int OFFSET $11::int";

/* A growing buffer for response bodies assembled from database text. */
struct buf {
    char *data;
    size_t len, cap;
};

static int put(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap == 0 ? 4096 : b->cap;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        char *d = realloc(b->data, cap);
        if (d == NULL) {
            return -1;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static int puts_buf(struct buf *b, const char *s)
{
    return put(b, s, strlen(s));
}

enum lt_api_store_rc lt_api_store_list(const struct lt_cfg *cfg, const char *tenant,
                                       const struct lt_api_list_query *q, char **body)
{
    char cursor_us[24], after[24], before[24], limit[16], offset[16];
    char cursor[LT_API_CURSOR_MAX];
    struct buf b = {0};
    enum lt_api_store_rc rc = LT_API_STORE_ERROR;
    int err = 0;

    *body = NULL;
    snprintf(cursor_us, sizeof(cursor_us), "%" PRId64, q->cursor_us);
    snprintf(after, sizeof(after), "%" PRId64, q->after_us);
    snprintf(before, sizeof(before), "%" PRId64, q->before_us);
    /* One row more than the page tells whether another page exists. */
    snprintf(limit, sizeof(limit), "%d", q->limit + 1);
    snprintf(offset, sizeof(offset), "%d", q->offset);
    const char *params[11] = {tenant,
                              q->statuses[0] != '\0' ? q->statuses : NULL,
                              q->type[0] != '\0' ? q->type : NULL,
                              q->queue[0] != '\0' ? q->queue : NULL,
                              q->has_cursor ? cursor_us : NULL,
                              q->has_cursor ? q->cursor_id : NULL,
                              q->has_after ? after : NULL,
                              q->has_before ? before : NULL,
                              q->full ? "true" : "false",
                              limit,
                              offset};

    if (db(cfg) == NULL) {
        return LT_API_STORE_DOWN;
    }
    PGresult *res = lt_db_exec(conn, SQL_LIST, 11, params);
    if (res == NULL) {
        return failed();
    }
    int rows = PQntuples(res);
    int shown = rows > q->limit ? q->limit : rows;
    err |= puts_buf(&b, "{\"tasks\": [");
    for (int i = 0; i < shown; i++) {
        err |= (i > 0 ? puts_buf(&b, ", ") : 0) | puts_buf(&b, PQgetvalue(res, i, 0));
    }
    err |= puts_buf(&b, "], \"next_cursor\": ");
    if (rows > q->limit) {
        lt_api_cursor_encode(strtoll(PQgetvalue(res, shown - 1, 1), NULL, 10),
                             PQgetvalue(res, shown - 1, 2), cursor);
        err |= puts_buf(&b, "\"") | puts_buf(&b, cursor) | puts_buf(&b, "\"}");
    } else {
        err |= puts_buf(&b, "null}");
    }
    PQclear(res);
    if (err == 0) {
        *body = b.data;
        b.data = NULL;
        rc = LT_API_STORE_OK;
    }
    free(b.data);
    return rc;
}

/* ---- events ---- */

static const char SQL_EVENTS[] =
    "SELECT json_build_object('events', coalesce((\n"
    "         SELECT json_agg(json_build_object('seq', e.seq, 'at', lt_ts(e.at),\n"
    "                  'kind', e.kind, 'progress', e.progress, 'message', e.message)\n"
    "                  ORDER BY e.seq)\n"
    "           FROM task_events e WHERE e.task_id = t.id), '[]'::json))::text\n"
    "  FROM tasks t WHERE t.id = $1::uuid AND t.tenant = $2";

/* Runs a statement whose one row and column is the response body. */
static enum lt_api_store_rc one_text(const char *sql, int nparams, const char *const *params,
                                     char **body)
{
    *body = NULL;
    PGresult *res = lt_db_exec(conn, sql, nparams, params);
    if (res == NULL) {
        return failed();
    }
    enum lt_api_store_rc rc = LT_API_STORE_NOT_FOUND;
    if (PQntuples(res) > 0) {
        *body = dup_value(res, 0, 0);
        rc = *body != NULL ? LT_API_STORE_OK : LT_API_STORE_ERROR;
    }
    PQclear(res);
    return rc;
}

enum lt_api_store_rc lt_api_store_events(const struct lt_cfg *cfg, const char *tenant,
                                         const char *id, char **body)
{
    const char *params[2] = {id, tenant};

    *body = NULL;
    if (db(cfg) == NULL) {
        return LT_API_STORE_DOWN;
    }
    return one_text(SQL_EVENTS, 2, params, body);
}

/* ---- stats ---- */

/* Counts cover every task in scope; by_type and the retries histogram cover the tasks
 * that finished (completed or failed) in the last 24 hours. Durations as for eta. */
static const char SQL_STATS[] =
    "WITH counts AS (\n"
    "  SELECT status, count(*) AS n FROM tasks\n"
    "   WHERE $1::text IS NULL OR tenant = $1 GROUP BY status),\n"
    "recent AS (\n"
    "  SELECT type, status,\n"
    "         greatest(attempt - 1, 0) AS retry_count,\n"
    "         CASE WHEN jsonb_typeof(metadata->'duration_ms') = 'number'\n"
    "              THEN (metadata->>'duration_ms')::float8\n"
    "              ELSE extract(epoch FROM completed_at - started_at)::float8 * 1000 END\n"
    "           AS duration_ms\n"
    "    FROM tasks\n"
    "   WHERE ($1::text IS NULL OR tenant = $1) AND status IN ('completed', 'failed')\n"
    "     AND completed_at > now() - interval '24 hours'),\n"
    "by_type AS (\n"
    "  SELECT type,\n"
    "         count(*) FILTER (WHERE status = 'completed') AS completed,\n"
    "         count(*) FILTER (WHERE status = 'failed') AS failed,\n"
    "         avg(duration_ms) FILTER (WHERE status = 'completed') AS avg_ms,\n"
    "         percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)\n"
    "           FILTER (WHERE status = 'completed') AS p95_ms\n"
    "    FROM recent GROUP BY type),\n"
    "retries AS (SELECT retry_count, count(*) AS n FROM recent GROUP BY retry_count)\n"
    "SELECT json_build_object(\n"
    "  'stats', (SELECT json_object_agg(s::text, coalesce(c.n, 0) ORDER BY s)\n"
    "              FROM unnest(enum_range(NULL::task_status)) AS s\n"
    "              LEFT JOIN counts c ON c.status = s),\n"
    "  'by_type', coalesce((SELECT json_agg(json_build_object(\n"
    "      'type', type, 'completed_24h', completed, 'failed_24h', failed,\n"
    "      'success_rate_24h', round(completed::numeric / nullif(completed + failed, 0), 3),\n"
    "      'avg_duration_ms_24h', round(avg_ms::numeric, 1),\n"
    "      'p95_duration_ms_24h', round(p95_ms::numeric)) ORDER BY type) FROM by_type),\n"
    "    '[]'::json),\n"
    "  'retries', coalesce((SELECT json_agg(json_build_object(\n"
    "      'retry_count', retry_count, 'tasks', n) ORDER BY retry_count) FROM retries),\n"
    "    '[]'::json))::text";

enum lt_api_store_rc lt_api_store_stats(const struct lt_cfg *cfg, const char *tenant, char **body)
{
    const char *params[1] = {tenant};

    *body = NULL;
    if (db(cfg) == NULL) {
        return LT_API_STORE_DOWN;
    }
    return one_text(SQL_STATS, 1, params, body);
}
