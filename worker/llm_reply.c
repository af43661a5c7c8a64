/*
 * llm_reply.c -- see llm_reply.h.
 *
 * Content is kept as one growing buffer rather than a list of pieces: the partial result
 * written while streaming is the whole text so far, and a contiguous buffer makes each
 * snapshot one json_stringn. NUL characters (\u0000) are dropped on the way in:
 * PostgreSQL's jsonb refuses them, and a result that cannot be stored is worse than a
 * reply missing a character no text needs.
 */
#include "llm_reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lt_wrk_llm_reply_init(struct lt_wrk_llm_reply *r)
{
    memset(r, 0, sizeof(*r));
}

void lt_wrk_llm_reply_free(struct lt_wrk_llm_reply *r)
{
    free(r->content);
    free(r->finish_reason);
    free(r->model);
    memset(r, 0, sizeof(*r));
}

static int append(struct lt_wrk_llm_reply *r, const char *s, size_t n)
{
    if (r->content_len + n + 1 > r->content_cap) {
        size_t cap = r->content_cap > 0 ? r->content_cap : 256;
        while (cap < r->content_len + n + 1) {
            cap *= 2;
        }
        char *c = realloc(r->content, cap);
        if (c == NULL) {
            return -1;
        }
        r->content = c;
        r->content_cap = cap;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\0') {
            r->content[r->content_len++] = s[i];
        }
    }
    r->content[r->content_len] = '\0';
    return 0;
}

/* Replaces *dst with a copy of the string value v (when v is a string). */
static int take_string(char **dst, json_t *v)
{
    if (!json_is_string(v)) {
        return 0;
    }
    char *s = strdup(json_string_value(v));
    if (s == NULL) {
        return -1;
    }
    free(*dst);
    *dst = s;
    return 0;
}

static void take_usage(struct lt_wrk_llm_reply *r, json_t *usage)
{
    if (!json_is_object(usage)) {
        return;
    }
    json_t *p = json_object_get(usage, "prompt_tokens");
    json_t *c = json_object_get(usage, "completion_tokens");
    json_t *t = json_object_get(usage, "total_tokens");
    r->prompt_tokens = json_is_integer(p) ? (long long)json_integer_value(p) : 0;
    r->completion_tokens = json_is_integer(c) ? (long long)json_integer_value(c) : 0;
    r->total_tokens = json_is_integer(t) ? (long long)json_integer_value(t)
                                         : r->prompt_tokens + r->completion_tokens;
    r->has_usage = 1;
}

/* The provider's error object inside a 200 (some providers report mid-stream errors
 * this way). */
static int provider_error(json_t *root, char *err, size_t errsz)
{
    json_t *e = json_object_get(root, "error");
    if (e == NULL || json_is_null(e)) {
        return 0;
    }
    const char *msg =
        json_is_object(e) ? json_string_value(json_object_get(e, "message")) : json_string_value(e);
    snprintf(err, errsz, "%s", msg != NULL ? msg : "error without a message");
    return 1;
}

int lt_wrk_llm_reply_body(struct lt_wrk_llm_reply *r, const char *body, size_t len, char *err,
                          size_t errsz)
{
    json_error_t jerr;
    int rc = LT_WRK_LLM_REPLY_MALFORMED;
    json_t *root = json_loadb(body, len, JSON_ALLOW_NUL, &jerr);

    if (!json_is_object(root)) {
        snprintf(err, errsz, "the body is not a JSON object");
        goto out;
    }
    if (provider_error(root, err, errsz)) {
        rc = LT_WRK_LLM_REPLY_ERROR;
        goto out;
    }
    json_t *choice = json_array_get(json_object_get(root, "choices"), 0);
    json_t *message = json_object_get(choice, "message");
    if (!json_is_object(message)) {
        snprintf(err, errsz, "no choices[0].message");
        goto out;
    }
    json_t *content = json_object_get(message, "content");
    if (content != NULL && !json_is_string(content) && !json_is_null(content)) {
        snprintf(err, errsz, "choices[0].message.content is not a string");
        goto out;
    }
    if (append(r, "", 0) < 0 ||
        (json_is_string(content) &&
         append(r, json_string_value(content), json_string_length(content)) < 0) ||
        take_string(&r->finish_reason, json_object_get(choice, "finish_reason")) < 0 ||
        take_string(&r->model, json_object_get(root, "model")) < 0) {
        rc = LT_WRK_LLM_REPLY_NOMEM;
        goto out;
    }
    take_usage(r, json_object_get(root, "usage"));
    rc = LT_WRK_LLM_REPLY_OK;
out:
    json_decref(root);
    return rc;
}

