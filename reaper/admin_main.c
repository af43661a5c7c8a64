/*
 * admin_main.c -- longtask-admin: operator commands against the database, sharing the
 * configuration file of the other programs.
 *
 *   longtask-admin [-c FILE] quota set TENANT [--units N] [--max-active N] [--window S]
 *   longtask-admin [-c FILE] quota show TENANT
 *   longtask-admin [-c FILE] quota clear TENANT
 *
 * Results are one JSON line on stdout; logs go to stderr as everywhere.
 * Exit status: 0 done, 1 the database failed, 2 bad usage or configuration.
 */
#include <stdio.h>
#include <string.h>

#include "admin_quota.h"
#include "cfg.h"
#include "err.h"
#include "log.h"
#include "reaper_run.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: longtask-admin [-c FILE] quota set TENANT [--units N|default]\n"
            "                                    [--max-active N|default] [--window S|default]\n"
            "       longtask-admin [-c FILE] quota show TENANT\n"
            "       longtask-admin [-c FILE] quota clear TENANT\n"
            "\n"
            "  -c, --config FILE  configuration (default: $LONGTASK_CONFIG, else built-in)\n"
            "  units and max-active 0 mean unlimited; \"default\" returns to the configuration\n");
}

int main(int argc, char **argv)
{
    struct lt_adm_quota_cmd cmd;
    struct lt_cfg cfg;
    struct lt_err err;
    const char *config = NULL;
    int i = 1, rc = 1;

    lt_log_init("longtask-admin", LT_LOG_INFO);
    if (i + 1 < argc && (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0)) {
        config = argv[i + 1];
        i += 2;
    }
    if (i < argc && (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (i >= argc || strcmp(argv[i], "quota") != 0 ||
        lt_adm_quota_parse(argc - i - 1, argv + i + 1, &cmd, stderr) < 0) {
        usage(stderr);
        return 2;
    }
    if (lt_cfg_load(&cfg, lt_cfg_default_path(config), &err) < 0) {
        lt_log_error("config_invalid", NULL, "%s", err.msg);
        return 2;
    }
    lt_log_set_level((enum lt_log_level)cfg.log_level);
    PGconn *conn = lt_rpr_connect(&cfg);
    if (conn == NULL) {
        lt_log_error("admin_failed", NULL, "cannot connect to the database; nothing done");
        goto out;
    }
    rc = lt_adm_quota_run(conn, &cfg, &cmd, stdout) < 0 ? 1 : 0;
    PQfinish(conn);
out:
    lt_cfg_free(&cfg);
    return rc;
}
