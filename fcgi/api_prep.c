/*
 * api_prep.c -- see api_prep.h.
 */
#include "api_prep.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

static unsigned generation = 1;
static char last_sqlstate[6];

void lt_api_prep_reset(void)
{
    generation++;
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
    /* As common/db.c: class 08 and 57P01-57P03 mean the session is gone. */
    return conn == NULL || PQstatus(conn) != CONNECTION_OK ||
           strncmp(last_sqlstate, "08", 2) == 0 || strncmp(last_sqlstate, "57P0", 4) == 0;
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

PGresult *lt_api_prep_exec(PGconn *conn, struct lt_api_stmt *st, const char *const *params)
{
    PGresult *res;

    if (st->gen != generation) {
        res = PQprepare(conn, st->name, st->sql, st->nparams, NULL);
        if (!ok(res)) {
            note_failure(conn, res, st);
            PQclear(res);
            return NULL;
        }
        PQclear(res);
        st->gen = generation;
    }
    res = PQexecPrepared(conn, st->name, st->nparams, params, NULL, NULL, 0);
    if (!ok(res)) {
        note_failure(conn, res, st);
        PQclear(res);
        return NULL;
    }
    last_sqlstate[0] = '\0';
    return res;
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
