/*
 * reaper_migrate.h -- `longtask-reaper --migrate`: brings the database to the schema
 * this binary was built with (common/migrations.h, generated from sql/).
 *
 * Each migration runs in its own transaction together with the INSERT of its
 * schema_migrations row, so a migration is either applied and recorded or neither;
 * recorded versions are skipped, so a second run applies nothing (and says so).
 * Migration 000 creates the ledger itself. Concurrent migrators serialise on the
 * LT_RPR_LOCK_MIGRATE advisory lock and the later one finds nothing to do.
 */
#ifndef LT_REAPER_MIGRATE_H
#define LT_REAPER_MIGRATE_H

#include <libpq-fe.h>

/* Applies what is missing. Returns the number applied (>= 0) or -1 (logged). */
int lt_rpr_migrate(PGconn *conn);

#endif
