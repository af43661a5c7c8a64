/*
 * reaper_options.h -- the command line of longtask-reaper:
 *
 *   longtask-reaper [-c FILE] --migrate
 *   longtask-reaper [-c FILE] [--migrate] --once
 *   longtask-reaper [-c FILE] [--migrate] --loop SECONDS
 *
 * --migrate alone migrates and exits; with --once or --loop it migrates first.
 */
#ifndef LT_REAPER_OPTIONS_H
#define LT_REAPER_OPTIONS_H

#include <stdio.h>

struct lt_rpr_options {
    const char *config; /* -c FILE, or NULL */
    int migrate;
    int once;
    int loop_s; /* > 0 with --loop */
};

/* Parses argv. 0 ok, -1 on bad usage (the reason is written to err). */
int lt_rpr_options_parse(struct lt_rpr_options *o, int argc, char **argv, FILE *err);

void lt_rpr_options_usage(FILE *out);

#endif
