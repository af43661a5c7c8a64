/*
 * api_tasks.c -- see api_tasks.h.
 *
 * Handlers hold no SQL and build no JSON of tasks themselves: task objects come from
 * the database's lt_task_json() (one definition of the shape for every endpoint and
 * the webhooks), and the handlers add only headers and status codes.
 */
#include "api_tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_idem.h"
#include "api_query.h"
#include "api_quota.h"
#include "api_store.h"
#include "api_validate.h"
#include "clock.h"
#include "log.h"
#include "uuid.h"

/* DOWN, ERROR and NOT_FOUND mean the same on every task endpoint. */
void lt_api_send_store_failure(struct lt_api_req *req, enum lt_api_store_rc rc)
{
    if (rc == LT_API_STORE_DOWN) {
        lt_api_send_db_down(req);
    } else if (rc == LT_API_STORE_NOT_FOUND) {
        lt_api_send_problem(req, 404, "not_found", NULL, NULL, "no task %s", req->id);
    } else {
        lt_api_send_internal(req);
    }
}

static void send_view(struct lt_api_req *req, int status, const char *headers,
                      struct lt_api_task_view *v)
{
    lt_api_send(req, status, "application/json", headers, v->json, strlen(v->json));
}

void lt_api_send_charge_failure(struct lt_api_req *req, enum lt_api_store_rc rc,
                                const struct lt_api_charge *ch)
{
    char headers[LT_API_HEADERS_MAX];

    if (rc == LT_API_STORE_QUOTA) {
        long left = ch->lim.units - ch->used > 0 ? ch->lim.units - ch->used : 0;
        snprintf(headers, sizeof(headers), "Retry-After: %d\r\n",
                 ch->reset_s > 0 ? ch->reset_s : 1);
        lt_api_quota_headers(headers, sizeof(headers), ch->lim.units, ch->lim.window_s, ch->used,
                             ch->reset_s);
        lt_log_info("quota_rejected",
                    json_pack("{ss ss sI sI}", "tenant", req->tenant, "reason", "quota_exceeded",
                              "needed", (json_int_t)ch->needed, "left", (json_int_t)left),
                    "quota exceeded");
        lt_api_send_problem(req, 429, "quota_exceeded", headers, NULL,
                            "needs %ld units, %ld left in this window", ch->needed, left);
    } else if (rc == LT_API_STORE_ACTIVE) {
        snprintf(headers, sizeof(headers), "Retry-After: %d\r\n", LT_API_ACTIVE_RETRY_AFTER_S);
        lt_log_info("quota_rejected",
                    json_pack("{ss ss si}", "tenant", req->tenant, "reason",
                              "active_limit_exceeded", "active", ch->active),
                    "active task limit reached");
        lt_api_send_problem(req, 429, "active_limit_exceeded", headers, NULL,
                            "%d of at most %d tasks are active; wait for one to finish", ch->active,
                            ch->lim.max_active);
    } else {
        lt_api_send_store_failure(req, rc);
    }
}

int lt_api_fallback_spec(const struct lt_cfg *cfg, json_t *body,
                         const struct lt_api_task_spec *spec, json_t **copy,
                         struct lt_api_task_spec *fb)
{
    struct lt_api_verr verr;

    if (!spec->allow_degrade || spec->type->fallback[0] == '\0') {
        return -1;
    }
    *copy = json_copy(body);
    if (*copy == NULL ||
        json_object_set_new(*copy, "type", json_string(spec->type->fallback)) < 0) {
        return -1;
    }
    int rc = lt_api_validate_create(cfg, *copy, lt_wall_ms() * 1000, fb, &verr);
    json_decref(verr.errors);
    return rc;
}

/* The Idempotency-Key of a create, scoped and with the body's fingerprint: 0 none or
 * ok, -1 answered (400). */
static int read_key(struct lt_api_req *req, json_t *body, char *scoped, size_t n,
                    char hash[LT_API_IDEM_HASH_LEN])
{
    scoped[0] = '\0';
    if (req->idempotency_key == NULL) {
        return 0;
    }
    if (!lt_api_idem_key_ok(req->idempotency_key)) {
        lt_api_send_problem(req, 400, "invalid_request", NULL, NULL,
                            "Idempotency-Key must be 1-%d printable ASCII characters",
                            LT_API_IDEM_KEY_MAX);
        return -1;
    }
    if (lt_api_idem_hash(body, hash) < 0) {
        lt_api_send_internal(req);
        return -1;
    }
    lt_api_idem_scope("tasks", req->idempotency_key, scoped, n);
    return 0;
}

