/*
 * db.h -- the thin layer over libpq the three programs share: connecting with a
 * timeout and an application_name, running parameterised statements with their
 * results checked, and telling "the database is gone" (reconnect, answer 503) from
 * "the statement failed" (a bug or a constraint).
 *
 * Every function logs what failed (never the parameters: they may hold payloads).
 */
#ifndef LT_DB_H
#define LT_DB_H

#include <libpq-fe.h>

/* Connects; NULL (logged) on failure. application_name is shown in pg_stat_activity. */
PGconn *lt_db_connect(const char *url, int connect_timeout_s, const char *application_name);

/* 1 when the connection is usable. */
int lt_db_alive(PGconn *conn);

/* Runs sql with text parameters. Returns a new PGresult (caller PQclears) whose status
 * is COMMAND_OK or TUPLES_OK, or NULL (logged, nothing to clear) on any error. */
PGresult *lt_db_exec(PGconn *conn, const char *sql, int nparams, const char *const *params);

/* Like lt_db_exec for statements that return no rows. 0 ok, -1 error. */
int lt_db_run(PGconn *conn, const char *sql, int nparams, const char *const *params);

/* The SQLSTATE of the last failed lt_db_exec/lt_db_run in this process ("" if none). */
const char *lt_db_last_sqlstate(void);

/* 1 when the last failure was a lost or refused connection (the caller should
 * reconnect, or answer 503), not an error in the statement. */
int lt_db_last_was_connection(PGconn *conn);

/* BEGIN / COMMIT / ROLLBACK. ROLLBACK never fails loudly (it may run on a dead link). */
int lt_db_begin(PGconn *conn);
int lt_db_commit(PGconn *conn);
void lt_db_rollback(PGconn *conn);

/* Highest migration version recorded in schema_migrations, 0 when the table is missing
 * or empty, -1 on error. */
int lt_db_schema_version(PGconn *conn);

#endif
