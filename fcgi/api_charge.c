/*
 * api_charge.c -- see api_charge.h.
 */
#include "api_charge.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_prep.h"
#include "db.h"

/* NULL columns keep the configuration's defaults. */
static struct lt_api_stmt st_limits = {
    "lt_quota_limits",
    "SELECT units_per_window, max_active, window_s FROM tenant_quotas WHERE tenant = $1", 1, 0};

/* The fast path of the active limit (sql/003_hot_paths.sql): the bound grows by n when
 * it stays within the limit. No row back = recount. */
static struct lt_api_stmt st_active_take = {
    "lt_active_take",
    "UPDATE quota_active SET bound = bound + $2::int\n"
    " WHERE tenant = $1 AND bound + $2::int <= $3::int RETURNING bound",
    3, 0};

/* No limit: the bound still grows, so that it is an upper bound again the moment a
 * limit is configured. No row: nothing to keep up (the first limited create counts). */
static struct lt_api_stmt st_active_grow = {
    "lt_active_grow", "UPDATE quota_active SET bound = bound + $2::int WHERE tenant = $1", 2, 0};

/* The recount holds the tenant's row (created when missing) so that no create of the
 * tenant moves between the count and the write-back; the count then runs in a fresh
 * statement, whose snapshot includes the commit of every create that held it before. */
static struct lt_api_stmt st_active_hold = {
    "lt_active_hold",
    "INSERT INTO quota_active (tenant, bound) VALUES ($1, 0)\n"
    "ON CONFLICT (tenant) DO UPDATE SET bound = quota_active.bound",
    1, 0};

/* Walks tasks_tenant_active_idx, and no further than the limit needs. */
static struct lt_api_stmt st_active_count = {
    "lt_active_count",
    "SELECT count(*) FROM (SELECT 1 FROM tasks\n"
    "                       WHERE tenant = $1 AND status IN ('pending', 'running', 'retry')\n"
    "                       LIMIT $2::int) s",
    2, 0};

static struct lt_api_stmt st_active_set = {
    "lt_active_set", "UPDATE quota_active SET bound = $2::bigint WHERE tenant = $1", 2, 0};

/* A new row is only inserted when the cost alone fits; an existing one only grows when
 * the sum fits. No row back = over budget. */
static struct lt_api_stmt st_charge = {
    "lt_quota_charge",
    "INSERT INTO quota_usage AS q (tenant, window_start, units)\n"
    "SELECT $1, lt_quota_window_start($2::int), $3::bigint\n"
    " WHERE $4::bigint = 0 OR $3::bigint <= $4::bigint\n"
    "ON CONFLICT (tenant, window_start) DO UPDATE SET units = q.units + EXCLUDED.units\n"
    " WHERE $4::bigint = 0 OR q.units + EXCLUDED.units <= $4::bigint\n"
    "RETURNING q.units, (extract(epoch FROM q.window_start) * 1000000)::bigint,\n"
    "          ceil(extract(epoch FROM q.window_start + $2::int * interval '1 second'\n"
    "                                  - now()))::int",
    4, 0};

static const char SQL_USAGE[] =
    "SELECT coalesce((SELECT units FROM quota_usage\n"
    "                  WHERE tenant = $1 AND window_start = w.s), 0),\n"
    "       (extract(epoch FROM w.s) * 1000000)::bigint,\n"
    "       ceil(extract(epoch FROM w.s + $2::int * interval '1 second' - now()))::int,\n"
    "       (SELECT count(*) FROM tasks\n"
    "         WHERE tenant = $1 AND status IN ('pending', 'running', 'retry')),\n"
    "       lt_ts(w.s + $2::int * interval '1 second')\n"
    "  FROM (SELECT lt_quota_window_start($2::int) AS s) w";

int lt_api_charge_limits(PGconn *conn, const struct lt_cfg *cfg, const char *tenant,
                         struct lt_api_charge *ch)
{
    const char *params[1] = {tenant};

