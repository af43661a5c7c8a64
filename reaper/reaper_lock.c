/*
 * reaper_lock.c -- see reaper_lock.h.
 */
#include "reaper_lock.h"

#include "db.h"
#include "log.h"

static const char sql_try[] = "SELECT pg_try_advisory_lock($1::bigint)";
static const char sql_wait[] = "SELECT pg_advisory_lock($1::bigint)";
static const char sql_release[] = "SELECT pg_advisory_unlock($1::bigint)";

int lt_rpr_lock_try(PGconn *conn, const char *key)
{
    const char *params[] = {key};
    PGresult *res = lt_db_exec(conn, sql_try, 1, params);
    int rc = -1;
    if (res == NULL) {
        goto out;
    }
    rc = PQgetvalue(res, 0, 0)[0] == 't' ? 1 : 0;
out:
    PQclear(res);
    return rc;
}

int lt_rpr_lock_wait(PGconn *conn, const char *key)
{
    const char *params[] = {key};
    return lt_db_run(conn, sql_wait, 1, params);
}

void lt_rpr_lock_release(PGconn *conn, const char *key)
{
    const char *params[] = {key};
    if (lt_db_alive(conn)) {
        (void)lt_db_run(conn, sql_release, 1, params);
    }
}
