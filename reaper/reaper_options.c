/*
 * reaper_options.c -- see reaper_options.h.
 */
#include "reaper_options.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define LOOP_MAX_S 86400

void lt_rpr_options_usage(FILE *out)
{
    fprintf(out, "usage: longtask-reaper [-c FILE] --migrate\n"
                 "       longtask-reaper [-c FILE] [--migrate] --once\n"
                 "       longtask-reaper [-c FILE] [--migrate] --loop SECONDS\n"
                 "\n"
                 "  -c, --config FILE  configuration (default: $LONGTASK_CONFIG, else built-in)\n"
                 "  --migrate          apply the missing schema migrations first\n"
                 "  --once             one run: rescue lapsed leases, expire old tasks, exit\n"
                 "  --loop SECONDS     a run every SECONDS until SIGTERM/SIGINT\n");
}

int lt_rpr_options_parse(struct lt_rpr_options *o, int argc, char **argv, FILE *err)
{
    enum { OPT_MIGRATE = 256, OPT_ONCE, OPT_LOOP };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"migrate", no_argument, NULL, OPT_MIGRATE},
        {"once", no_argument, NULL, OPT_ONCE},    {"loop", required_argument, NULL, OPT_LOOP},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    int c;

    memset(o, 0, sizeof(*o));
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case OPT_MIGRATE:
            o->migrate = 1;
            break;
        case OPT_ONCE:
            o->once = 1;
            break;
        case OPT_LOOP: {
            char *end = NULL;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || v < 1 || v > LOOP_MAX_S) {
                fprintf(err, "longtask-reaper: --loop wants 1..%d seconds, got '%s'\n", LOOP_MAX_S,
                        optarg);
                return -1;
            }
            o->loop_s = (int)v;
            break;
        }
        case ':':
            fprintf(err, "longtask-reaper: option '%s' needs a value\n", argv[optind - 1]);
            return -1;
        default:
            fprintf(err, "longtask-reaper: unknown option '%s'\n", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(err, "longtask-reaper: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (o->once && o->loop_s > 0) {
        fprintf(err, "longtask-reaper: --once and --loop exclude each other\n");
        return -1;
    }
    if (!o->migrate && !o->once && o->loop_s == 0) {
        fprintf(err, "longtask-reaper: say what to do: --migrate, --once or --loop\n");
        return -1;
    }
    return 0;
}
