/*
 * api_tasks.h -- the /api/v1/tasks endpoints: create, list, read, cancel, retry and
 * the execution history. Each handler checks its input, calls one api_store function
 * and maps the outcome to the status API.md gives it.
 */
#ifndef LT_API_TASKS_H
#define LT_API_TASKS_H

#include "api_http.h"
#include "api_store.h"

void lt_api_task_create(struct lt_api_req *req);
void lt_api_task_list(struct lt_api_req *req);
void lt_api_task_get(struct lt_api_req *req);
void lt_api_task_cancel(struct lt_api_req *req);
void lt_api_task_retry(struct lt_api_req *req);
void lt_api_task_events(struct lt_api_req *req);

/* The body of a create (POST /tasks, POST /quota/check): application/json, within the
 * size and depth limits, valid for its type, into spec (which borrows from the body).
 * Returns the body (a new reference) or NULL after answering the problem (415, 413,
 * 400 or 422). */
json_t *lt_api_read_create(struct lt_api_req *req, struct lt_api_task_spec *spec);

/* Answers 503, 404 or 500 for a store outcome other than OK/CONFLICT. */
void lt_api_send_store_failure(struct lt_api_req *req, enum lt_api_store_rc rc);

/* Answers a refused charge: 429 quota_exceeded (Retry-After = seconds to the window's
 * end, RateLimit headers) or 429 active_limit_exceeded (a short Retry-After hint); any
 * other outcome as lt_api_send_store_failure. */
void lt_api_send_charge_failure(struct lt_api_req *req, enum lt_api_store_rc rc,
                                const struct lt_api_charge *ch);

/* The request as its type's fallback would be: the same body under the fallback's name,
 * validated afresh (the fallback's payload rules and defaults), into fb, borrowing from
 * *copy (a new reference the caller json_decref()s, even on failure). 0 when a degrade
 * is possible, -1 when not (no fallback, allow_degrade false, or the payload does not
 * suit the fallback). */
int lt_api_fallback_spec(const struct lt_cfg *cfg, json_t *body,
                         const struct lt_api_task_spec *spec, json_t **copy,
                         struct lt_api_task_spec *fb);

/* 1 when an If-None-Match value matches the weak ETag W/"<status>-<version>" (weak
 * comparison; a list of tags and "*" are understood). Pure. */
int lt_api_etag_matches(const char *if_none_match, const char *etag);

#endif