json_t *lt_api_read_create(struct lt_api_req *req, struct lt_api_task_spec *spec)
{
    struct lt_api_verr verr;
    json_t *body;

    if (!lt_api_media_type_is(req->content_type, "application/json")) {
        lt_api_send_problem(req, 415, "unsupported_media_type", NULL, NULL,
                            "the body must be application/json");
        return NULL;
    }
    if ((body = lt_api_read_json(req)) == NULL) {
        return NULL;
    }
    if (lt_api_validate_create(req->cfg, body, lt_wall_ms() * 1000, spec, &verr) < 0) {
        lt_api_send_problem(req, verr.status, verr.code, NULL, verr.errors, "%s", verr.detail);
        json_decref(body);
        return NULL;
    }
    return body;
}

void lt_api_task_create(struct lt_api_req *req)
{
    struct lt_api_task_spec spec, fb;
    struct lt_api_task_view view = {0};
    struct lt_api_charge ch;
    json_t *body = NULL, *fb_body = NULL;
    uint8_t raw[16];
    char headers[LT_API_HEADERS_MAX], key[LT_API_IDEM_SCOPED_MAX], hash[LT_API_IDEM_HASH_LEN];
    int degraded = 0;

    if ((body = lt_api_read_create(req, &spec)) == NULL) {
        goto out;
    }
    if (read_key(req, body, key, sizeof(key), hash) < 0) {
        goto out;
    }
    struct lt_api_create_in in = {
        &spec, lt_api_quota_cost(spec.type, spec.payload), NULL, 0, key[0] != '\0' ? key : NULL,
        hash};
    if (lt_api_fallback_spec(req->cfg, body, &spec, &fb_body, &fb) == 0) {
        in.fallback = &fb;
        in.fallback_cost = lt_api_quota_cost(fb.type, fb.payload);
    }
    if (lt_uuid7(raw) < 0) {
        lt_log_error("uuid_failed", NULL, "no randomness for a task id");
        lt_api_send_internal(req);
        goto out;
    }
    lt_uuid_format(raw, req->id);
    enum lt_api_store_rc rc =
        lt_api_store_create(req->cfg, req->tenant, req->id, &in, &view, &ch, &degraded);
    if (rc == LT_API_STORE_REPLAYED) {
        send_view(req, 200, "Idempotent-Replayed: true\r\n", &view);
        goto out;
    }
    if (rc == LT_API_STORE_KEY_REUSED) {
        lt_api_send_problem(req, 422, "idempotency_key_reused", NULL, NULL,
                            "this Idempotency-Key was used with a different body");
        goto out;
    }
    if (rc == LT_API_STORE_IN_FLIGHT) {
        lt_api_send_problem(req, 409, "idempotency_key_in_flight", "Retry-After: 1\r\n", NULL,
                            "a request with this Idempotency-Key is still being processed");
        goto out;
    }
    if (rc != LT_API_STORE_OK) {
        lt_api_send_charge_failure(req, rc, &ch);
        goto out;
    }
    const struct lt_api_task_spec *made = degraded ? &fb : &spec;
    lt_log_info("task_created",
                json_pack("{ss ss ss ss s:s?}", "task_id", req->id, "tenant", req->tenant, "type",
                          made->type->name, "queue", made->queue, "degraded_from",
                          degraded ? spec.type->name : NULL),
                "task created");
    snprintf(headers, sizeof(headers), "Location: /api/v1/tasks/%s\r\n", req->id);
    lt_api_quota_headers(headers, sizeof(headers), ch.lim.units, ch.lim.window_s, ch.used,
                         ch.reset_s);
    send_view(req, 202, headers, &view);
out:
    lt_api_task_view_free(&view);
    json_decref(fb_body);
    json_decref(body);
}

/* Compares one entity tag of a list with ours, ignoring weakness (RFC 9110 8.8.3.2). */
int lt_api_etag_matches(const char *if_none_match, const char *etag)
{
    const char *p = if_none_match;
    const char *ours = strncmp(etag, "W/", 2) == 0 ? etag + 2 : etag;
    size_t n = strlen(ours);

    while (p != NULL && *p != '\0') {
        p += strspn(p, " \t,");
        if (*p == '*') {
            return 1;
        }
        if (strncmp(p, "W/", 2) == 0) {
            p += 2;
        }
        if (strncmp(p, ours, n) == 0 &&
            (p[n] == '\0' || p[n] == ',' || p[n] == ' ' || p[n] == '\t')) {
            return 1;
        }
        p = strchr(p, ',');
    }
    return 0;
}

/* A conditional GET first reads the ETag alone (one primary-key lookup): a poll of an
 * unchanged task costs neither lt_task_json, nor queue_position, nor eta_s. */
