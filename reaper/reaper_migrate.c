/*
 * reaper_migrate.c -- see reaper_migrate.h.
 *
 * A migration file may hold many statements, which PQexecParams refuses, so its text
 * goes through PQexec (it is our own compiled-in SQL, never input). The version
 * check and the ledger row use parameters as everywhere else.
 */
#include "reaper_migrate.h"

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "migrations.h"
#include "reaper_lock.h"

static const char sql_ledger_exists[] = "SELECT to_regclass('schema_migrations') IS NOT NULL";
static const char sql_recorded[] = "SELECT 1 FROM schema_migrations WHERE version = $1";
static const char sql_record[] = "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)";

/* 1 when version is recorded, 0 when not, -1 on error. Runs inside the transaction. */
static int recorded(PGconn *conn, int version)
{
    char v[16];
    const char *params[] = {v};
    PGresult *res = lt_db_exec(conn, sql_ledger_exists, 0, NULL);
    int rc = -1;

    if (res == NULL) {
        goto out;
    }
    if (PQgetvalue(res, 0, 0)[0] != 't') {
        rc = 0;
        goto out;
    }
    PQclear(res);
    snprintf(v, sizeof(v), "%d", version);
    res = lt_db_exec(conn, sql_recorded, 1, params);
    if (res != NULL) {
        rc = PQntuples(res) > 0;
    }
out:
    PQclear(res);
    return rc;
}

static int run_script(PGconn *conn, const struct lt_migration *m)
{
    PGresult *res = PQexec(conn, m->sql);
    ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    int rc = 0;

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s",
                 res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(conn));
        msg[strcspn(msg, "\n")] = '\0';
        lt_log_error("migration_failed",
                     json_pack("{si ss}", "version", m->version, "name", m->name),
                     "migration %s failed: %s", m->name, msg);
        rc = -1;
    }
    PQclear(res);
    return rc;
}

/* 1 applied, 0 already there, -1 failed (rolled back). */
static int apply_one(PGconn *conn, const struct lt_migration *m)
{
    char v[16];
    const char *params[] = {v, m->name};
    int have;

    if (lt_db_begin(conn) < 0) {
        return -1;
    }
    have = recorded(conn, m->version);
    if (have != 0) {
        lt_db_rollback(conn);
        return have < 0 ? -1 : 0;
    }
    snprintf(v, sizeof(v), "%d", m->version);
    if (run_script(conn, m) < 0 || lt_db_run(conn, sql_record, 2, params) < 0 ||
        lt_db_commit(conn) < 0) {
        lt_db_rollback(conn);
        return -1;
    }
    lt_log_info("migration_applied", json_pack("{si ss}", "version", m->version, "name", m->name),
                "applied migration %s", m->name);
    return 1;
}

int lt_rpr_migrate(PGconn *conn)
{
    int applied = 0;
    int rc = -1;

    if (lt_rpr_lock_wait(conn, LT_RPR_LOCK_MIGRATE) < 0) {
        return -1;
    }
    for (int i = 0; i < lt_nmigrations; i++) {
        int r = apply_one(conn, &lt_migrations[i]);
        if (r < 0) {
            goto out;
        }
        applied += r;
    }
    int version = lt_db_schema_version(conn);
    if (version > lt_schema_version) {
        lt_log_warn("migrate_newer_schema",
                    json_pack("{si si}", "version", version, "known", lt_schema_version),
                    "the database is at schema version %d, newer than this binary's %d", version,
                    lt_schema_version);
    }
    if (applied == 0) {
        lt_log_info("migrate_done", json_pack("{si si}", "applied", 0, "version", version),
                    "schema already at version %d; nothing to apply", version);
    } else {
        lt_log_info("migrate_done", json_pack("{si si}", "applied", applied, "version", version),
                    "applied %d migration(s); schema at version %d", applied, version);
    }
    rc = applied;
out:
    lt_rpr_lock_release(conn, LT_RPR_LOCK_MIGRATE);
    return rc;
}