int lt_wrk_llm_reply_chunk(struct lt_wrk_llm_reply *r, const char *data, size_t len, char *err,
                           size_t errsz)
{
    int rc = LT_WRK_LLM_REPLY_MALFORMED;
    json_t *root = NULL;

    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        r->done = 1;
        return LT_WRK_LLM_REPLY_OK;
    }
    if (r->done) {
        snprintf(err, errsz, "a stream event after [DONE]");
        return LT_WRK_LLM_REPLY_MALFORMED;
    }
    root = json_loadb(data, len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(root)) {
        snprintf(err, errsz, "a stream event is not a JSON object");
        goto out;
    }
    if (provider_error(root, err, errsz)) {
        rc = LT_WRK_LLM_REPLY_ERROR;
        goto out;
    }
    json_t *choices = json_object_get(root, "choices");
    if (choices != NULL && !json_is_array(choices)) {
        snprintf(err, errsz, "a stream event's choices is not an array");
        goto out;
    }
    json_t *choice = json_array_get(choices, 0);
    json_t *delta = json_object_get(choice, "delta");
    json_t *piece = json_object_get(delta, "content");
    if (piece != NULL && !json_is_string(piece) && !json_is_null(piece)) {
        snprintf(err, errsz, "a stream event's delta.content is not a string");
        goto out;
    }
    if (r->model == NULL && take_string(&r->model, json_object_get(root, "model")) < 0) {
        rc = LT_WRK_LLM_REPLY_NOMEM;
        goto out;
    }
    if (json_is_string(piece) && json_string_length(piece) > 0) {
        if (append(r, json_string_value(piece), json_string_length(piece)) < 0) {
            rc = LT_WRK_LLM_REPLY_NOMEM;
            goto out;
        }
        r->deltas++;
    }
    if (take_string(&r->finish_reason, json_object_get(choice, "finish_reason")) < 0) {
        rc = LT_WRK_LLM_REPLY_NOMEM;
        goto out;
    }
    take_usage(r, json_object_get(root, "usage"));
    rc = LT_WRK_LLM_REPLY_OK;
out:
    json_decref(root);
    return rc;
}

int lt_wrk_llm_reply_complete(const struct lt_wrk_llm_reply *r)
{
    return r->done || r->finish_reason != NULL;
}

json_t *lt_wrk_llm_reply_result(const struct lt_wrk_llm_reply *r, const char *provider,
                                const char *model_asked, const char *fallback_from, int partial)
{
    const char *model = r->model != NULL ? r->model : model_asked;
    json_t *out = json_object();
    if (out == NULL) {
        return NULL;
    }
    int bad = json_object_set_new(
                  out, "content",
                  json_stringn(r->content != NULL ? r->content : "", r->content_len)) < 0 ||
              json_object_set_new(out, "model", json_string(model != NULL ? model : "")) < 0 ||
              json_object_set_new(out, "provider", json_string(provider)) < 0;
    if (partial) {
        bad = bad || json_object_set_new(out, "partial", json_true()) < 0;
    } else {
        bad = bad ||
              json_object_set_new(out, "finish_reason",
                                  r->finish_reason != NULL ? json_string(r->finish_reason)
                                                           : json_null()) < 0 ||
              json_object_set_new(out, "usage",
                                  json_pack("{sI sI sI}", "prompt_tokens",
                                            (json_int_t)r->prompt_tokens, "completion_tokens",
                                            (json_int_t)r->completion_tokens, "total_tokens",
                                            (json_int_t)r->total_tokens)) < 0;
    }
    if (fallback_from != NULL) {
        bad = bad || json_object_set_new(out, "degraded", json_true()) < 0 ||
              json_object_set_new(out, "fallback_from", json_string(fallback_from)) < 0;
    }
    if (bad) {
        json_decref(out);
        return NULL;
    }
    return out;
}
