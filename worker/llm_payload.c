/*
 * llm_payload.c -- see llm_payload.h. The limits match the API's validation of the same
 * payload (fcgi/api_payload.c), so anything the API admits passes here.
 */
#include "llm_payload.h"

#include <string.h>

static int one_of(const char *s, const char *const *set)
{
    for (; *set != NULL; set++) {
        if (strcmp(s, *set) == 0) {
            return 1;
        }
    }
    return 0;
}

static int number_in(json_t *v, double lo, double hi)
{
    return json_is_number(v) && json_number_value(v) >= lo && json_number_value(v) <= hi;
}

const char *lt_wrk_llm_check_payload(json_t *p)
{
    static const char *const roles[] = {"system", "user", "assistant", "tool", "developer", NULL};
    json_t *msgs = json_object_get(p, "messages"), *v;
    size_t i;

    if (!json_is_object(p)) {
        return "invalid payload: must be an object";
    }
    if (!json_is_array(msgs) || json_array_size(msgs) < 1 ||
        json_array_size(msgs) > LT_WRK_LLM_MAX_MESSAGES) {
        return "invalid payload: messages must be an array of 1-1000 messages";
    }
    json_array_foreach(msgs, i, v)
    {
        json_t *role = json_object_get(v, "role"), *content = json_object_get(v, "content");
        if (!json_is_object(v) || !json_is_string(role) ||
            !one_of(json_string_value(role), roles)) {
            return "invalid payload: each message needs a known role";
        }
        /* An assistant turn that only carried tool calls may have null content. */
        if (!(json_is_string(content) || json_is_array(content) ||
              (json_is_null(content) && strcmp(json_string_value(role), "assistant") == 0))) {
            return "invalid payload: each message needs a string or array content";
        }
    }
    if ((v = json_object_get(p, "model")) != NULL &&
        (!json_is_string(v) || json_string_length(v) == 0)) {
        return "invalid payload: model must be a non-empty string";
    }
    if ((v = json_object_get(p, "provider")) != NULL && !json_is_string(v)) {
        return "invalid payload: provider must be a string";
    }
    if ((v = json_object_get(p, "temperature")) != NULL && !number_in(v, 0, 2)) {
        return "invalid payload: temperature must be a number 0..2";
    }
    if ((v = json_object_get(p, "top_p")) != NULL && !number_in(v, 0, 1)) {
        return "invalid payload: top_p must be a number 0..1";
    }
    if ((v = json_object_get(p, "max_tokens")) != NULL &&
        (!json_is_integer(v) || json_integer_value(v) < 1 ||
         json_integer_value(v) > LT_WRK_LLM_MAX_TOKENS)) {
        return "invalid payload: max_tokens must be an integer 1..1000000";
    }
    if ((v = json_object_get(p, "stream")) != NULL && !json_is_boolean(v)) {
        return "invalid payload: stream must be a boolean";
    }
    if ((v = json_object_get(p, "response_format")) != NULL && !json_is_object(v)) {
        return "invalid payload: response_format must be an object";
    }
    if ((v = json_object_get(p, "stop")) != NULL && !json_is_string(v) && !json_is_array(v)) {
        return "invalid payload: stop must be a string or an array";
    }
    return NULL;
}

char *lt_wrk_llm_request_body(json_t *p, const char *model, int stream)
{
    static const char *const optional[] = {"temperature",     "top_p", "max_tokens",
                                           "response_format", "stop",  NULL};
    json_t *body = json_pack("{ss sO}", "model", model, "messages", json_object_get(p, "messages"));
    char *text = NULL;
    if (body == NULL) {
        return NULL;
    }
    for (const char *const *k = optional; *k != NULL; k++) {
        json_t *v = json_object_get(p, *k);
        if (v != NULL && json_object_set(body, *k, v) < 0) {
            goto out;
        }
    }
    if (stream &&
        (json_object_set_new(body, "stream", json_true()) < 0 ||
         json_object_set_new(body, "stream_options", json_pack("{sb}", "include_usage", 1)) < 0)) {
        goto out;
    }
    text = json_dumps(body, JSON_COMPACT);
out:
    json_decref(body);
    return text;
}
