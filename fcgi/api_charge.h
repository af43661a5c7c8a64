/*
 * api_charge.h -- quota accounting inside the API's transactions: the tenant's limits
 * (configuration defaults, tenant_quotas overrides), the active-task check, the
 * conditional charge of units, and the read-only view GET /quota and /quota/check use.
 *
 * Concurrency, the invariant being "never over-admit, never lose a unit":
 *   - units: one conditional upsert of the (tenant, window) row,
 *       INSERT ... ON CONFLICT DO UPDATE SET units = units + cost
 *       WHERE units + cost <= limit RETURNING units
 *     concurrent charges queue on that row's lock and each re-checks the condition on
 *     the newest committed value; no row returned = over budget. It runs in the create
 *     transaction, so a rolled-back create gives its units back by itself.
 *   - active tasks: an upper bound of the tenant's live tasks in quota_active (see
 *     sql/003_hot_paths.sql): every create, batch and retry adds its tasks to it by a
 *     conditional UPDATE of the tenant's row (bound + n <= max_active), which is the
 *     whole check while the limit is far away. When the bound says no, the create takes
 *     the row, counts the live tasks for real in a fresh statement (whose snapshot
 *     includes every earlier create's commit, as each held the row), and writes the
 *     exact count back. Tasks leaving the live set (workers, reaper, cancels) need no
 *     bookkeeping: the bound just overstates until the next recount.
 * Lock order, everywhere: the quota_active row, then the quota_usage row. A cancel takes
 * the task row, then the quota_usage row; nothing takes them the other way round.
 *
 * All functions take the caller's connection inside its open transaction, return 0/1 as
 * documented or -1 on a database error (logged by common/db.c).
 */
#ifndef LT_API_CHARGE_H
#define LT_API_CHARGE_H

#include <libpq-fe.h>
#include <stdint.h>

#include "cfg.h"

struct lt_api_limits {
    long units;     /* units per window; 0 = unlimited */
    int window_s;
    int max_active; /* 0 = unlimited */
};

/* The state of one tenant's budget, for headers, problems and GET /quota. */
struct lt_api_charge {
    struct lt_api_limits lim;
    long used;          /* units used in the current window (after a successful charge) */
    long needed;        /* the cost a refused charge asked for */
    int reset_s;        /* seconds until the current window ends */
    int64_t window_us;  /* the current window's start, Unix microseconds */
    char resets_at[40]; /* the window's end, RFC 3339 (read-only view only) */
    int active;         /* live tasks counted (before this request) */
};

/* Fills ch->lim for tenant. 0 ok, -1 error. */
int lt_api_charge_limits(PGconn *conn, const struct lt_cfg *cfg, const char *tenant,
                         struct lt_api_charge *ch);

/* Checks that n more live tasks fit max_active and adds them to the tenant's bound:
 * 1 they fit (or no limit), 0 they do not (ch->active is then the exact count), -1
 * error. O(1) while the bound is below the limit; a recount, O(min(active,
 * max_active)), only when it is not. */
int lt_api_charge_active(PGconn *conn, const char *tenant, int n, struct lt_api_charge *ch);

/* Charges cost units to the current window: 1 charged (ch->used, reset_s, window_us set),
 * 0 over budget (nothing charged; ch->used is the current use, ch->needed = cost),
 * -1 error. */
int lt_api_charge_units(PGconn *conn, const char *tenant, long cost, struct lt_api_charge *ch);

/* Read-only: the current window's use, its end, and the exact live-task count. */
int lt_api_charge_read(PGconn *conn, const char *tenant, struct lt_api_charge *ch);

#endif
