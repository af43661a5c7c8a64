/*
 * writer.c -- see writer.h. The statements are here, each with the transition it makes.
 *
 * Terminal writes clear lease_until (nothing to renew) but keep worker_id, so a finished
 * task still says who ran it; retry and hand-back clear both, the task being nobody's
 * until the next claim. metadata gains duration_ms and worker on terminal writes, and
 * retry_exhausted only when it is true.
 *
 * Every write is guarded by `status::text = 'running'`, not `status = 'running'`: the
 * plain comparison implies the predicates of the partial indexes that cover running rows,
 * and on statistics taken while nothing ran (a quiet table, then a burst) the planner
 * takes tasks_tenant_active_idx -- which holds the whole backlog -- for a one-row scan and
 * walks it instead of probing the primary key. The cast matches no index, so the primary
 * key is the only way in (test_claim_plan.py checks every statement, custom and generic).
 */
#include "writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store.h"

static const char sql_completed[] =
    "WITH t AS ("
    "  UPDATE tasks SET status = 'completed', result = $3::jsonb, progress = 100,"
    "    completed_at = now(), error = NULL, lease_until = NULL,"
    "    metadata = metadata || jsonb_build_object('duration_ms', $4::bigint, 'worker', $5::text),"
    "    version = version + 1, updated_at = now(), event_seq = event_seq + 1"
    "  WHERE id = $1 AND attempt = $2::int AND status::text = 'running'"
    "  RETURNING id, event_seq"
    ")"
    " INSERT INTO task_events (task_id, seq, kind, progress, message)"
    " SELECT id, event_seq, 'completed', 100, NULL FROM t";

/* Every completion a child collected in one loop turn, in one statement: at high rates
 * the commit, not the work, is what a completion costs, so one commit for many tasks is
 * what lets a drain approach what PostgreSQL can write. $1 is a JSON array of
 * {id, attempt, result, duration_ms}; the same conditions as sql_completed hold per row,
 * and the ids written come back (a missing id was rescued or cancelled meanwhile). */
static const char sql_completed_batch[] =
    "WITH f AS ("
    "  SELECT * FROM jsonb_to_recordset($1::jsonb)"
    "    AS f(id uuid, attempt int, result jsonb, duration_ms bigint)"
    "), t AS ("
    "  UPDATE tasks SET status = 'completed', result = f.result, progress = 100,"
    "    completed_at = now(), error = NULL, lease_until = NULL,"
    "    metadata = tasks.metadata || jsonb_build_object('duration_ms', f.duration_ms,"
    "                                                   'worker', $2::text),"
    "    version = tasks.version + 1, updated_at = now(), event_seq = tasks.event_seq + 1"
    "  FROM f"
    "  WHERE tasks.id = f.id AND tasks.attempt = f.attempt AND tasks.status::text = 'running'"
    "  RETURNING tasks.id, tasks.event_seq"
    "), e AS ("
    "  INSERT INTO task_events (task_id, seq, kind, progress, message)"
    "  SELECT id, event_seq, 'completed', 100, NULL FROM t"
    ")"
    " SELECT id::text FROM t";

/* The most completions written by one statement. */
#define COMPLETED_BATCH_MAX 500

static const char sql_retry[] =
    "WITH t AS ("
    "  UPDATE tasks SET status = 'retry', run_at = now() + $3::bigint * interval '1 millisecond',"
    "    error = $4, lease_until = NULL, worker_id = NULL,"
    "    version = version + 1, updated_at = now(), event_seq = event_seq + 1"
    "  WHERE id = $1 AND attempt = $2::int AND status::text = 'running'"
    "  RETURNING id, event_seq, progress"
    ")"
    " INSERT INTO task_events (task_id, seq, kind, progress, message)"
    " SELECT id, event_seq, 'retry', progress, $5 FROM t";

static const char sql_failed[] =
    "WITH t AS ("
    "  UPDATE tasks SET status = 'failed', error = $3, completed_at = now(), lease_until = NULL,"
    "    metadata = metadata || jsonb_build_object('duration_ms', $4::bigint, 'worker', $5::text)"
    "      || CASE WHEN $6::boolean THEN '{\"retry_exhausted\": true}'::jsonb"
    "              ELSE '{}'::jsonb END,"
    "    version = version + 1, updated_at = now(), event_seq = event_seq + 1"
    "  WHERE id = $1 AND attempt = $2::int AND status::text = 'running'"
    "  RETURNING id, event_seq, progress"
    ")"
    " INSERT INTO task_events (task_id, seq, kind, progress, message)"
    " SELECT id, event_seq, 'failed', progress, $3 FROM t";