    memset(ch, 0, sizeof(*ch));
    ch->lim.units = cfg->quota_units_per_window;
    ch->lim.window_s = cfg->quota_window_s;
    ch->lim.max_active = cfg->quota_max_active;
    PGresult *res = lt_api_prep_exec(conn, &st_limits, params);
    if (res == NULL) {
        return -1;
    }
    if (PQntuples(res) > 0) {
        if (!PQgetisnull(res, 0, 0)) {
            ch->lim.units = atol(PQgetvalue(res, 0, 0));
        }
        if (!PQgetisnull(res, 0, 1)) {
            ch->lim.max_active = atoi(PQgetvalue(res, 0, 1));
        }
        if (!PQgetisnull(res, 0, 2)) {
            ch->lim.window_s = atoi(PQgetvalue(res, 0, 2));
        }
    }
    PQclear(res);
    return 0;
}

int lt_api_charge_active(PGconn *conn, const char *tenant, int n, struct lt_api_charge *ch)
{
    char count[16], limit[16], bound[24];
    const char *params[3] = {tenant, count, limit};
    int r = -1;

    snprintf(count, sizeof(count), "%d", n);
    if (ch->lim.max_active <= 0) {
        return lt_api_prep_run(conn, &st_active_grow, params) < 0 ? -1 : 1;
    }
    snprintf(limit, sizeof(limit), "%d", ch->lim.max_active);
    PGresult *res = lt_api_prep_exec(conn, &st_active_take, params);
    if (res == NULL) {
        return -1;
    }
    if (PQntuples(res) == 1) {
        /* Admitted on the bound; the exact count is not known (and not needed). */
        PQclear(res);
        return 1;
    }
    PQclear(res);
    /* The bound says no: count for real, holding the tenant's row. */
    const char *count_params[2] = {tenant, limit};
    if (lt_api_prep_run(conn, &st_active_hold, params) < 0 ||
        (res = lt_api_prep_exec(conn, &st_active_count, count_params)) == NULL) {
        return -1;
    }
    ch->active = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    r = (long)ch->active + n <= (long)ch->lim.max_active;
    snprintf(bound, sizeof(bound), "%ld", (long)ch->active + (r ? n : 0));
    const char *set_params[2] = {tenant, bound};
    return lt_api_prep_run(conn, &st_active_set, set_params) < 0 ? -1 : r;
}

int lt_api_charge_units(PGconn *conn, const char *tenant, long cost, struct lt_api_charge *ch)
{
    char window[16], units[24], limit[24];
    const char *params[4] = {tenant, window, units, limit};

    snprintf(window, sizeof(window), "%d", ch->lim.window_s);
    snprintf(units, sizeof(units), "%ld", cost);
    snprintf(limit, sizeof(limit), "%ld", ch->lim.units);
    PGresult *res = lt_api_prep_exec(conn, &st_charge, params);
    if (res == NULL) {
        return -1;
    }
    if (PQntuples(res) == 1) {
        ch->used = atol(PQgetvalue(res, 0, 0));
        ch->window_us = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        ch->reset_s = atoi(PQgetvalue(res, 0, 2));
        PQclear(res);
        return 1;
    }
    PQclear(res);
    ch->needed = cost;
    int active = ch->active;
    int rc = lt_api_charge_read(conn, tenant, ch);
    ch->active = active; /* the count of the check, not the unbounded one */
    return rc < 0 ? -1 : 0;
}

int lt_api_charge_read(PGconn *conn, const char *tenant, struct lt_api_charge *ch)
{
    char window[16];
    const char *params[2] = {tenant, window};

    snprintf(window, sizeof(window), "%d", ch->lim.window_s);
    PGresult *res = lt_db_exec(conn, SQL_USAGE, 2, params);
    if (res == NULL) {
        return -1;
    }
    ch->used = atol(PQgetvalue(res, 0, 0));
    ch->window_us = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    ch->reset_s = atoi(PQgetvalue(res, 0, 2));
    ch->active = atoi(PQgetvalue(res, 0, 3));
    snprintf(ch->resets_at, sizeof(ch->resets_at), "%s", PQgetvalue(res, 0, 4));
    PQclear(res);
    return 0;
}
