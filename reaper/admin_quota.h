/*
 * admin_quota.h -- `longtask-admin quota ...`: per-tenant quota overrides in
 * tenant_quotas (NULL columns fall back to the configuration's quota defaults).
 *
 *   quota set TENANT [--units N|default] [--max-active N|default] [--window S|default]
 *       changes only the limits given ("default" clears that override; 0 units or
 *       0 max-active means unlimited); at least one is required
 *   quota show TENANT     the override, the effective limits, this window's use, the
 *                         live-task count, as one JSON line on stdout
 *   quota clear TENANT    removes the override (the tenant is back on the defaults)
 *
 * Parsing is pure (unit-tested); running needs the database.
 */
#ifndef LT_ADMIN_QUOTA_H
#define LT_ADMIN_QUOTA_H

#include <stdio.h>

#include <libpq-fe.h>

#include "cfg.h"

enum lt_adm_quota_action { LT_ADM_QUOTA_SET, LT_ADM_QUOTA_SHOW, LT_ADM_QUOTA_CLEAR };

struct lt_adm_limit {
    int given; /* named on the command line */
    int clear; /* "default": back to the configuration's value */
    long value;
};

struct lt_adm_quota_cmd {
    enum lt_adm_quota_action action;
    const char *tenant; /* borrowed from argv */
    struct lt_adm_limit units, max_active, window;
};

/* argv starts at the word after "quota". 0 ok, -1 bad usage (the reason written to err). */
int lt_adm_quota_parse(int argc, char **argv, struct lt_adm_quota_cmd *cmd, FILE *err);

/* Runs cmd; the result goes to out as one JSON line. 0 ok, -1 database error (logged). */
int lt_adm_quota_run(PGconn *conn, const struct lt_cfg *cfg, const struct lt_adm_quota_cmd *cmd,
                     FILE *out);

#endif
