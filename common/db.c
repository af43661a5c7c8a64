/*
 * db.c -- see db.h.
 */
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static char last_sqlstate[6];

PGconn *lt_db_connect(const char *url, int connect_timeout_s, const char *application_name)
{
    char timeout[16];
    snprintf(timeout, sizeof(timeout), "%d", connect_timeout_s);
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {url, timeout, application_name, NULL};
    /* expand_dbname = 1: the URL's own settings win over nothing, ours fill the gaps;
     * a later key overrides an earlier one, so the URL is first. */
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (conn == NULL) {
        lt_log_error("db_connect_failed", NULL, "out of memory");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
        msg[strcspn(msg, "\n")] = '\0';
        lt_log_warn("db_connect_failed", NULL, "cannot connect to PostgreSQL: %s", msg);
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

int lt_db_alive(PGconn *conn)
{
    return conn != NULL && PQstatus(conn) == CONNECTION_OK;
}

static void note_failure(PGconn *conn, PGresult *res, const char *sql)
{
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char msg[512];
    char head[80];

    snprintf(last_sqlstate, sizeof(last_sqlstate), "%s", state != NULL ? state : "");
    snprintf(msg, sizeof(msg), "%s",
             res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(conn));
    msg[strcspn(msg, "\n")] = '\0';
    /* The statement's first words identify it without logging parameters. */
    snprintf(head, sizeof(head), "%s", sql);
    head[strcspn(head, "\n")] = '\0';
    lt_log(lt_db_last_was_connection(conn) ? LT_LOG_WARN : LT_LOG_ERROR, "db_error",
           json_pack("{ss ss}", "sqlstate", last_sqlstate, "statement", head), "%s", msg);
}

PGresult *lt_db_exec(PGconn *conn, const char *sql, int nparams, const char *const *params)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        last_sqlstate[0] = '\0';
        return res;
    }
    note_failure(conn, res, sql);
    PQclear(res);
    return NULL;
}

int lt_db_run(PGconn *conn, const char *sql, int nparams, const char *const *params)
{
    PGresult *res = lt_db_exec(conn, sql, nparams, params);
    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    return 0;
}

const char *lt_db_last_sqlstate(void)
{
    return last_sqlstate;
}

int lt_db_last_was_connection(PGconn *conn)
{
    /* Class 08 is connection exception; 57P01-57P03 are shutdown/cannot-connect-now. */
    return PQstatus(conn) != CONNECTION_OK || strncmp(last_sqlstate, "08", 2) == 0 ||
           strncmp(last_sqlstate, "57P0", 4) == 0;
}

int lt_db_begin(PGconn *conn)
{
    return lt_db_run(conn, "BEGIN", 0, NULL);
}

int lt_db_commit(PGconn *conn)
{
    return lt_db_run(conn, "COMMIT", 0, NULL);
}

void lt_db_rollback(PGconn *conn)
{
    PGresult *res = PQexec(conn, "ROLLBACK");
    PQclear(res);
}

int lt_db_schema_version(PGconn *conn)
{
    PGresult *res =
        lt_db_exec(conn, "SELECT to_regclass('schema_migrations') IS NOT NULL", 0, NULL);
    int v = -1;
    if (res == NULL) {
        return -1;
    }
    int exists = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (!exists) {
        return 0;
    }
    res = lt_db_exec(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL);
    if (res != NULL) {
        v = atoi(PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    return v;
}
