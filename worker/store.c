/*
 * store.c -- see store.h. The statements are here, each next to its function.
 *
 * The claim is the CTE + FOR UPDATE SKIP LOCKED shape of DESIGN.md: the inner SELECT
 * walks tasks_claim_idx in its own order (queue, priority DESC, run_at, id) and locks
 * only rows no other child holds, so children never wait on each other. The claim, the
 * attempt increment and the `started` events are one statement: there is no moment when
 * a task is running without its history saying so.
 *
 * The status guards are `status::text = 'running'` for the reason given in writer.c.
 *
 * The heartbeat deliberately leaves version and updated_at alone: lease_until and
 * heartbeat_at are not part of the task object, so the representation (and its ETag)
 * has not changed, and a poller must not see a new ETag every few seconds.
 */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static int is_connection_loss(PGconn *conn, const PGresult *res)
{
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (PQstatus(conn) != CONNECTION_OK) {
        return 1;
    }
    /* Class 08: connection exception; 57P01..57P03: shutting down, cannot connect now. */
    return state != NULL && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P0", 4) == 0);
}

static void note_failure(PGconn *conn, const PGresult *res, const char *what, int *lost)
{
    char msg[512];
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    int gone = is_connection_loss(conn, res);
    snprintf(msg, sizeof(msg), "%s",
             res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(conn));
    msg[strcspn(msg, "\n")] = '\0';
    lt_log(gone ? LT_LOG_WARN : LT_LOG_ERROR, "db_error",
           json_pack("{ss ss}", "sqlstate", state != NULL ? state : "", "statement", what), "%s",
           msg);
    if (gone) {
        *lost = 1;
    }
}

PGresult *lt_wrk_store_exec(PGconn *conn, const char *stmt, int nparams, const char *const *params,
                            int *lost)
{
    PGresult *res = PQexecPrepared(conn, stmt, nparams, params, NULL, NULL, 0);
    ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        return res;
    }
    note_failure(conn, res, stmt, lost);
    PQclear(res);
    return NULL;
}

/* The pair's results: each statement's first result (the rest of a statement's results
 * are dropped), then the Sync's. Anything but two good results and the Sync is failure:
 * an error in either statement aborts the implicit transaction, and a failed commit is
 * reported as one more error before the Sync. */
static int read_pair(PGconn *conn, struct lt_wrk_stmt **st, int *lost)
{
    int ok = 1, nulls = 0;
    for (int i = 0; i < 2; i++) {
        PGresult *r;
        while ((r = PQgetResult(conn)) != NULL) {
            ExecStatusType s = PQresultStatus(r);
            if (st[i]->res == NULL && (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)) {
                st[i]->res = r;
                continue;
            }
            if (s == PGRES_FATAL_ERROR) {
                note_failure(conn, r, st[i]->name, lost);
            }
            ok = 0;
            PQclear(r);
        }
        if (st[i]->res == NULL) {
            ok = 0;
        }
        if (PQstatus(conn) != CONNECTION_OK) {
            *lost = 1;
            return -1;
        }
    }
    for (;;) {
        PGresult *r = PQgetResult(conn);
        if (r == NULL) {
            if (PQstatus(conn) != CONNECTION_OK || ++nulls > 2) {
                note_failure(conn, NULL, "pipeline sync", lost);
                *lost = 1; /* out of step with the server: start afresh */
                return -1;
            }
            continue;
        }
        ExecStatusType s = PQresultStatus(r);
        if (s == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            return ok ? 0 : -1;
        }
        if (s == PGRES_FATAL_ERROR) {
            note_failure(conn, r, "commit", lost);
        }
        ok = 0;
        PQclear(r);
    }
}

