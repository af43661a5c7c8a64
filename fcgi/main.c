/*
 * main.c -- longtask-api: the HTTP API behind nginx, as a prefork pool of FastCGI
 * processes on one unix socket.
 *
 *   longtask-api [-c FILE]
 *
 * Configuration from -c, else $LONGTASK_CONFIG, else the built-in defaults; the JWT
 * secret from LONGTASK_JWT_SECRET or auth.jwt_secret_file. Exit status: 0 after
 * SIGTERM/SIGINT, 1 when the socket cannot be opened or no child starts, 2 on a bad
 * command line or configuration.
 */
#include <fcgiapp.h>
#include <malloc.h>
#include <stdio.h>
#include <unistd.h>

#include "api_listen.h"
#include "api_pool.h"
#include "cfg.h"
#include "err.h"
#include "log.h"

static void usage(void)
{
    fprintf(stderr, "usage: longtask-api [-c FILE]\n");
}

/* A batch request allocates a few MiB (the body's JSON tree, the rows parameter, the
 * rendered 202) and frees it all at the end. With glibc's defaults the heap top above
 * 2x the largest freed mmap'd block went back to the kernel after every request and
 * blocks over that size were mmap'd afresh, so each request page-faulted its memory in
 * again: 12% of the API's CPU under batch creates, in the kernel. Kept instead: a
 * process's heap stays at the largest request it has served, which api.max_body_bytes
 * bounds. Measured on batch creates of 1,000 (2 connections, interleaved runs): the
 * API's share of the machine 0.24-0.28 -> 0.16-0.19, tasks/s up by a fifth. */
static void keep_heap(void)
{
    mallopt(M_MMAP_THRESHOLD, 8 << 20);
    mallopt(M_TRIM_THRESHOLD, 32 << 20);
}

int main(int argc, char **argv)
{
    struct lt_cfg cfg;
    struct lt_err err;
    const char *path = NULL;
    int opt, fd, rc;

    keep_heap();

    /* 1. Options. */
    while ((opt = getopt(argc, argv, "c:h")) != -1) {
        if (opt == 'c') {
            path = optarg;
        } else {
            usage();
            return opt == 'h' ? 0 : 2;
        }
    }
    if (optind != argc) {
        usage();
        return 2;
    }

    /* 2. Configuration: refuse to serve without a way to check tokens. */
    if (lt_cfg_load(&cfg, lt_cfg_default_path(path), &err) < 0) {
        fprintf(stderr, "longtask-api: %s\n", err.msg);
        return 2;
    }
    if (cfg.jwt_secret == NULL || cfg.jwt_secret[0] == '\0') {
        fprintf(stderr, "longtask-api: no JWT secret: set LONGTASK_JWT_SECRET or "
                        "auth.jwt_secret_file\n");
        lt_cfg_free(&cfg);
        return 2;
    }

    /* 3. Logs. */
    lt_log_init("longtask-api",
                cfg.log_level >= 0 ? (enum lt_log_level)cfg.log_level : LT_LOG_INFO);

    /* 4. The socket, once, before any fork. */
    if (FCGX_Init() != 0) {
        fprintf(stderr, "longtask-api: FCGX_Init failed\n");
        lt_cfg_free(&cfg);
        return 1;
    }
    if ((fd = lt_api_listen_open(&cfg, &err)) < 0) {
        lt_log_error("listen_failed", NULL, "%s", err.msg);
        lt_cfg_free(&cfg);
        return 1;
    }

    /* 5. The pool, until SIGTERM/SIGINT. */
    rc = lt_api_pool_run(&cfg, fd);

    /* 6. Clean up. */
    lt_api_listen_close(&cfg, fd);
    lt_log_info("api_stopped", NULL, "stopped");
    lt_cfg_free(&cfg);
    return rc == 0 ? 0 : 1;
}
