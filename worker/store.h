/*
 * store.h -- the worker child's statements against PostgreSQL, except the outcome
 * writes (writer.h): session setup and prepared statements, LISTEN/UNLISTEN, the
 * workers row, the claim, the heartbeat and progress reports.
 *
 * Every call reports a lost connection through *lost (set to 1, never cleared), so the
 * child can tell "the database went away: reconnect and try again" from "this statement
 * failed". The hot statements are prepared once per connection (lt_wrk_store_prepare).
 */
#ifndef LT_WRK_STORE_H
#define LT_WRK_STORE_H

#include <libpq-fe.h>

/* Runs a prepared statement. Returns a new PGresult (COMMAND_OK or TUPLES_OK; caller
 * PQclears) or NULL (logged) with *lost set when the connection is gone. */
PGresult *lt_wrk_store_exec(PGconn *conn, const char *stmt, int nparams, const char *const *params,
                            int *lost);

/* One prepared statement of a pair (lt_wrk_store_exec_pair): its name and parameters,
 * and, after the pair succeeded, its result. */
struct lt_wrk_stmt {
    const char *name;
    int nparams;
    const char *const *params;
    PGresult *res;
};

/* Runs two prepared statements in one implicit transaction, sent together (libpq's
 * pipeline mode): one round trip and one commit for both. 0 when both succeeded and
 * committed (a->res and b->res set; caller PQclears), -1 when either failed or the commit
 * did (neither took effect; logged, results NULL). *lost is set when the connection is
 * gone or out of step (the caller then drops it); otherwise the connection is back in
 * ordinary mode. */
int lt_wrk_store_exec_pair(PGconn *conn, struct lt_wrk_stmt *a, struct lt_wrk_stmt *b, int *lost);

/* Prepares one statement on conn. 0 ok, -1 error (logged, *lost set as above). */
int lt_wrk_store_prepare_one(PGconn *conn, const char *name, const char *sql, int *lost);

/* Session setup for a new connection: statement timeout, then prepares the claim,
 * heartbeat and progress statements. 0 ok, -1 error. */
int lt_wrk_store_prepare(PGconn *conn, int statement_timeout_ms, int *lost);

/* LISTEN / UNLISTEN a channel, the name quoted with PQescapeIdentifier. 0 ok, -1 error. */
int lt_wrk_store_listen(PGconn *conn, const char *channel, int listen, int *lost);

/* Upserts the workers row (id host:pid), alive. 0 ok, -1 error. */
int lt_wrk_store_worker_up(PGconn *conn, const char *worker_id, const char *host, int pid,
                           int *lost);

/* Marks the workers row dead at a clean exit. 0 ok, -1 error. */
int lt_wrk_store_worker_dead(PGconn *conn, const char *worker_id, int *lost);

/* Claims up to limit ready tasks of the queues (a text[] literal), inserting their
 * `started` events. Columns: 0 id, 1 type, 2 payload, 3 attempt, 4 max_retries,
 * 5 timeout_s, 6 queue, 7 error (the previous attempt's, NULL when none); highest
 * priority first. NULL on error. */
PGresult *lt_wrk_store_claim(PGconn *conn, const char *queues, int limit, int lease_s,
                             const char *worker_id, int *lost);

/* The claim as a statement of a pair; its parameters live in args, which must outlive
 * the call. The result is as lt_wrk_store_claim's. */
struct lt_wrk_claim_args {
    char limit[16], lease[16];
    const char *params[4];
};
void lt_wrk_store_claim_stmt(struct lt_wrk_stmt *st, struct lt_wrk_claim_args *args,
                             const char *queues, int limit, int lease_s, const char *worker_id);

/* One UPDATE renewing the lease of every task in ids (a uuid[] literal) still running
 * under worker_id, also touching the workers row. Columns: 0 id, 1 cancel_requested.
 * NULL on error. */
PGresult *lt_wrk_store_heartbeat(PGconn *conn, const char *ids, const char *worker_id,
                                 const char *host, int pid, int lease_s, int *lost);

/* Records progress (and a `progress` event) for a running attempt; a report below the
 * stored progress changes nothing. 0 ok (also when nothing matched), -1 error. */
int lt_wrk_store_progress(PGconn *conn, const char *id, int attempt, int pct, const char *message,
                          int *lost);

/* Writes a running attempt's partial result (JSON text) and progress (never lowered),
 * with a `progress` event carrying message only when event is set. 0 ok (also when
 * nothing matched), -1 error. */
int lt_wrk_store_partial(PGconn *conn, const char *id, int attempt, const char *result, int pct,
                         int event, const char *message, int *lost);

#endif
