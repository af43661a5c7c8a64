/*
 * api_payload.h -- the payload rules of each handler, checked at creation so a bad
 * payload is a 422 naming the field ("payload.messages[2].role"), never a task that
 * fails later. The rule is chosen by the type's handler, so a configured type running
 * llm.chat under its own name gets llm.chat's rules; exec types take any object (the
 * payload only ever reaches the process's stdin).
 *
 * Every fault found is reported through err(ctx, field, message); all of them are 422
 * (the payload is invalid for its type), a wrong JSON type inside the payload included.
 */
#ifndef LT_API_PAYLOAD_H
#define LT_API_PAYLOAD_H

#include <jansson.h>

#include "cfg.h"

#define LT_API_SLEEP_MAX_MS 86400000
#define LT_API_LLM_MAX_MESSAGES 1000
#define LT_API_LLM_MAX_TOKENS 1000000
#define LT_API_HTTP_MAX_HEADERS 64

typedef void (*lt_api_payload_err_fn)(void *ctx, const char *field, const char *message);

void lt_api_payload_check(const struct lt_cfg *cfg, const struct lt_type_cfg *type, json_t *payload,
                          lt_api_payload_err_fn err, void *ctx);

#endif