static const char sql_cancelled[] =
    "WITH t AS ("
    "  UPDATE tasks SET status = 'cancelled', error = 'cancelled', completed_at = now(),"
    "    lease_until = NULL,"
    "    metadata = metadata || jsonb_build_object('duration_ms', $3::bigint, 'worker', $4::text),"
    "    version = version + 1, updated_at = now(), event_seq = event_seq + 1"
    "  WHERE id = $1 AND attempt = $2::int AND status::text = 'running'"
    "  RETURNING id, event_seq, progress"
    ")"
    " INSERT INTO task_events (task_id, seq, kind, progress, message)"
    " SELECT id, event_seq, 'cancelled', progress, 'cancelled while running' FROM t";

/* The attempt is given back uncharged: the task runs again at once on another child. */
static const char sql_handback[] =
    "WITH t AS ("
    "  UPDATE tasks SET status = 'retry', attempt = attempt - 1, run_at = now(),"
    "    lease_until = NULL, worker_id = NULL,"
    "    version = version + 1, updated_at = now(), event_seq = event_seq + 1"
    "  WHERE id = $1 AND attempt = $2::int AND status::text = 'running'"
    "  RETURNING id, event_seq, progress"
    ")"
    " INSERT INTO task_events (task_id, seq, kind, progress, message)"
    " SELECT id, event_seq, 'retry', progress, 'handed back at shutdown' FROM t";

void lt_wrk_writer_init(struct lt_wrk_writer *w, const char *worker_id)
{
    memset(w, 0, sizeof(*w));
    w->worker_id = worker_id;
}

int lt_wrk_writer_prepare(PGconn *conn, int *lost)
{
    if (lt_wrk_store_prepare_one(conn, "lt_completed", sql_completed, lost) < 0 ||
        lt_wrk_store_prepare_one(conn, "lt_completed_batch", sql_completed_batch, lost) < 0 ||
        lt_wrk_store_prepare_one(conn, "lt_retry", sql_retry, lost) < 0 ||
        lt_wrk_store_prepare_one(conn, "lt_failed", sql_failed, lost) < 0 ||
        lt_wrk_store_prepare_one(conn, "lt_cancelled", sql_cancelled, lost) < 0 ||
        lt_wrk_store_prepare_one(conn, "lt_handback", sql_handback, lost) < 0) {
        return -1;
    }
    return 0;
}

struct lt_wrk_write *lt_wrk_write_new(enum lt_wrk_write_kind kind, const char *id, const char *type,
                                      int attempt, int64_t duration_ms)
{
    struct lt_wrk_write *wr = calloc(1, sizeof(*wr));
    if (wr == NULL) {
        return NULL;
    }
    wr->kind = kind;
    snprintf(wr->id, sizeof(wr->id), "%s", id);
    snprintf(wr->type, sizeof(wr->type), "%s", type);
    wr->attempt = attempt;
    wr->duration_ms = duration_ms;
    return wr;
}

static void write_free(struct lt_wrk_write *wr)
{
    json_decref(wr->result);
    free(wr->error);
    free(wr);
}

void lt_wrk_writer_push(struct lt_wrk_writer *w, struct lt_wrk_write *wr)
{
    wr->next = NULL;
    if (w->tail != NULL) {
        w->tail->next = wr;
    } else {
        w->head = wr;
    }
    w->tail = wr;
    w->pending++;
}

static const char *const kind_events[] = {"task_completed", "task_retry", "task_failed",
                                          "task_cancelled", "task_handed_back"};

