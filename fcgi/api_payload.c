/*
 * api_payload.c -- see api_payload.h. One checker per handler kind; each walks the
 * payload once and reports every fault it finds.
 */
#include "api_payload.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "urlallow.h"

struct pcheck {
    const struct lt_cfg *cfg;
    lt_api_payload_err_fn err;
    void *ctx;
};

static void fault(struct pcheck *p, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fault(struct pcheck *p, const char *field, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    p->err(p->ctx, field, msg);
}

/* Reports every member of obj not in keys (NULL-terminated) as payload.KEY. */
static void only_keys(struct pcheck *p, json_t *obj, const char *const *keys, const char *what)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        const char *const *k = keys;
        while (*k != NULL && strcmp(*k, key) != 0) {
            k++;
        }
        if (*k == NULL) {
            char field[96];
            snprintf(field, sizeof(field), "payload.%.64s", key);
            fault(p, field, "is not a field of the %s payload", what);
        }
    }
}

static int number_in(struct pcheck *p, json_t *obj, const char *key, double min, double max)
{
    json_t *v = json_object_get(obj, key);
    char field[64];
    snprintf(field, sizeof(field), "payload.%s", key);
    if (v == NULL || json_is_null(v)) {
        return 0;
    }
    if (!json_is_number(v) || json_number_value(v) < min || json_number_value(v) > max) {
        fault(p, field, "must be a number from %g to %g", min, max);
        return -1;
    }
    return 0;
}

static int integer_in(struct pcheck *p, json_t *obj, const char *key, long long min, long long max,
                      int required)
{
    json_t *v = json_object_get(obj, key);
    char field[64];
    snprintf(field, sizeof(field), "payload.%s", key);
    if (v == NULL || json_is_null(v)) {
        if (required) {
            fault(p, field, "is required");
        }
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        fault(p, field, "must be an integer from %lld to %lld", min, max);
        return -1;
    }
    return 0;
}

/* ---- sleep ---- */

static void check_sleep(struct pcheck *p, json_t *payload)
{
    static const char *const keys[] = {"ms", "fail", NULL};
    only_keys(p, payload, keys, "sleep");
    integer_in(p, payload, "ms", 0, LT_API_SLEEP_MAX_MS, 1);
    json_t *f = json_object_get(payload, "fail");
    if (f != NULL && !json_is_null(f) &&
        !(json_is_string(f) && (strcmp(json_string_value(f), "retryable") == 0 ||
                                strcmp(json_string_value(f), "permanent") == 0))) {
        fault(p, "payload.fail", "must be \"retryable\", \"permanent\" or null");
    }
}

/* ---- llm.chat ---- */

static void check_message(struct pcheck *p, json_t *m, size_t i)
{
    static const char *const roles[] = {"system", "user", "assistant", "tool", "developer", NULL};
    char field[96];
    if (!json_is_object(m)) {
        snprintf(field, sizeof(field), "payload.messages[%zu]", i);
        fault(p, field, "must be an object with role and content");
        return;
    }
    json_t *role = json_object_get(m, "role");
    const char *const *r = roles;
    while (json_is_string(role) && *r != NULL && strcmp(*r, json_string_value(role)) != 0) {
        r++;
    }
    if (!json_is_string(role) || *r == NULL) {
        snprintf(field, sizeof(field), "payload.messages[%zu].role", i);
        fault(p, field, "must be system, user, assistant, tool or developer");
    }
    json_t *content = json_object_get(m, "content");
    int is_assistant = json_is_string(role) && strcmp(json_string_value(role), "assistant") == 0;
    /* An assistant turn that only carried tool calls may have null content. */
    if (!(json_is_string(content) || json_is_array(content) ||
          (is_assistant && json_is_null(content)))) {
        snprintf(field, sizeof(field), "payload.messages[%zu].content", i);
        fault(p, field, "must be a string or an array of content parts");
    }
}

