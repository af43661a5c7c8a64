/*
 * llm_payload.h -- an llm.chat task's payload: the worker's own check (the API validated
 * it at creation, but the worker never trusts a row to be what it should be: garbage is
 * a permanent failure, not a crash or a call), and the request body sent to the
 * provider, which carries the payload's fields and nothing else.
 */
#ifndef LT_WRK_LLM_PAYLOAD_H
#define LT_WRK_LLM_PAYLOAD_H

#include <jansson.h>

#define LT_WRK_LLM_MAX_MESSAGES 1000
#define LT_WRK_LLM_MAX_TOKENS 1000000

/* NULL when payload (borrowed) is usable, else a static "invalid payload: ..." text. */
const char *lt_wrk_llm_check_payload(json_t *payload);

/* The request body for a checked payload: {model, messages, and of temperature, top_p,
 * max_tokens, response_format, stop those present}; stream adds "stream": true and
 * "stream_options": {"include_usage": true}. A new string (free()), NULL when out of
 * memory. */
char *lt_wrk_llm_request_body(json_t *payload, const char *model, int stream);

#endif
