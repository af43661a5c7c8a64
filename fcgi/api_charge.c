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

/* The stripe of this process: its slot in the prefork pool (sql/004_quota_stripes.sql). */
static char stripe[8] = "0";

void lt_api_charge_set_stripe(int slot)
{
    snprintf(stripe, sizeof(stripe), "%d", slot < 0 ? 0 : slot % 32768);
}

const char *lt_api_charge_stripe(void)
{
    return stripe;
}

/* ---- the active-task limit ---- */

/* The fast path: n more fit within this stripe's share of the limit it was cut from.
 * No row back = the slow path. */
static struct lt_api_stmt st_active_take = {
    "lt_active_take",
    "UPDATE quota_active SET bound = bound + $2::int\n"
    " WHERE tenant = $1 AND stripe = $4::smallint AND lim = $3::bigint\n"
    "   AND bound + $2::int <= cap RETURNING bound",
    4, 0};

/* No limit: shares cut from an older limit are void, so that the first create under a
 * limit again decides on a recount. Matches no row (and writes nothing) once done. */
static struct lt_api_stmt st_active_free = {
    "lt_active_free", "UPDATE quota_active SET lim = 0 WHERE tenant = $1 AND lim <> 0", 1, 0};

/* The slow path holds the tenant (one slow path at a time; new stripe rows are only made
 * here) and every stripe row, so that no create of the tenant moves between the count
 * and the write-back; the count then runs in a fresh statement, whose snapshot includes
 * the commit of every create that held a row before. */
static struct lt_api_stmt st_active_hold = {
    "lt_active_hold", "SELECT 1 FROM quota_active WHERE tenant = $1 FOR UPDATE", 1, 0};

/* Its own statement: joined to the rows, an empty join could skip it. */
static struct lt_api_stmt st_active_lock = {
    "lt_active_lock", "SELECT pg_advisory_xact_lock(1819566945, hashtext($1))", 1, 0};

/* Walks tasks_tenant_active_idx, and no further than the limit needs. */
static struct lt_api_stmt st_active_count = {
    "lt_active_count",
    "SELECT count(*) FROM (SELECT 1 FROM tasks\n"
    "                       WHERE tenant = $1 AND status IN ('pending', 'running', 'retry')\n"
    "                       LIMIT $2::int) s",
    2, 0};

static struct lt_api_stmt st_active_own = {"lt_active_own",
                                           "INSERT INTO quota_active (tenant, stripe, bound, cap, "
                                           "lim) VALUES ($1, $2::smallint, 0, 0, -1)\n"
                                           "ON CONFLICT (tenant, stripe) DO NOTHING",
                                           2, 0};

/* The exact count $3 goes to this stripe, 0 to the others; the room left under the limit
 * $4 is shared out equally (the remainder to this stripe). */
static struct lt_api_stmt st_active_share = {
    "lt_active_share",
    "UPDATE quota_active q\n"
    "   SET bound = CASE WHEN q.stripe = $2::smallint THEN $3::bigint ELSE 0 END,\n"
    "       cap = CASE WHEN q.stripe = $2::smallint THEN $3::bigint + a.room % a.n ELSE 0 END\n"
    "             + a.room / a.n,\n"
    "       lim = $4::bigint\n"
    "  FROM (SELECT count(*) AS n, greatest($4::bigint - $3::bigint, 0) AS room\n"
    "          FROM quota_active WHERE tenant = $1) a\n"
    " WHERE q.tenant = $1",
    4, 0};

/* ---- units ---- */

/* Used units, window start (Unix us) and seconds to the window's end: the columns every
 * charge statement returns. The other stripes are read, not locked. */
#define SQL_CHARGE_RETURNING(Q)                                                                    \
    Q ".units + coalesce((SELECT sum(o.units) FROM quota_usage o\n"                                \
      "                      WHERE o.tenant = $1 AND o.window_start = " Q ".window_start\n"        \
      "                        AND o.stripe <> " Q ".stripe), 0),\n"                               \
      "       (extract(epoch FROM " Q ".window_start) * 1000000)::bigint,\n"                       \
      "       ceil(extract(epoch FROM " Q ".window_start + $2::int * interval '1 second'\n"        \
      "                               - now()))::int"