static void log_written(const struct lt_wrk_write *wr)
{
    json_t *f = json_pack("{ss ss si sI}", "task_id", wr->id, "type", wr->type, "attempt",
                          wr->attempt, "duration_ms", (json_int_t)wr->duration_ms);
    const char *err = wr->error != NULL ? wr->error : "failed";
    switch (wr->kind) {
    case LT_WRK_WRITE_COMPLETED:
        lt_log_info("task_completed", f, "completed");
        break;
    case LT_WRK_WRITE_RETRY:
        json_object_set_new(f, "delay_ms", json_integer(wr->delay_ms));
        json_object_set_new(f, "error", json_string(err));
        lt_log_info("task_retry", f, "retry in %.1f s: %s", (double)wr->delay_ms / 1000.0, err);
        break;
    case LT_WRK_WRITE_FAILED:
        json_object_set_new(f, "error", json_string(err));
        json_object_set_new(f, "retry_exhausted", json_boolean(wr->exhausted));
        lt_log_info("task_failed", f, "failed: %s", err);
        break;
    case LT_WRK_WRITE_CANCELLED:
        lt_log_info("task_cancelled", f, "cancelled while running");
        break;
    case LT_WRK_WRITE_HANDBACK:
        lt_log_info("task_handed_back", f, "handed back at shutdown");
        break;
    }
}

/* One write. 1 written, 0 nothing matched (the attempt is no longer ours), -1 failed. */
static int write_one(const struct lt_wrk_writer *w, PGconn *conn, const struct lt_wrk_write *wr,
                     int *lost)
{
    char attempt[16], dur[24], delay[24], msg[600];
    char *result = NULL;
    const char *err = wr->error != NULL ? wr->error : "failed";
    PGresult *res = NULL;
    int rc = -1;

    snprintf(attempt, sizeof(attempt), "%d", wr->attempt);
    snprintf(dur, sizeof(dur), "%lld", (long long)wr->duration_ms);
    switch (wr->kind) {
    case LT_WRK_WRITE_COMPLETED: {
        result = wr->result != NULL ? json_dumps(wr->result, JSON_COMPACT | JSON_ENCODE_ANY)
                                    : strdup("{}");
        if (result == NULL) {
            goto out;
        }
        const char *p[] = {wr->id, attempt, result, dur, w->worker_id};
        res = lt_wrk_store_exec(conn, "lt_completed", 5, p, lost);
        break;
    }
    case LT_WRK_WRITE_RETRY: {
        snprintf(delay, sizeof(delay), "%lld", (long long)wr->delay_ms);
        snprintf(msg, sizeof(msg), "%s; retry in %.1f s", err, (double)wr->delay_ms / 1000.0);
        const char *p[] = {wr->id, attempt, delay, err, msg};
        res = lt_wrk_store_exec(conn, "lt_retry", 5, p, lost);
        break;
    }
    case LT_WRK_WRITE_FAILED: {
        const char *p[] = {wr->id, attempt, err, dur, w->worker_id, wr->exhausted ? "t" : "f"};
        res = lt_wrk_store_exec(conn, "lt_failed", 6, p, lost);
        break;
    }
    case LT_WRK_WRITE_CANCELLED: {
        const char *p[] = {wr->id, attempt, dur, w->worker_id};
        res = lt_wrk_store_exec(conn, "lt_cancelled", 4, p, lost);
        break;
    }
    case LT_WRK_WRITE_HANDBACK: {
        const char *p[] = {wr->id, attempt};
        res = lt_wrk_store_exec(conn, "lt_handback", 2, p, lost);
        break;
    }
    }
    if (res != NULL) {
        rc = atoi(PQcmdTuples(res)) > 0 ? 1 : 0;
    }
out:
    if (result == NULL && wr->kind == LT_WRK_WRITE_COMPLETED) {
        lt_log_error(
            "task_write_failed",
            json_pack("{ss ss si}", "task_id", wr->id, "type", wr->type, "attempt", wr->attempt),
            "cannot serialise the result");
    }
    free(result);
    PQclear(res);
    return rc;
}

static void note_written(const struct lt_wrk_write *wr, int rc)
{
    if (rc > 0) {
        log_written(wr);
        return;
    }
    lt_log_warn(rc == 0 ? "task_outcome_dropped" : "task_write_failed",
                json_pack("{ss ss si ss}", "task_id", wr->id, "type", wr->type, "attempt",
                          wr->attempt, "outcome", kind_events[wr->kind] + 5),
                rc == 0 ? "the attempt is no longer running here (rescued, cancelled "
                          "or finished elsewhere); outcome not written"
                        : "outcome not written; the lease will lapse and the reaper "
                          "will put the task back");
}