int lt_wrk_store_exec_pair(PGconn *conn, struct lt_wrk_stmt *a, struct lt_wrk_stmt *b, int *lost)
{
    struct lt_wrk_stmt *st[2] = {a, b};
    int rc = -1;
    a->res = b->res = NULL;
    if (PQenterPipelineMode(conn) != 1) {
        note_failure(conn, NULL, "pipeline", lost);
        return -1; /* still in ordinary mode */
    }
    if (PQsendQueryPrepared(conn, a->name, a->nparams, a->params, NULL, NULL, 0) != 1 ||
        PQsendQueryPrepared(conn, b->name, b->nparams, b->params, NULL, NULL, 0) != 1 ||
        PQpipelineSync(conn) != 1) {
        note_failure(conn, NULL, "pipeline send", lost);
        *lost = 1; /* cannot leave pipeline mode with a half-sent pair: start afresh */
        return -1;
    }
    rc = read_pair(conn, st, lost);
    if (!*lost && PQexitPipelineMode(conn) != 1) {
        note_failure(conn, NULL, "pipeline exit", lost);
        *lost = 1;
        rc = -1;
    }
    if (rc < 0) {
        for (int i = 0; i < 2; i++) {
            PQclear(st[i]->res);
            st[i]->res = NULL;
        }
    }
    return rc;
}

int lt_wrk_store_prepare_one(PGconn *conn, const char *name, const char *sql, int *lost)
{
    PGresult *res = PQprepare(conn, name, sql, 0, NULL);
    int ok = res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok) {
        note_failure(conn, res, name, lost);
    }
    PQclear(res);
    return ok ? 0 : -1;
}

/* Runs an unprepared statement (session setup, LISTEN). */
static int run_plain(PGconn *conn, const char *what, const char *sql, int nparams,
                     const char *const *params, int *lost)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok) {
        note_failure(conn, res, what, lost);
    }
    PQclear(res);
    return ok ? 0 : -1;
}

/* The claim walks tasks_claim_idx in ORDER BY order, one queue at a time: with
 * `queue = ANY($1)` the planner cannot read the index in (priority, run_at, id) order
 * across several queues and sorts every ready row instead, which is what turns a burst
 * onto a table analysed while nearly empty into a scan per claim. Each LATERAL probe is
 * an equality on the index's first column followed by the index order, so a claim reads
 * about as many index entries as it takes rows. Priorities order tasks within a queue
 * (API.md), so taking queues in turn loses nothing; the child rotates the array between
 * claims so no queue starves another. The UPDATE finds the chosen rows by
 * `id = ANY (ARRAY (...))`, a primary-key probe per id in every plan; as a join with the
 * CTE, the generic plan (estimated without the LIMIT's value) hashed a scan of tasks. */
static const char sql_claim[] =
    "WITH c AS ("
    "  SELECT r.id FROM unnest($1::text[]) AS q(name),"
    "  LATERAL (SELECT id FROM tasks"
    "    WHERE status IN ('pending', 'retry') AND queue = q.name AND run_at <= now()"
    "    ORDER BY priority DESC, run_at, id"
    "    LIMIT $2 FOR UPDATE SKIP LOCKED) r"
    "  LIMIT $2"
    "), u AS ("
    "  UPDATE tasks t SET status = 'running', attempt = t.attempt + 1, started_at = now(),"
    "    lease_until = now() + make_interval(secs => $3::int), heartbeat_at = now(),"
    "    worker_id = $4, progress = 0, progress_message = NULL,"
    "    version = t.version + 1, updated_at = now(), event_seq = t.event_seq + 1"
    "  WHERE t.id = ANY (ARRAY (SELECT id FROM c))"
    "  RETURNING t.id, t.type, t.payload, t.attempt, t.max_retries, t.timeout_s, t.queue,"
    "    t.priority, t.run_at, t.event_seq, t.error"
    "), e AS ("
    "  INSERT INTO task_events (task_id, seq, kind, progress, message)"
    "  SELECT id, event_seq, 'started', 0, 'attempt ' || attempt FROM u"
    ")"
    " SELECT id, type, payload, attempt, max_retries, timeout_s, queue, error FROM u"
    " ORDER BY priority DESC, run_at, id";

static const char sql_heartbeat[] =
    "WITH w AS ("
    "  INSERT INTO workers (id, host, pid) VALUES ($2, $3, $4::int)"
    "  ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), dead = false"
    "), h AS ("
    "  UPDATE tasks SET lease_until = now() + make_interval(secs => $5::int),"
    "    heartbeat_at = now()"
    "  WHERE id = ANY($1::uuid[]) AND status::text = 'running' AND worker_id = $2"
    "  RETURNING id, cancel_requested"
    ")"
    " SELECT id, cancel_requested FROM h";