/* The fast path under a limit: the cost fits this stripe's share. No row back = the slow
 * path. */
static struct lt_api_stmt st_charge_take = {
    "lt_charge_take",
    "UPDATE quota_usage q SET units = q.units + $3::bigint\n"
    " WHERE q.tenant = $1 AND q.window_start = lt_quota_window_start($2::int)\n"
    "   AND q.stripe = $5::smallint AND q.lim = $4::bigint AND q.units + $3::bigint <= q.cap\n"
    "RETURNING " SQL_CHARGE_RETURNING("q"),
    5, 0};

/* No limit: the units are still counted (GET /quota shows them, and a limit may come
 * back within the window), on this stripe's row alone; shares of an older limit are
 * voided as in st_active_free. */
static struct lt_api_stmt st_charge_free = {
    "lt_charge_free",
    "WITH o AS (\n"
    "  INSERT INTO quota_usage AS q (tenant, window_start, stripe, units, cap, lim)\n"
    "  VALUES ($1, lt_quota_window_start($2::int), $4::smallint, $3::bigint, 0, 0)\n"
    "  ON CONFLICT (tenant, window_start, stripe)\n"
    "  DO UPDATE SET units = q.units + EXCLUDED.units, lim = 0\n"
    "  RETURNING q.units, q.window_start, q.stripe),\n"
    "x AS (\n"
    "  UPDATE quota_usage SET lim = 0\n"
    "   WHERE tenant = $1 AND window_start = lt_quota_window_start($2::int)\n"
    "     AND stripe <> $4::smallint AND lim <> 0)\n"
    "SELECT " SQL_CHARGE_RETURNING("o") " FROM o",
    4, 0};

/* The slow path, after st_charge_lock: every stripe row of the window, their sum. */
static struct lt_api_stmt st_charge_hold = {
    "lt_charge_hold",
    "WITH r AS (SELECT units FROM quota_usage\n"
    "            WHERE tenant = $1 AND window_start = lt_quota_window_start($2::int)\n"
    "            FOR UPDATE)\n"
    "SELECT coalesce(sum(units), 0)::bigint FROM r",
    2, 0};

static struct lt_api_stmt st_charge_lock = {
    "lt_charge_lock", "SELECT pg_advisory_xact_lock(1819636085, hashtext($1))", 1, 0};

static struct lt_api_stmt st_charge_own = {
    "lt_charge_own",
    "INSERT INTO quota_usage AS q (tenant, window_start, stripe, units, cap, lim)\n"
    "VALUES ($1, lt_quota_window_start($2::int), $4::smallint, $3::bigint, 0, -1)\n"
    "ON CONFLICT (tenant, window_start, stripe) DO UPDATE SET units = q.units + EXCLUDED.units",
    4, 0};

/* The room left under the limit $3 shared out equally over the window's stripes (the
 * remainder to this one). */
static struct lt_api_stmt st_charge_share = {
    "lt_charge_share",
    "UPDATE quota_usage q\n"
    "   SET cap = q.units + a.room / a.n\n"
    "             + CASE WHEN q.stripe = $4::smallint THEN a.room % a.n ELSE 0 END,\n"
    "       lim = $3::bigint\n"
    "  FROM (SELECT count(*) AS n, greatest($3::bigint - sum(units), 0)::bigint AS room\n"
    "          FROM quota_usage\n"
    "         WHERE tenant = $1 AND window_start = lt_quota_window_start($2::int)) a\n"
    " WHERE q.tenant = $1 AND q.window_start = lt_quota_window_start($2::int)\n"
    "RETURNING " SQL_CHARGE_RETURNING("q"),
    4, 0};

