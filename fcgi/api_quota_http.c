/*
 * api_quota_http.c -- see api_quota_http.h.
 */
#include "api_quota_http.h"

#include <stdio.h>

#include "api_quota.h"
#include "api_store.h"
#include "api_tasks.h"
#include "clock.h"

/* A limit of 0 means unlimited and shows as null. */
static json_t *limit_json(long v)
{
    return v > 0 ? json_integer((json_int_t)v) : json_null();
}

void lt_api_quota_get(struct lt_api_req *req)
{
    struct lt_api_charge ch;
    char window[32], headers[LT_API_HEADERS_MAX] = "";

    enum lt_api_store_rc rc = lt_api_store_quota(req->cfg, req->tenant, &ch);
    if (rc != LT_API_STORE_OK) {
        lt_api_send_store_failure(req, rc);
        return;
    }
    long left = ch.lim.units - ch.used > 0 ? ch.lim.units - ch.used : 0;
    lt_api_quota_headers(headers, sizeof(headers), ch.lim.units, ch.lim.window_s, ch.used,
                         ch.reset_s);
    lt_api_send_json(req, 200, headers[0] != '\0' ? headers : NULL,
                     json_pack("{so sI so ss si ss so si}", "units_limit", limit_json(ch.lim.units),
                               "units_used", (json_int_t)ch.used, "units_remaining",
                               ch.lim.units > 0 ? json_integer((json_int_t)left) : json_null(),
                               "window",
                               lt_api_quota_window_name(ch.lim.window_s, window, sizeof(window)),
                               "window_s", ch.lim.window_s, "resets_at", ch.resets_at, "max_active",
                               limit_json(ch.lim.max_active), "active", ch.active));
}

void lt_api_quota_check(struct lt_api_req *req)
{
    struct lt_api_task_spec spec, fb;
    struct lt_api_charge ch;
    json_t *body = NULL, *fb_body = NULL;
    long fb_cost = -1;

    if ((body = lt_api_read_create(req, &spec)) == NULL) {
        goto out;
    }
    if (lt_api_fallback_spec(req->cfg, body, &spec, &fb_body, &fb) == 0) {
        fb_cost = lt_api_quota_cost(fb.type, fb.payload);
    }
    enum lt_api_store_rc rc = lt_api_store_quota(req->cfg, req->tenant, &ch);
    if (rc != LT_API_STORE_OK) {
        lt_api_send_store_failure(req, rc);
        goto out;
    }
    long cost = lt_api_quota_cost(spec.type, spec.payload);
    long left = ch.lim.units <= 0 ? -1 : ch.lim.units - ch.used > 0 ? ch.lim.units - ch.used : 0;
    enum lt_api_quota_choice choice = lt_api_quota_choose(cost, fb_cost, left);
    const char *reason = NULL;
    if (ch.lim.max_active > 0 && ch.active + 1 > ch.lim.max_active) {
        reason = "active_limit_exceeded";
    } else if (choice == LT_API_QUOTA_REFUSE) {
        reason = "quota_exceeded";
    }
    int degrade = reason == NULL && choice == LT_API_QUOTA_DEGRADE;
    lt_api_send_json(req, 200, NULL,
                     json_pack("{sb ss sI s:s? s:s? so}", "allowed", reason == NULL, "type",
                               degrade ? fb.type->name : spec.type->name, "cost",
                               (json_int_t)(degrade ? fb_cost : cost), "degraded_from",
                               degrade ? spec.type->name : NULL, "reason", reason,
                               "units_remaining",
                               left >= 0 ? json_integer((json_int_t)left) : json_null()));
out:
    json_decref(fb_body);
    json_decref(body);
}
