/*
 * llm_reply.h -- an OpenAI-compatible chat completion's answer as it is assembled: from
 * one JSON body (non-streaming) or from stream chunks (`choices[0].delta.content`
 * pieces, `finish_reason` in a late chunk, `usage` in the last one when
 * `stream_options.include_usage` was asked for, then `[DONE]`), and the task result
 * made of it. No I/O: the handler feeds it, the unit tests feed it too.
 *
 * A reply that does not have the documented shape is "malformed"; the functions say so
 * with a short reason and never guess at content.
 */
#ifndef LT_WRK_LLM_REPLY_H
#define LT_WRK_LLM_REPLY_H

#include <jansson.h>
#include <stddef.h>

struct lt_wrk_llm_reply {
    char *content; /* NUL-terminated; NULL until some content arrived */
    size_t content_len, content_cap;
    char *finish_reason; /* NULL until given */
    char *model;         /* as the provider reported it; NULL until given */
    long long prompt_tokens, completion_tokens, total_tokens;
    int has_usage;
    int done;    /* stream: [DONE] seen */
    long deltas; /* stream: content pieces received (a token estimate) */
};

enum lt_wrk_llm_reply_rc {
    LT_WRK_LLM_REPLY_OK = 0,
    LT_WRK_LLM_REPLY_MALFORMED = -1, /* why in the error buffer */
    LT_WRK_LLM_REPLY_ERROR = -2,     /* the provider sent an error object; its message */
    LT_WRK_LLM_REPLY_NOMEM = -3,
};

void lt_wrk_llm_reply_init(struct lt_wrk_llm_reply *r);
void lt_wrk_llm_reply_free(struct lt_wrk_llm_reply *r);

/* A whole non-streaming answer body. err (errsz bytes) gets the reason on failure. */
int lt_wrk_llm_reply_body(struct lt_wrk_llm_reply *r, const char *body, size_t len, char *err,
                          size_t errsz);

/* One stream event's data (an SSE event's data: a chunk object or "[DONE]"). */
int lt_wrk_llm_reply_chunk(struct lt_wrk_llm_reply *r, const char *data, size_t len, char *err,
                           size_t errsz);

/* 1 when a stream ended properly: [DONE] seen, or a finish_reason given. */
int lt_wrk_llm_reply_complete(const struct lt_wrk_llm_reply *r);

/* The task result: {"content", "model", "provider", "finish_reason", "usage": {...}}
 * plus "degraded": true, "fallback_from" when fallback_from is not NULL. model_asked
 * is used when the provider named no model. partial: the streaming snapshot form
 * ({"content", "model", "provider", "partial": true}). Returns a new reference, NULL
 * when out of memory. */
json_t *lt_wrk_llm_reply_result(const struct lt_wrk_llm_reply *r, const char *provider,
                                const char *model_asked, const char *fallback_from, int partial);

#endif
