/*
 * reaper_run.c -- see reaper_run.h.
 */
#include "reaper_run.h"

#include <stdio.h>

#include "clock.h"
#include "db.h"
#include "log.h"
#include "reaper_expire.h"
#include "reaper_lock.h"
#include "reaper_metrics.h"
#include "reaper_purge.h"
#include "reaper_rescue.h"
#include "reaper_summary.h"
#include "reaper_workers.h"

static const char sql_probe[] = "SELECT 1";
static const char sql_statement_timeout[] = "SELECT set_config('statement_timeout', $1, false)";

PGconn *lt_rpr_connect(const struct lt_cfg *cfg)
{
    char timeout[24];
    const char *params[] = {timeout};
    PGconn *conn = lt_db_connect(cfg->database_url, cfg->db_connect_timeout_s, "longtask-reaper");
    if (conn == NULL) {
        return NULL;
    }
    snprintf(timeout, sizeof(timeout), "%d", cfg->db_statement_timeout_ms);
    if (lt_db_run(conn, sql_statement_timeout, 1, params) < 0) {
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

int lt_rpr_run(const struct lt_cfg *cfg, PGconn **conn)
{
    struct lt_rpr_summary s = {0};
    int64_t start = lt_mono_ms();
    int64_t deadline = start + (int64_t)cfg->reaper_time_box_s * 1000;
    int locked = 0;

    /* A kept connection may have died since the last run (a database restart): probe
     * it, so an outage that is already over does not fail this run. */
    if (*conn != NULL && lt_db_run(*conn, sql_probe, 0, NULL) < 0) {
        PQfinish(*conn);
        *conn = NULL;
    }
    if (*conn == NULL || !lt_db_alive(*conn)) {
        PQfinish(*conn);
        if ((*conn = lt_rpr_connect(cfg)) == NULL) {
            lt_log_error("reaper_failed", NULL, "cannot connect to the database; nothing done");
            goto out;
        }
    }
    int got = lt_rpr_lock_try(*conn, LT_RPR_LOCK_RUN);
    if (got < 0) {
        goto out;
    }
    if (got == 0) {
        lt_log_info("reaper_skipped", json_pack("{ss}", "lock", LT_RPR_LOCK_RUN),
                    "another reaper run holds the lock; skipping this run");
        return 0;
    }
    locked = 1;
    if (lt_rpr_rescue(*conn, cfg->reaper_batch_size, deadline, &s) < 0 ||
        lt_rpr_expire(*conn, cfg, deadline, &s) < 0 || lt_rpr_workers(*conn, cfg, &s) < 0 ||
        lt_rpr_purge(*conn, cfg, deadline, &s) < 0) {
        goto out;
    }
    s.ok = 1;
out:
    if (locked) {
        lt_rpr_lock_release(*conn, LT_RPR_LOCK_RUN);
    }
    if (!s.ok && *conn != NULL && lt_db_last_was_connection(*conn)) {
        PQfinish(*conn);
        *conn = NULL;
    }
    s.duration_ms = lt_mono_ms() - start;
    lt_rpr_summary_log(&s);
    if (cfg->reaper_metrics_file != NULL && cfg->reaper_metrics_file[0] != '\0') {
        (void)lt_rpr_metrics_write(cfg->reaper_metrics_file, &s, lt_wall_ms());
    }
    return s.ok ? 0 : -1;
}
