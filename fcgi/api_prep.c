/*
 * api_prep.c -- see api_prep.h.
 */
#include "api_prep.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

static unsigned generation = 1;
static char last_sqlstate[6];
static int out_of_step; /* this session's protocol state is not what was expected */

void lt_api_prep_reset(void)
{
    generation++;
    out_of_step = 0;
    if (generation == 0) {
        generation = 1; /* 0 means "never prepared" */
    }
}

const char *lt_api_prep_last_sqlstate(void)
{
    return last_sqlstate;
}

int lt_api_prep_last_was_connection(PGconn *conn)
{
    /* As common/db.c: class 08 and 57P01-57P03 mean the session is gone. A session left
     * out of step with the server (left in pipeline mode, say) is as good as gone. */
    return conn == NULL || PQstatus(conn) != CONNECTION_OK || out_of_step ||
           PQpipelineStatus(conn) != PQ_PIPELINE_OFF || strncmp(last_sqlstate, "08", 2) == 0 ||
           strncmp(last_sqlstate, "57P0", 4) == 0;
}

/* Records and logs a failure; res may be NULL (then the connection's message). */
static void note_failure(PGconn *conn, PGresult *res, const struct lt_api_stmt *st)
{
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char msg[512], head[80];

    snprintf(last_sqlstate, sizeof(last_sqlstate), "%s", state != NULL ? state : "");
    snprintf(msg, sizeof(msg), "%s",
             res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(conn));
    msg[strcspn(msg, "\n")] = '\0';
    snprintf(head, sizeof(head), "%s", st->sql);
    head[strcspn(head, "\n")] = '\0';
    lt_log(
        lt_api_prep_last_was_connection(conn) ? LT_LOG_WARN : LT_LOG_ERROR, "db_error",
        json_pack("{ss ss ss}", "sqlstate", last_sqlstate, "statement", head, "prepared", st->name),
        "%s", msg);
}

static int ok(PGresult *res)
{
    ExecStatusType s = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

/* Prepares st on this connection unless it is already. 0, or -1 (logged). */
static int prepare(PGconn *conn, struct lt_api_stmt *st)
{
    if (st->gen == generation) {
        return 0;
    }
    PGresult *res = PQprepare(conn, st->name, st->sql, st->nparams, NULL);
    if (!ok(res)) {
        note_failure(conn, res, st);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    st->gen = generation;
    return 0;
}

/* st's result handed to the caller: itself when good, else NULL (logged, cleared). */
static PGresult *checked(PGconn *conn, PGresult *res, const struct lt_api_stmt *st)
{
    if (!ok(res)) {
        note_failure(conn, res, st);
        PQclear(res);
        return NULL;
    }
    last_sqlstate[0] = '\0';
    return res;
}

PGresult *lt_api_prep_exec(PGconn *conn, struct lt_api_stmt *st, const char *const *params)
{
    if (prepare(conn, st) < 0) {
        return NULL;
    }
    return checked(conn, PQexecPrepared(conn, st->name, st->nparams, params, NULL, NULL, 0), st);
}

/* One pipelined statement's results up to its Sync. Returns its first result, or the
 * error that came after it (a failed implicit commit is one more error before the
 * Sync); NULL with *broken set when the Sync never came (a lost connection, or
 * results out of step with what was sent). */
static PGresult *read_to_sync(PGconn *conn, int *broken)
{
    PGresult *keep = NULL, *r;
    int nulls = 0;

    for (;;) {
        if ((r = PQgetResult(conn)) == NULL) {
            /* One NULL ends the statement's results, one more a failed commit's. */
            if (PQstatus(conn) != CONNECTION_OK || ++nulls > 2) {
                *broken = 1;
                PQclear(keep);
                return NULL;
            }
            continue;
        }
        ExecStatusType s = PQresultStatus(r);
        if (s == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            return keep;
        }
        if (keep == NULL || (ok(keep) && s == PGRES_FATAL_ERROR)) {
            PQclear(keep);
            keep = r;
        } else {
            PQclear(r);
        }
    }
}

PGresult *lt_api_prep_exec_then(PGconn *conn, struct lt_api_stmt *st, const char *const *params,
                                struct lt_api_stmt *then, const char *const *then_params)
{
    int broken = 0;

    if (prepare(conn, st) < 0 || prepare(conn, then) < 0) {
        return NULL;
    }
    if (PQenterPipelineMode(conn) != 1) { /* only refused when the session is busy */
        out_of_step = 1;
        note_failure(conn, NULL, st);
        return NULL;
    }
    /* A failure from here on leaves the session in pipeline mode, which
     * lt_api_prep_last_was_connection() counts as lost: the owner opens a new one. */
    if (PQsendQueryPrepared(conn, st->name, st->nparams, params, NULL, NULL, 0) != 1 ||
        PQpipelineSync(conn) != 1 ||
        PQsendQueryPrepared(conn, then->name, then->nparams, then_params, NULL, NULL, 0) != 1 ||
        PQpipelineSync(conn) != 1) {
        note_failure(conn, NULL, st);
        return NULL;
    }
    PGresult *res = read_to_sync(conn, &broken);
    PGresult *after = broken ? NULL : read_to_sync(conn, &broken);
    if (broken || PQexitPipelineMode(conn) != 1) {
        note_failure(conn, NULL, st);
        PQclear(res);
        PQclear(after);
        return NULL;
    }
    if (!ok(after)) {
        note_failure(conn, after, then); /* logged; st's outcome stands */
    }
    PQclear(after);
    return checked(conn, res, st);
}

int lt_api_prep_run(PGconn *conn, struct lt_api_stmt *st, const char *const *params)
{
    PGresult *res = lt_api_prep_exec(conn, st, params);
    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    return 0;
}
