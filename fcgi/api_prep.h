/*
 * api_prep.h -- the API's hot statements as prepared statements, prepared once per
 * database connection.
 *
 * A statement is a static `struct lt_api_stmt` next to the function that runs it (its
 * SQL a named constant, as everywhere). The first run on a connection sends PQprepare
 * and PQexecPrepared after it; later runs skip parsing and planning. The connection
 * owner (api_store.c) calls lt_api_prep_reset() whenever it opens a new connection, so
 * every statement is prepared again on it: a server-side prepared statement lives and
 * dies with its session.
 *
 * Failures are logged like common/db.c's (statement head and SQLSTATE, never the
 * parameters); lt_api_prep_last_sqlstate() and lt_api_prep_last_was_connection() tell
 * the caller what the last failure of a prepared statement was.
 *
 * Statements run here must not name `*` columns: a plan cached across a migration that
 * adds a column would fail with "cached plan must not change result type".
 */
#ifndef LT_API_PREP_H
#define LT_API_PREP_H

#include <libpq-fe.h>

struct lt_api_stmt {
    const char *name; /* unique per process, the server-side name */
    const char *sql;
    int nparams;
    unsigned gen; /* the connection generation it was prepared on; 0 never */
};

/* A new connection: every statement is prepared again on its next run. */
void lt_api_prep_reset(void);

/* Runs st with text parameters, preparing it first when this connection has not.
 * Returns a new PGresult (COMMAND_OK or TUPLES_OK; caller PQclears) or NULL (logged). */
PGresult *lt_api_prep_exec(PGconn *conn, struct lt_api_stmt *st, const char *const *params);

/* As lt_api_prep_exec, and `then` sent with it in the same write (libpq pipeline
 * mode), each statement its own implicit transaction: `then` starts on the server as
 * soon as st has committed (or failed), without a round trip to this process between
 * them. Returns st's result as lt_api_prep_exec does; a failure of `then` is logged
 * only. A session that fails on the way is left in pipeline mode, which
 * lt_api_prep_last_was_connection() reports as lost. */
PGresult *lt_api_prep_exec_then(PGconn *conn, struct lt_api_stmt *st, const char *const *params,
                                struct lt_api_stmt *then, const char *const *then_params);

/* As lt_api_prep_exec for statements whose rows are not needed. 0 ok, -1 error. */
int lt_api_prep_run(PGconn *conn, struct lt_api_stmt *st, const char *const *params);

/* The SQLSTATE of the last failure here ("" after a success). */
const char *lt_api_prep_last_sqlstate(void);

/* 1 when the last failure here was a lost connection or a server shutting down. */
int lt_api_prep_last_was_connection(PGconn *conn);

#endif
