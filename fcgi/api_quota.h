/*
 * api_quota.h -- the pure rules of quotas: what a task costs, how a unit window is named
 * and described in RateLimit headers, and which type a request gets when the budget is
 * short. No I/O: the charging itself (a conditional upsert in the create transaction)
 * is in api_charge.c.
 *
 * Cost of a type (configuration, see cfg.h):
 *   - a fixed `cost` when the type names no `cost_items`;
 *   - else cost_base + floor(cost_per_item x N), N the length of the payload array named
 *     cost_items (0 when missing or not an array), clamped to [cost_min, cost_max].
 *   The stock-screening rule min(5, 2 + items/5) is cost_base = 2, cost_per_item = 0.2,
 *   cost_items = "tickers", cost_max = 5.
 */
#ifndef LT_API_QUOTA_H
#define LT_API_QUOTA_H

#include <jansson.h>
#include <stddef.h>

#include "cfg.h"

#define LT_API_ACTIVE_RETRY_AFTER_S 5 /* Retry-After hint when the active limit refuses */

/* The units a task of type t with this payload (borrowed) costs. Pure. */
long lt_api_quota_cost(const struct lt_type_cfg *t, json_t *payload);

/* "day", "hour", "minute", "week" for those window lengths, else "<n>s". Returns buf. */
const char *lt_api_quota_window_name(int window_s, char *buf, size_t n);

/* The RateLimit-Policy and RateLimit header lines (IETF httpapi ratelimit-headers draft)
 * for a unit budget, appended to buf (NUL-terminated, truncated to n):
 *   RateLimit-Policy: "units";q=<limit>;w=<window_s>
 *   RateLimit: "units";r=<remaining>;t=<seconds to the window's end>
 * Nothing is written for an unlimited budget (limit 0). */
void lt_api_quota_headers(char *buf, size_t n, long limit, int window_s, long used, int reset_s);

enum lt_api_quota_choice {
    LT_API_QUOTA_FULL = 0, /* the requested type fits */
    LT_API_QUOTA_DEGRADE,  /* only the fallback fits: create that */
    LT_API_QUOTA_REFUSE,   /* neither fits (or degrading is not allowed) */
};

/* The decision for a request costing cost, with a usable fallback costing fallback_cost
 * (< 0: none or not allowed), against remaining units (< 0: unlimited). Pure; the create
 * transaction reaches the same decision by trying the conditional charges in this order. */
enum lt_api_quota_choice lt_api_quota_choose(long cost, long fallback_cost, long remaining);

#endif