static void pop_head(struct lt_wrk_writer *w)
{
    struct lt_wrk_write *wr = w->head;
    w->head = wr->next;
    if (w->head == NULL) {
        w->tail = NULL;
    }
    w->pending--;
    write_free(wr);
}

int lt_wrk_writer_batch(struct lt_wrk_writer *w, struct lt_wrk_stmt *st)
{
    json_t *rows = json_array();
    int n = 0;

    free(w->batch_text);
    w->batch_text = NULL;
    for (struct lt_wrk_write *wr = w->head;
         rows != NULL && wr != NULL && wr->kind == LT_WRK_WRITE_COMPLETED &&
         n < COMPLETED_BATCH_MAX;
         wr = wr->next, n++) {
        json_t *row = json_pack("{ss si so sI}", "id", wr->id, "attempt", wr->attempt, "result",
                                wr->result != NULL ? json_incref(wr->result) : json_object(),
                                "duration_ms", (json_int_t)wr->duration_ms);
        if (row == NULL || json_array_append_new(rows, row) < 0) {
            n = 0;
            break;
        }
    }
    if (n > 0 && (w->batch_text = json_dumps(rows, JSON_COMPACT)) == NULL) {
        n = 0;
    }
    json_decref(rows);
    w->batch_params[0] = w->batch_text;
    w->batch_params[1] = w->worker_id;
    st->name = "lt_completed_batch";
    st->nparams = 2;
    st->params = w->batch_params;
    st->res = NULL;
    return n;
}

void lt_wrk_writer_settle(struct lt_wrk_writer *w, int n, const PGresult *res)
{
    for (int i = 0; res != NULL && i < n && w->head != NULL; i++) {
        const struct lt_wrk_write *wr = w->head;
        int written = 0;
        for (int r = 0; r < PQntuples(res) && !written; r++) {
            written = strcmp(PQgetvalue(res, r, 0), wr->id) == 0;
        }
        note_written(wr, written);
        pop_head(w);
    }
    free(w->batch_text);
    w->batch_text = NULL;
}

/* The run of completions at the head of the queue in one statement. Returns how many
 * writes it settled (written or dropped), 0 when it covers one write or could not be
 * built (the caller writes the head alone), -1 when the statement failed. */
static int write_completed_batch(struct lt_wrk_writer *w, PGconn *conn, int *lost)
{
    struct lt_wrk_stmt st;
    int n = lt_wrk_writer_batch(w, &st);
    if (n < 2) {
        lt_wrk_writer_settle(w, 0, NULL);
        return 0; /* a lone completion takes the plain statement */
    }
    PGresult *res = lt_wrk_store_exec(conn, st.name, st.nparams, st.params, lost);
    int rc = res != NULL ? n : -1;
    lt_wrk_writer_settle(w, n, res);
    PQclear(res);
    return rc;
}

int lt_wrk_writer_flush(struct lt_wrk_writer *w, PGconn *conn, int *lost)
{
    while (w->head != NULL && conn != NULL) {
        if (w->head->kind == LT_WRK_WRITE_COMPLETED) {
            int settled = write_completed_batch(w, conn, lost);
            if (settled < 0 && *lost) {
                break; /* kept for the flush after the reconnect */
            }
            if (settled > 0) {
                continue;
            }
            /* 0: one completion, or the batch could not be built: write it alone below.
             * A batch statement that failed for another reason falls back the same way,
             * so one bad row cannot hold up the others. */
        }
        int rc = write_one(w, conn, w->head, lost);
        if (rc < 0 && *lost) {
            break;
        }
        note_written(w->head, rc);
        pop_head(w);
    }
    return w->pending;
}

void lt_wrk_writer_clear(struct lt_wrk_writer *w)
{
    free(w->batch_text);
    w->batch_text = NULL;
    while (w->head != NULL) {
        struct lt_wrk_write *wr = w->head;
        w->head = wr->next;
        lt_log_error("task_write_abandoned",
                     json_pack("{ss ss si ss}", "task_id", wr->id, "type", wr->type, "attempt",
                               wr->attempt, "outcome", kind_events[wr->kind] + 5),
                     "outcome never written (database unreachable at exit); the reaper will "
                     "rescue the task when its lease lapses");
        write_free(wr);
    }
    w->tail = NULL;
    w->pending = 0;
}