static const char SQL_USAGE[] =
    "SELECT coalesce((SELECT sum(units) FROM quota_usage\n"
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
    int slow = ch->slow;

    memset(ch, 0, sizeof(*ch));
    ch->slow = slow;
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
    const char *params[4] = {tenant, count, limit, stripe};

    snprintf(count, sizeof(count), "%d", n);
    if (ch->lim.max_active <= 0) {
        return lt_api_prep_run(conn, &st_active_free, params) < 0 ? -1 : 1;
    }
    snprintf(limit, sizeof(limit), "%d", ch->lim.max_active);
    PGresult *res;
    int fits;
    if (!ch->slow) {
        if ((res = lt_api_prep_exec(conn, &st_active_take, params)) == NULL) {
            return -1;
        }
        fits = PQntuples(res) == 1;
        PQclear(res);
        if (fits) {
            return 1; /* admitted on the share; the exact count is not known (nor needed) */
        }
        ch->slow = 1;
        return 2;
    }
    /* Count for real, holding the tenant and its rows. */
    const char *count_params[2] = {tenant, limit};
    const char *own_params[2] = {tenant, stripe};
    if (lt_api_prep_run(conn, &st_active_lock, params) < 0 ||
        lt_api_prep_run(conn, &st_active_hold, params) < 0 ||
        (res = lt_api_prep_exec(conn, &st_active_count, count_params)) == NULL) {
        return -1;
    }
    ch->active = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    fits = (long)ch->active + n <= (long)ch->lim.max_active;
    snprintf(bound, sizeof(bound), "%ld", (long)ch->active + (fits ? n : 0));
    const char *share_params[4] = {tenant, stripe, bound, limit};
    if (lt_api_prep_run(conn, &st_active_own, own_params) < 0 ||
        lt_api_prep_run(conn, &st_active_share, share_params) < 0) {
        return -1;
    }
    return fits;
}

/* ch->used, window_us and reset_s from the first row of a charge statement's result. */
static void charged(PGresult *res, struct lt_api_charge *ch)
{
    ch->used = atol(PQgetvalue(res, 0, 0));
    ch->window_us = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    ch->reset_s = atoi(PQgetvalue(res, 0, 2));
}

/* Over budget: ch->needed and the current use (and the window) for the problem. */
static int refused(PGconn *conn, const char *tenant, long cost, struct lt_api_charge *ch)
{
    ch->needed = cost;
    int active = ch->active;
    int rc = lt_api_charge_read(conn, tenant, ch);
    ch->active = active; /* the count of the check, not the unbounded one */
    return rc < 0 ? -1 : 0;
}

int lt_api_charge_units(PGconn *conn, const char *tenant, long cost, struct lt_api_charge *ch)
{
    char window[16], units[24], limit[24];
    const char *take[5] = {tenant, window, units, limit, stripe};
    const char *free_params[4] = {tenant, window, units, stripe};
    PGresult *res;

    snprintf(window, sizeof(window), "%d", ch->lim.window_s);
    snprintf(units, sizeof(units), "%ld", cost);
    snprintf(limit, sizeof(limit), "%ld", ch->lim.units);
    if (ch->lim.units <= 0) {
        if ((res = lt_api_prep_exec(conn, &st_charge_free, free_params)) == NULL) {
            return -1;
        }
        charged(res, ch);
        PQclear(res);
        return 1;
    }
    if (!ch->slow) {
        if ((res = lt_api_prep_exec(conn, &st_charge_take, take)) == NULL) {
            return -1;
        }
        int fits = PQntuples(res) == 1;
        if (fits) {
            charged(res, ch);
        }
        PQclear(res);
        if (fits) {
            return 1;
        }
        ch->slow = 1;
        return 2;
    }
    /* Decide on the window's exact sum, holding the tenant and every stripe. */
    const char *hold[2] = {tenant, window};
    if (lt_api_prep_run(conn, &st_charge_lock, hold) < 0 ||
        (res = lt_api_prep_exec(conn, &st_charge_hold, hold)) == NULL) {
        return -1;
    }
    long used = atol(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (cost > ch->lim.units - used) {
        return refused(conn, tenant, cost, ch);
    }
    const char *share[4] = {tenant, window, limit, stripe};
    if (lt_api_prep_run(conn, &st_charge_own, free_params) < 0 ||
        (res = lt_api_prep_exec(conn, &st_charge_share, share)) == NULL) {
        return -1;
    }
    charged(res, ch);
    PQclear(res);
    return 1;
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
