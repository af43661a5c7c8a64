/*
 * main.c -- longtask-reaper: schema migrations and the periodic maintenance of the
 * task store (rescue of lost tasks, expiry of old ones, the workers table, the
 * metrics textfile). Run by cron or a systemd timer (--once), as a foreground
 * service (--loop SECONDS), or at deployment (--migrate).
 *
 * Exit status: 0 done (or skipped: another reaper run holds the lock), 1 the work
 * failed (database unreachable, a statement failed), 2 bad usage or configuration.
 */
#include <stdio.h>

#include "cfg.h"
#include "err.h"
#include "log.h"
#include "reaper_loop.h"
#include "reaper_migrate.h"
#include "reaper_options.h"
#include "reaper_run.h"

static int migrate(const struct lt_cfg *cfg)
{
    PGconn *conn = lt_rpr_connect(cfg);
    int rc = -1;
    if (conn == NULL) {
        lt_log_error("migrate_failed", NULL, "cannot connect to the database; nothing applied");
        return -1;
    }
    rc = lt_rpr_migrate(conn) < 0 ? -1 : 0;
    PQfinish(conn);
    return rc;
}

static int once(const struct lt_cfg *cfg)
{
    PGconn *conn = NULL;
    int rc = lt_rpr_run(cfg, &conn);
    PQfinish(conn);
    return rc;
}

int main(int argc, char **argv)
{
    struct lt_rpr_options opt;
    struct lt_cfg cfg;
    struct lt_err err;
    int rc = 1;

    lt_log_init("longtask-reaper", LT_LOG_INFO);
    if (lt_rpr_options_parse(&opt, argc, argv, stderr) < 0) {
        lt_rpr_options_usage(stderr);
        return 2;
    }
    if (lt_cfg_load(&cfg, lt_cfg_default_path(opt.config), &err) < 0) {
        lt_log_error("config_invalid", NULL, "%s", err.msg);
        return 2;
    }
    lt_log_set_level((enum lt_log_level)cfg.log_level);
    if (lt_rpr_loop_signals() < 0) {
        goto out;
    }
    if (opt.migrate && migrate(&cfg) < 0) {
        goto out;
    }
    if (opt.once && once(&cfg) < 0) {
        goto out;
    }
    if (opt.loop_s > 0 && lt_rpr_loop(&cfg, opt.loop_s) < 0) {
        goto out;
    }
    rc = 0;
out:
    lt_cfg_free(&cfg);
    return rc;
}
