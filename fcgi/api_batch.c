/*
 * api_batch.c -- see api_batch.h.
 */
#include "api_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_quota.h"
#include "api_store.h"
#include "api_tasks.h"
#include "clock.h"
#include "log.h"
#include "uuid.h"

#define ERRORS_MAX 100 /* errors listed in one answer; the first ones are what a client fixes */

static void set_error(struct lt_api_verr *verr, int status, const char *field, const char *msg)
{
    if (verr->errors == NULL) {
        verr->errors = json_array();
        snprintf(verr->detail, sizeof(verr->detail), "%s: %s", field, msg);
    }
    if (json_array_size(verr->errors) < ERRORS_MAX) {
        json_array_append_new(verr->errors, json_pack("{ss ss}", "field", field, "message", msg));
    }
    if (verr->status == 0 || status < verr->status) {
        verr->status = status;
    }
}

/* Moves one entry's errors into the batch's, each field prefixed with tasks[i]. */
static void take_errors(struct lt_api_verr *verr, int i, struct lt_api_verr *one, int *unknown)
{
    size_t k;
    json_t *e;
    char field[160];

    json_array_foreach(one->errors, k, e)
    {
        const char *f = json_string_value(json_object_get(e, "field"));
        const char *m = json_string_value(json_object_get(e, "message"));
        snprintf(field, sizeof(field), "tasks[%d]%s%s", i, f != NULL && f[0] != '\0' ? "." : "",
                 f != NULL ? f : "");
        /* An entry's class decides for its own errors; keep 400 above 422. */
        set_error(verr, one->status, field, m != NULL ? m : "is invalid");
    }
    *unknown |= one->code != NULL && strcmp(one->code, "unknown_type") == 0;
    json_decref(one->errors);
    one->errors = NULL;
}

int lt_api_validate_batch(const struct lt_cfg *cfg, json_t *body, int64_t now_us,
                          struct lt_api_task_spec **specs, int *n, struct lt_api_verr *verr)
{
    const char *key;
    json_t *v, *tasks = json_object_get(body, "tasks");
    int unknown = 0;

    memset(verr, 0, sizeof(*verr));
    *specs = NULL;
    *n = 0;
    if (!json_is_object(body)) {
        set_error(verr, 400, "", "the body must be a JSON object {\"tasks\": [...]}");
        goto done;
    }
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "tasks") != 0) {
            char field[80];
            snprintf(field, sizeof(field), "%.64s", key);
            set_error(verr, 400, field, "is not a known field");
        }
    }
    if (!json_is_array(tasks)) {
        set_error(verr, 400, "tasks", tasks == NULL ? "is required" : "must be an array");
        goto done;
    }
    size_t count = json_array_size(tasks);
    if (count == 0 || count > LT_API_BATCH_MAX) {
        char msg[64];
        snprintf(msg, sizeof(msg), "must hold 1 to %d tasks", LT_API_BATCH_MAX);
        set_error(verr, 422, "tasks", msg);
        goto done;
    }
    if (verr->status != 0) {
        goto done;
    }
    *specs = calloc(count, sizeof(**specs));
    if (*specs == NULL) {
        set_error(verr, 500, "", "out of memory");
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        struct lt_api_verr one;
        if (lt_api_validate_create(cfg, json_array_get(tasks, i), now_us, &(*specs)[i], &one) < 0) {
            take_errors(verr, (int)i, &one, &unknown);
        }
    }
    *n = (int)count;
done:
    if (verr->status == 0) {
        return 0;
    }
    free(*specs);
    *specs = NULL;
    *n = 0;
    verr->code = verr->status == 400 ? "invalid_request"
                 : unknown           ? "unknown_type"
                                     : "validation_failed";
    return -1;
}

void lt_api_task_batch(struct lt_api_req *req)
{
    struct lt_api_task_spec *specs = NULL;
    struct lt_api_verr verr;
    struct lt_api_charge ch;
    json_t *body = NULL;
    char(*ids)[LT_UUID_STR_LEN] = NULL;
    char *out = NULL;
    char headers[LT_API_HEADERS_MAX] = "";
    int n = 0;
    long cost = 0;

    if (!lt_api_media_type_is(req->content_type, "application/json")) {
        lt_api_send_problem(req, 415, "unsupported_media_type", NULL, NULL,
                            "the body must be application/json");
        goto out;
    }
    if (req->idempotency_key != NULL) {
        lt_api_send_problem(req, 400, "idempotency_not_supported", NULL, NULL,
                            "Idempotency-Key is not supported on batches; a batch is all or "
                            "nothing, so retry it only after reading back what it created");
        goto out;
    }
    if ((body = lt_api_read_json(req)) == NULL) {
        goto out;
    }
    if (lt_api_validate_batch(req->cfg, body, lt_wall_ms() * 1000, &specs, &n, &verr) < 0) {
        if (verr.status == 500) {
            json_decref(verr.errors);
            lt_api_send_internal(req);
        } else {
            lt_api_send_problem(req, verr.status, verr.code, NULL, verr.errors, "%s", verr.detail);
        }
        goto out;
    }
    if ((ids = calloc((size_t)n, sizeof(*ids))) == NULL) {
        lt_api_send_internal(req);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        uint8_t raw[16];
        if (lt_uuid7(raw) < 0) {
            lt_log_error("uuid_failed", NULL, "no randomness for a task id");
            lt_api_send_internal(req);
            goto out;
        }
        lt_uuid_format(raw, ids[i]);
        cost += lt_api_quota_cost(specs[i].type, specs[i].payload);
    }
    enum lt_api_store_rc rc =
        lt_api_store_batch(req->cfg, req->tenant, n, ids, specs, cost, &ch, &out);
    if (rc != LT_API_STORE_OK) {
        lt_api_send_charge_failure(req, rc, &ch);
        goto out;
    }
    lt_log_info(
        "tasks_created",
        json_pack("{ss si sI}", "tenant", req->tenant, "tasks", n, "cost", (json_int_t)cost),
        "batch of %d tasks created", n);
    lt_api_quota_headers(headers, sizeof(headers), ch.lim.units, ch.lim.window_s, ch.used,
                         ch.reset_s);
    lt_api_send(req, 202, "application/json", headers[0] != '\0' ? headers : NULL, out,
                strlen(out));
out:
    free(out);
    free(ids);
    free(specs);
    json_decref(body);
}
