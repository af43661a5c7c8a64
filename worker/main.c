/*
 * main.c -- longtask-worker: runs tasks. A master process keeps worker.processes
 * children alive; each child runs one event loop that claims tasks from PostgreSQL
 * and runs them through their handlers (worker/child.c).
 *
 *   longtask-worker [-c FILE]
 *
 * Exit codes: 0 after a clean stop (SIGTERM/SIGINT), 1 on a failure to start,
 * 2 on a bad configuration.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "master.h"

static void usage(void)
{
    fprintf(stderr, "usage: longtask-worker [-c FILE]\n");
}

int main(int argc, char **argv)
{
    const char *given = NULL;
    struct lt_cfg cfg;
    struct lt_err err;
    int opt, rc;

    /* 1. options */
    while ((opt = getopt(argc, argv, "c:h")) != -1) {
        if (opt == 'c') {
            given = optarg;
        } else {
            usage();
            return opt == 'h' ? 0 : 2;
        }
    }
    if (optind != argc) {
        usage();
        return 2;
    }

    /* 2. logs, then the configuration */
    lt_log_init("longtask-worker", LT_LOG_INFO);
    if (lt_cfg_load(&cfg, lt_cfg_default_path(given), &err) < 0) {
        lt_log_error("config_invalid", NULL, "%s", err.msg);
        return 2;
    }
    lt_log_set_level((enum lt_log_level)cfg.log_level);

    /* 3. the master and its children (each child returns here too, with its code) */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        lt_log_error("curl_init_failed", NULL, "curl_global_init failed");
        lt_cfg_free(&cfg);
        return 1;
    }
    rc = lt_wrk_master_run(&cfg);

    /* 4. clean up */
    curl_global_cleanup();
    lt_cfg_free(&cfg);
    return rc;
}
