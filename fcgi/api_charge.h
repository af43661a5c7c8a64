/*
 * api_charge.h -- quota accounting inside the API's transactions: the tenant's limits
 * (configuration defaults, tenant_quotas overrides), the active-task check, the
 * conditional charge of units, and the read-only view GET /quota and /quota/check use.
 *
 * Concurrency, the invariant being "never over-admit, never lose a unit": both counters
 * are split into stripes, one per API process (sql/004_quota_stripes.sql), each with a
 * share (cap) of the limit (lim) it was cut from; the shares of a tenant never add up to
 * more than the limit.
 *   - units: the fast path is one conditional UPDATE of this process's row,
 *       SET units = units + cost WHERE lim = limit AND units + cost <= cap
 *     which nobody else holds, so a tenant's creates commit in groups, not in a queue.
 *     No row back: the slow path takes the tenant's units lock and every stripe row of
 *     the window, decides on their exact sum, and shares the room left out again. It runs
 *     in the create transaction, so a rolled-back create gives its units back by itself.
 *   - active tasks: each stripe keeps an upper bound of the live tasks it admitted
 *     (every create, batch and retry adds its n); the fast path is the same conditional
 *     UPDATE on bound. The slow path holds the tenant and its rows, counts the live
 *     tasks for real in a fresh statement (whose snapshot includes every earlier
 *     create's commit, as each held a row), and writes the exact count back. Tasks
 *     leaving the live set (workers, reaper, cancels) need no bookkeeping: the bounds
 *     just overstate until the next recount.
 * Lock order, everywhere: the active lock and rows, then the units lock and rows. A
 * cancel takes the task row, then one quota_usage row; nothing takes them the other way.
 *
 * A fast path that fails may still hold its row: PostgreSQL keeps the lock it took on the
 * newest version of a row whose re-check failed. Waiting for the tenant's lock while
 * holding it could deadlock with the slow path holding that lock and waiting for the row,
 * so a failed fast path returns 2 and sets ch->slow: the caller rolls its transaction
 * back and runs it again, and this time both checks take their slow paths directly (one
 * such transaction per tenant at a time, in the lock order above).
 *
 * All functions take the caller's connection inside its open transaction, return 0/1 (or
 * 2, as above) as documented, or -1 on a database error (logged by common/db.c).
 */
#ifndef LT_API_CHARGE_H
#define LT_API_CHARGE_H

#include <libpq-fe.h>
#include <stdint.h>

#include "cfg.h"

struct lt_api_limits {
    long units; /* units per window; 0 = unlimited */
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
    int slow;           /* set by a failed fast path: the next run takes the slow paths */
};

/* The stripe this process charges to: its slot in the prefork pool (0..processes-1). */
void lt_api_charge_set_stripe(int slot);
const char *lt_api_charge_stripe(void); /* as a statement parameter */

/* Fills ch->lim for tenant (ch->slow is kept). 0 ok, -1 error. */
int lt_api_charge_limits(PGconn *conn, const struct lt_cfg *cfg, const char *tenant,
                         struct lt_api_charge *ch);

/* Checks that n more live tasks fit max_active and adds them to the tenant's bound:
 * 1 they fit (or no limit), 0 they do not (ch->active is then the exact count), 2 run
 * again (see above), -1 error. O(1) while the bound is below the limit; a recount, O(min(active,
 * max_active)), only when it is not. */
int lt_api_charge_active(PGconn *conn, const char *tenant, int n, struct lt_api_charge *ch);

/* Charges cost units to the current window: 1 charged (ch->used, reset_s, window_us set),
 * 0 over budget (nothing charged; ch->used is the current use, ch->needed = cost),
 * 2 run again (see above), -1 error. */
int lt_api_charge_units(PGconn *conn, const char *tenant, long cost, struct lt_api_charge *ch);

/* Read-only: the current window's use, its end, and the exact live-task count. */
int lt_api_charge_read(PGconn *conn, const char *tenant, struct lt_api_charge *ch);

#endif
