/*
 * reaper_lock.h -- the advisory locks that keep reaper work single-file across hosts.
 *
 * Two fixed keys, documented for operators (a psql session can hold either to pause
 * the reaper, e.g. during maintenance):
 *   LT_RPR_LOCK_RUN     = 7814997033146672498 ("ltreaper" as 8 ASCII bytes):
 *                         held for one reaper run; a run that cannot take it at once
 *                         logs reaper_skipped and does nothing (cron overlap is harmless).
 *   LT_RPR_LOCK_MIGRATE = 7814991552869196148 ("ltmigrat"): held while migrating;
 *                         concurrent migrators wait for it, then find nothing to do.
 * Both are session-level locks: they vanish with the connection, so a killed reaper
 * never leaves one behind.
 */
#ifndef LT_REAPER_LOCK_H
#define LT_REAPER_LOCK_H

#include <libpq-fe.h>

#define LT_RPR_LOCK_RUN "7814997033146672498"
#define LT_RPR_LOCK_MIGRATE "7814991552869196148"

/* pg_try_advisory_lock(key): 1 taken, 0 held by another session, -1 error (logged). */
int lt_rpr_lock_try(PGconn *conn, const char *key);

/* pg_advisory_lock(key), waiting as long as it takes. 0 ok, -1 error (logged). */
int lt_rpr_lock_wait(PGconn *conn, const char *key);

/* pg_advisory_unlock(key). Errors are logged and otherwise ignored: the lock goes
 * with the session anyway. */
void lt_rpr_lock_release(PGconn *conn, const char *key);

#endif
