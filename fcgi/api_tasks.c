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

#include "api_query.h"
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

void lt_api_task_create(struct lt_api_req *req)
{
    struct lt_api_task_spec spec;
    struct lt_api_verr verr;
    struct lt_api_task_view view = {0};
    json_t *body = NULL;
    uint8_t raw[16];
    char headers[LT_API_HEADERS_MAX];

    if (!lt_api_media_type_is(req->content_type, "application/json")) {
        lt_api_send_problem(req, 415, "unsupported_media_type", NULL, NULL,
                            "the body must be application/json");
        goto out;
    }
    if ((body = lt_api_read_json(req)) == NULL) {
        goto out;
    }
    if (lt_api_validate_create(req->cfg, body, lt_wall_ms() * 1000, &spec, &verr) < 0) {
        lt_api_send_problem(req, verr.status, verr.code, NULL, verr.errors, "%s", verr.detail);
        goto out;
    }
    /* Idempotency-Key and quota checks slot in here, before the id is made. */
    if (lt_uuid7(raw) < 0) {
        lt_log_error("uuid_failed", NULL, "no randomness for a task id");
        lt_api_send_internal(req);
        goto out;
    }
    lt_uuid_format(raw, req->id);
    enum lt_api_store_rc rc = lt_api_store_create(req->cfg, req->tenant, req->id, &spec, &view);
    if (rc != LT_API_STORE_OK) {
        lt_api_send_store_failure(req, rc);
        goto out;
    }
    lt_log_info("task_created",
                json_pack("{ss ss ss ss}", "task_id", req->id, "tenant", req->tenant, "type",
                          spec.type->name, "queue", spec.queue),
                "task created");
    snprintf(headers, sizeof(headers), "Location: /api/v1/tasks/%s\r\n", req->id);
    send_view(req, 202, headers, &view);
out:
    lt_api_task_view_free(&view);
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

void lt_api_task_get(struct lt_api_req *req)
{
    struct lt_api_task_view view;
    char etag[64], headers[128];

    enum lt_api_store_rc rc = lt_api_store_get(req->cfg, req->tenant, req->id, &view);
    if (rc != LT_API_STORE_OK) {
        lt_api_send_store_failure(req, rc);
        goto out;
    }
    snprintf(etag, sizeof(etag), "W/\"%s-%d\"", view.status, view.version);
    snprintf(headers, sizeof(headers), "ETag: %s\r\n", etag);
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

    enum lt_api_store_rc rc = lt_api_store_retry(req->cfg, req->tenant, req->id, &view);
    if (rc == LT_API_STORE_CONFLICT) {
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