static int not_modified(struct lt_api_req *req)
{
    char status[16], etag[64], headers[128];
    int version = 0;

    enum lt_api_store_rc rc = lt_api_store_etag(req->cfg, req->tenant, req->id, status, &version);
    if (rc != LT_API_STORE_OK) {
        lt_api_send_store_failure(req, rc);
        return 1;
    }
    snprintf(etag, sizeof(etag), "W/\"%s-%d\"", status, version);
    if (!lt_api_etag_matches(req->if_none_match, etag)) {
        return 0;
    }
    snprintf(headers, sizeof(headers), "ETag: %s\r\n", etag);
    lt_api_send(req, 304, NULL, headers, NULL, 0);
    return 1;
}

void lt_api_task_get(struct lt_api_req *req)
{
    struct lt_api_task_view view = {0};
    char etag[64], headers[128];

    if (req->if_none_match != NULL && not_modified(req)) {
        goto out;
    }
    enum lt_api_store_rc rc = lt_api_store_get(req->cfg, req->tenant, req->id, &view);
    if (rc != LT_API_STORE_OK) {
        lt_api_send_store_failure(req, rc);
        goto out;
    }
    snprintf(etag, sizeof(etag), "W/\"%s-%d\"", view.status, view.version);
    snprintf(headers, sizeof(headers), "ETag: %s\r\n", etag);
    /* The task may have changed since the probe; the full read decides again. */
    if (req->if_none_match != NULL && lt_api_etag_matches(req->if_none_match, etag)) {
        lt_api_send(req, 304, NULL, headers, NULL, 0);
    } else {
        send_view(req, 200, headers, &view);
    }
out:
    lt_api_task_view_free(&view);
}

void lt_api_task_list(struct lt_api_req *req)
{
    struct lt_api_list_query q;
    char msg[256];
    char *body = NULL;

    if (lt_api_list_query_parse(req->query, &q, msg, sizeof(msg)) < 0) {
        lt_api_send_problem(req, 400, "invalid_query", NULL, NULL, "%s", msg);
        goto out;
    }
    if (q.has_tenant && !req->admin) {
        lt_api_send_problem(req, 403, "forbidden", NULL, NULL,
                            "?tenant= needs a token with the admin scope");
        goto out;
    }
    /* An admin sees every tenant unless one is named; everyone else sees their own. */
    const char *tenant = q.has_tenant ? q.tenant : req->admin ? NULL : req->tenant;
    enum lt_api_store_rc rc = lt_api_store_list(req->cfg, tenant, &q, &body);
    if (rc != LT_API_STORE_OK) {
        lt_api_send_store_failure(req, rc);
        goto out;
    }
    lt_api_send(req, 200, "application/json", NULL, body, strlen(body));
out:
    free(body);
}

void lt_api_task_cancel(struct lt_api_req *req)
{
    struct lt_api_task_view view;
    int requested = 0;

    enum lt_api_store_rc rc =
        lt_api_store_cancel(req->cfg, req->tenant, req->id, &view, &requested);
    if (rc == LT_API_STORE_CONFLICT) {
        lt_api_send_problem(req, 409, "task_finished", NULL, NULL, "task %s has already finished",
                            req->id);
    } else if (rc != LT_API_STORE_OK) {
        lt_api_send_store_failure(req, rc);
    } else {
        lt_log_info("task_cancel",
                    json_pack("{ss ss sb}", "task_id", req->id, "tenant", req->tenant, "requested",
                              requested),
                    requested ? "cancel requested" : "task cancelled");
        send_view(req, requested ? 202 : 200, NULL, &view);
    }
    lt_api_task_view_free(&view);
}

void lt_api_task_retry(struct lt_api_req *req)
{
    struct lt_api_task_view view;
    struct lt_api_charge ch;

    enum lt_api_store_rc rc = lt_api_store_retry(req->cfg, req->tenant, req->id, &view, &ch);
    if (rc == LT_API_STORE_QUOTA || rc == LT_API_STORE_ACTIVE) {
        lt_api_send_charge_failure(req, rc, &ch);
    } else if (rc == LT_API_STORE_CONFLICT) {
        lt_api_send_problem(req, 409, "task_not_retryable", NULL, NULL,
                            "only failed or cancelled tasks can be retried");
    } else if (rc != LT_API_STORE_OK) {
        lt_api_send_store_failure(req, rc);
    } else {
        lt_log_info("task_retried", json_pack("{ss ss}", "task_id", req->id, "tenant", req->tenant),
                    "task back to pending");
        send_view(req, 202, NULL, &view);
    }
    lt_api_task_view_free(&view);
}

void lt_api_task_events(struct lt_api_req *req)
{
    char *body = NULL;

    /* Accept: text/event-stream (the live stream) is a later issue; it branches off
     * here to a separate serving path and leaves this JSON form as it is. */
    enum lt_api_store_rc rc = lt_api_store_events(req->cfg, req->tenant, req->id, &body);
    if (rc != LT_API_STORE_OK) {
        lt_api_send_store_failure(req, rc);
    } else {
        lt_api_send(req, 200, "application/json", NULL, body, strlen(body));
    }
    free(body);
}