static const char sql_progress[] =
    "WITH t AS ("
    "  UPDATE tasks SET progress = $3::smallint, progress_message = $4,"
    "    version = version + 1, updated_at = now(), event_seq = event_seq + 1"
    "  WHERE id = $1 AND attempt = $2::int AND status::text = 'running'"
    "    AND progress <= $3::smallint"
    "  RETURNING id, event_seq"
    ")"
    " INSERT INTO task_events (task_id, seq, kind, progress, message)"
    " SELECT id, event_seq, 'progress', $3::smallint, $4 FROM t";

/* A streaming handler's partial result: the result and progress in place, one row
 * version, and an event only when the handler says the progress moved enough ($5), so a
 * reply streamed over minutes does not write hundreds of history rows. */
static const char sql_partial[] =
    "WITH t AS ("
    "  UPDATE tasks SET result = $3::jsonb, progress = GREATEST(progress, $4::smallint),"
    "    version = version + 1, updated_at = now(),"
    "    event_seq = event_seq + CASE WHEN $5::boolean THEN 1 ELSE 0 END"
    "  WHERE id = $1 AND attempt = $2::int AND status::text = 'running'"
    "  RETURNING id, event_seq, progress"
    ")"
    " INSERT INTO task_events (task_id, seq, kind, progress, message)"
    " SELECT id, event_seq, 'progress', progress, $6 FROM t WHERE $5::boolean";

int lt_wrk_store_prepare(PGconn *conn, int statement_timeout_ms, int *lost)
{
    char timeout[24];
    snprintf(timeout, sizeof(timeout), "%d", statement_timeout_ms);
    const char *p[] = {timeout};
    if (run_plain(conn, "set statement_timeout",
                  "SELECT set_config('statement_timeout', $1, false)", 1, p, lost) < 0) {
        return -1;
    }
    /* Statistics of a queue table lie after a burst: analysed while nearly empty, the
     * table looks as if it held no ready row, and the planner then prefers any small
     * partial index plus a sort of "one" row to the claim index's ordered walk, or a
     * sequential scan of a table it thinks is tiny; both really read every row per
     * statement. Every statement of the worker finds its rows through an index (the
     * claim walks tasks_claim_idx, the rest probe the primary key), so with sorts and
     * sequential scans priced out those plans are the only cheap ones left, whatever
     * the statistics say. That also makes the generic plans of the prepared statements
     * safe, and the session runs nothing else (force_generic_plan: left to itself,
     * PostgreSQL keeps re-planning the claim, whose generic plan looks dearer without
     * the LIMIT's value). Planning a statement on tasks opens and sizes all nine of its
     * indexes; re-planning each claim and completion was 30% of PostgreSQL's CPU in a
     * drain. Checked, custom and generic, by tests/integration/test_claim_plan.py. */
    if (run_plain(conn, "set enable_sort", "SELECT set_config('enable_sort', 'off', false)", 0,
                  NULL, lost) < 0 ||
        run_plain(conn, "set plan_cache_mode",
                  "SELECT set_config('plan_cache_mode', 'force_generic_plan', false)", 0, NULL,
                  lost) < 0 ||
        run_plain(conn, "set enable_seqscan", "SELECT set_config('enable_seqscan', 'off', false)",
                  0, NULL, lost) < 0) {
        return -1;
    }
    /* The claim still sorts its few returned rows, and a disabled plan type adds 1e10 to
     * a plan's estimated cost: far over jit_above_cost, so PostgreSQL would JIT-compile
     * the claim on every run (hundreds of ms for a claim that reads 32 index entries).
     * The worker's statements are all short: JIT never pays for itself here. */
    if (run_plain(conn, "set jit", "SELECT set_config('jit', 'off', false)", 0, NULL, lost) < 0) {
        return -1;
    }
    if (lt_wrk_store_prepare_one(conn, "lt_claim", sql_claim, lost) < 0 ||
        lt_wrk_store_prepare_one(conn, "lt_heartbeat", sql_heartbeat, lost) < 0 ||
        lt_wrk_store_prepare_one(conn, "lt_progress", sql_progress, lost) < 0 ||
        lt_wrk_store_prepare_one(conn, "lt_partial", sql_partial, lost) < 0) {
        return -1;
    }
    return 0;
}

