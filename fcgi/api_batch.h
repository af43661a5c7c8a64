/*
 * api_batch.h -- POST /api/v1/tasks/batch: up to LT_API_BATCH_MAX create bodies in one
 * transaction, charged together, all or nothing.
 *
 * The body is {"tasks": [create body, ...]} and nothing else. Every entry is checked
 * with the create rules before anything touches the database; the errors of all entries
 * are reported together, each field prefixed with its index ("tasks[17].payload.ms"),
 * and the status is the most basic class among them (as for a single create). Batches
 * are charged at each type's full cost (no degrade to a fallback: a batch is one
 * decision, all or nothing), and do not take an Idempotency-Key (400).
 */
#ifndef LT_API_BATCH_H
#define LT_API_BATCH_H

#include "api_http.h"
#include "api_validate.h"

#define LT_API_BATCH_MAX 1000

/* Validates a batch body. On success returns 0 with *specs (malloc'd, *n entries,
 * borrowing from body) ; else -1 with verr filled (the caller json_decref()s
 * verr->errors or hands it on). Pure. */
int lt_api_validate_batch(const struct lt_cfg *cfg, json_t *body, int64_t now_us,
                          struct lt_api_task_spec **specs, int *n, struct lt_api_verr *verr);

void lt_api_task_batch(struct lt_api_req *req);

#endif