static void check_llm(struct pcheck *p, json_t *payload)
{
    static const char *const keys[] = {"messages", "model",  "provider",        "temperature",
                                       "top_p",    "stream", "response_format", "max_tokens",
                                       "stop",     NULL};
    only_keys(p, payload, keys, "llm.chat");

    json_t *msgs = json_object_get(payload, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0 ||
        json_array_size(msgs) > LT_API_LLM_MAX_MESSAGES) {
        fault(p, "payload.messages", "must be a non-empty array of at most %d messages",
              LT_API_LLM_MAX_MESSAGES);
    } else {
        size_t i;
        json_t *m;
        json_array_foreach(msgs, i, m)
        {
            check_message(p, m, i);
        }
    }
    json_t *model = json_object_get(payload, "model");
    if (model != NULL && !(json_is_string(model) && json_string_length(model) >= 1 &&
                           json_string_length(model) <= 256)) {
        fault(p, "payload.model", "must be a string of 1 to 256 characters");
    }
    json_t *prov = json_object_get(payload, "provider");
    if (prov != NULL &&
        !(json_is_string(prov) && lt_cfg_provider(p->cfg, json_string_value(prov)) != NULL &&
          json_string_length(prov) > 0)) {
        fault(p, "payload.provider", "must name a configured provider");
    }
    number_in(p, payload, "temperature", 0, 2);
    number_in(p, payload, "top_p", 0, 1);
    integer_in(p, payload, "max_tokens", 1, LT_API_LLM_MAX_TOKENS, 0);
    json_t *stream = json_object_get(payload, "stream");
    if (stream != NULL && !json_is_boolean(stream)) {
        fault(p, "payload.stream", "must be true or false");
    }
    json_t *rf = json_object_get(payload, "response_format");
    if (rf != NULL && !json_is_object(rf)) {
        fault(p, "payload.response_format", "must be an object");
    }
    json_t *stop = json_object_get(payload, "stop");
    if (stop != NULL && !json_is_string(stop) && !json_is_array(stop) && !json_is_null(stop)) {
        fault(p, "payload.stop", "must be a string or an array of strings");
    }
}

/* ---- http.request ---- */

static int header_ok(const char *name, json_t *value)
{
    if (name[0] == '\0' || !json_is_string(value)) {
        return 0;
    }
    for (const char *c = name; *c != '\0'; c++) {
        /* RFC 9110 token characters only. */
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              strchr("!#$%&'*+-.^_`|~", *c) != NULL)) {
            return 0;
        }
    }
    return strpbrk(json_string_value(value), "\r\n") == NULL;
}

static void check_http(struct pcheck *p, json_t *payload)
{
    static const char *const keys[] = {"method", "url", "headers", "body", NULL};
    static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", NULL};
    only_keys(p, payload, keys, "http.request");

    json_t *method = json_object_get(payload, "method");
    if (method != NULL) {
        const char *const *m = methods;
        while (json_is_string(method) && *m != NULL && strcmp(*m, json_string_value(method)) != 0) {
            m++;
        }
        if (!json_is_string(method) || *m == NULL) {
            fault(p, "payload.method", "must be GET, POST, PUT, PATCH, DELETE or HEAD");
        }
    }
    json_t *url = json_object_get(payload, "url");
    char why[256];
    if (!json_is_string(url)) {
        fault(p, "payload.url", "is required: an http or https URL");
    } else if (!lt_url_allowed(json_string_value(url), p->cfg->http_allow_hosts, why,
                               sizeof(why))) {
        fault(p, "payload.url", "%s", why);
    }
    json_t *headers = json_object_get(payload, "headers");
    if (headers != NULL) {
        const char *name;
        json_t *v;
        if (!json_is_object(headers) || json_object_size(headers) > LT_API_HTTP_MAX_HEADERS) {
            fault(p, "payload.headers", "must be an object of at most %d string values",
                  LT_API_HTTP_MAX_HEADERS);
            return;
        }
        json_object_foreach(headers, name, v)
        {
            if (!header_ok(name, v)) {
                char field[112];
                snprintf(field, sizeof(field), "payload.headers.%.80s", name);
                fault(p, field, "must be a valid header name with a string value (no CR/LF)");
            }
        }
    }
}

void lt_api_payload_check(const struct lt_cfg *cfg, const struct lt_type_cfg *type, json_t *payload,
                          lt_api_payload_err_fn err, void *ctx)
{
    struct pcheck p = {cfg, err, ctx};
    switch (type->handler) {
    case LT_HANDLER_SLEEP:
        check_sleep(&p, payload);
        break;
    case LT_HANDLER_LLM_CHAT:
        check_llm(&p, payload);
        break;
    case LT_HANDLER_HTTP_REQUEST:
        check_http(&p, payload);
        break;
    case LT_HANDLER_NOOP:
    case LT_HANDLER_EXEC:
        break; /* any object */
    }
}