int lt_wrk_store_listen(PGconn *conn, const char *channel, int listen, int *lost)
{
    char sql[160];
    char *quoted = PQescapeIdentifier(conn, channel, strlen(channel));
    int rc = -1;
    if (quoted == NULL) {
        note_failure(conn, NULL, listen ? "LISTEN" : "UNLISTEN", lost);
        return -1;
    }
    snprintf(sql, sizeof(sql), "%s %s", listen ? "LISTEN" : "UNLISTEN", quoted);
    rc = run_plain(conn, listen ? "LISTEN" : "UNLISTEN", sql, 0, NULL, lost);
    PQfreemem(quoted);
    return rc;
}

int lt_wrk_store_worker_up(PGconn *conn, const char *worker_id, const char *host, int pid,
                           int *lost)
{
    char spid[16];
    snprintf(spid, sizeof(spid), "%d", pid);
    const char *p[] = {worker_id, host, spid};
    return run_plain(conn, "workers upsert",
                     "INSERT INTO workers (id, host, pid) VALUES ($1, $2, $3::int)"
                     " ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), dead = false",
                     3, p, lost);
}

int lt_wrk_store_worker_dead(PGconn *conn, const char *worker_id, int *lost)
{
    const char *p[] = {worker_id};
    return run_plain(conn, "workers dead",
                     "UPDATE workers SET dead = true, heartbeat_at = now() WHERE id = $1", 1, p,
                     lost);
}

void lt_wrk_store_claim_stmt(struct lt_wrk_stmt *st, struct lt_wrk_claim_args *args,
                             const char *queues, int limit, int lease_s, const char *worker_id)
{
    snprintf(args->limit, sizeof(args->limit), "%d", limit);
    snprintf(args->lease, sizeof(args->lease), "%d", lease_s);
    args->params[0] = queues;
    args->params[1] = args->limit;
    args->params[2] = args->lease;
    args->params[3] = worker_id;
    st->name = "lt_claim";
    st->nparams = 4;
    st->params = args->params;
    st->res = NULL;
}

PGresult *lt_wrk_store_claim(PGconn *conn, const char *queues, int limit, int lease_s,
                             const char *worker_id, int *lost)
{
    struct lt_wrk_stmt st;
    struct lt_wrk_claim_args args;
    lt_wrk_store_claim_stmt(&st, &args, queues, limit, lease_s, worker_id);
    return lt_wrk_store_exec(conn, st.name, st.nparams, st.params, lost);
}

PGresult *lt_wrk_store_heartbeat(PGconn *conn, const char *ids, const char *worker_id,
                                 const char *host, int pid, int lease_s, int *lost)
{
    char spid[16], slease[16];
    snprintf(spid, sizeof(spid), "%d", pid);
    snprintf(slease, sizeof(slease), "%d", lease_s);
    const char *p[] = {ids, worker_id, host, spid, slease};
    return lt_wrk_store_exec(conn, "lt_heartbeat", 5, p, lost);
}

int lt_wrk_store_progress(PGconn *conn, const char *id, int attempt, int pct, const char *message,
                          int *lost)
{
    char sattempt[16], spct[8];
    snprintf(sattempt, sizeof(sattempt), "%d", attempt);
    snprintf(spct, sizeof(spct), "%d", pct);
    const char *p[] = {id, sattempt, spct, message};
    PGresult *res = lt_wrk_store_exec(conn, "lt_progress", 4, p, lost);
    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    return 0;
}

int lt_wrk_store_partial(PGconn *conn, const char *id, int attempt, const char *result, int pct,
                         int event, const char *message, int *lost)
{
    char sattempt[16], spct[8];
    snprintf(sattempt, sizeof(sattempt), "%d", attempt);
    snprintf(spct, sizeof(spct), "%d", pct);
    const char *p[] = {id, sattempt, result, spct, event ? "t" : "f", message};
    PGresult *res = lt_wrk_store_exec(conn, "lt_partial", 6, p, lost);
    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    return 0;
}
