/*
 * api_quota.c -- see api_quota.h.
 */
#include "api_quota.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Products such as 15 x 0.2 land a hair below the integer in binary floating point;
 * this much slack keeps floor() on the intended side. */
#define COST_EPSILON 1e-9
#define COST_CEILING 1000000000L

long lt_api_quota_cost(const struct lt_type_cfg *t, json_t *payload)
{
    if (t->cost_items[0] == '\0') {
        return t->cost;
    }
    json_t *items = payload != NULL ? json_object_get(payload, t->cost_items) : NULL;
    size_t n = json_is_array(items) ? json_array_size(items) : 0;
    double per = floor(t->cost_per_item * (double)n + COST_EPSILON);
    double cost = (double)t->cost_base + (per > (double)COST_CEILING ? (double)COST_CEILING : per);
    if (cost < t->cost_min) {
        cost = t->cost_min;
    }
    if (cost > t->cost_max) {
        cost = t->cost_max;
    }
    return (long)cost;
}

const char *lt_api_quota_window_name(int window_s, char *buf, size_t n)
{
    const char *name = window_s == 86400    ? "day"
                       : window_s == 3600   ? "hour"
                       : window_s == 60     ? "minute"
                       : window_s == 604800 ? "week"
                                            : NULL;
    if (name != NULL) {
        snprintf(buf, n, "%s", name);
    } else {
        snprintf(buf, n, "%ds", window_s);
    }
    return buf;
}

void lt_api_quota_headers(char *buf, size_t n, long limit, int window_s, long used, int reset_s)
{
    size_t have = strlen(buf);
    if (limit <= 0 || have >= n) {
        return;
    }
    long remaining = limit - used > 0 ? limit - used : 0;
    snprintf(buf + have, n - have,
             "RateLimit-Policy: \"units\";q=%ld;w=%d\r\nRateLimit: \"units\";r=%ld;t=%d\r\n", limit,
             window_s, remaining, reset_s > 0 ? reset_s : 0);
}

enum lt_api_quota_choice lt_api_quota_choose(long cost, long fallback_cost, long remaining)
{
    if (remaining < 0 || cost <= remaining) {
        return LT_API_QUOTA_FULL;
    }
    if (fallback_cost >= 0 && fallback_cost <= remaining) {
        return LT_API_QUOTA_DEGRADE;
    }
    return LT_API_QUOTA_REFUSE;
}
