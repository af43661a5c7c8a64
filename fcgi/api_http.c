/*
 * api_http.c -- see api_http.h.
 *
 * The body is read only after its declared length has passed the limit, so an
 * oversized upload costs a 413 and nothing more (nginx enforces the same limit in
 * front; this is the second line). jansson has no depth option, so a scan of the text
 * measures the nesting first: a hostile body of 100,000 brackets is refused before any
 * recursion. jansson itself refuses invalid UTF-8 and NUL escapes.
 */
#include "api_http.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

static const char *param(FCGX_Request *fcgx, const char *name)
{
    return fcgx != NULL ? FCGX_GetParam(name, fcgx->envp) : NULL;
}

void lt_api_req_init(struct lt_api_req *req, FCGX_Request *fcgx, const struct lt_cfg *cfg)
{
    const char *v;

    memset(req, 0, sizeof(*req));
    req->fcgx = fcgx;
    req->cfg = cfg;
    req->method = (v = param(fcgx, "REQUEST_METHOD")) != NULL ? v : "GET";
    req->query = (v = param(fcgx, "QUERY_STRING")) != NULL ? v : "";
    req->content_type = param(fcgx, "CONTENT_TYPE");
    req->content_length = param(fcgx, "CONTENT_LENGTH");
    req->authorization = param(fcgx, "HTTP_AUTHORIZATION");
    req->if_none_match = param(fcgx, "HTTP_IF_NONE_MATCH");
    req->accept = param(fcgx, "HTTP_ACCEPT");
    req->idempotency_key = param(fcgx, "HTTP_IDEMPOTENCY_KEY");

    /* nginx's DOCUMENT_URI is the normalised path; REQUEST_URI is the raw one. */
    v = param(fcgx, "DOCUMENT_URI");
    if (v == NULL || v[0] == '\0') {
        v = param(fcgx, "REQUEST_URI");
    }
    if (v == NULL) {
        v = "/";
    }
    size_t n = strcspn(v, "?");
    if (n >= sizeof(req->path)) {
        n = 0; /* too long for any route: routed as "" and answered 404 */
    }
    memcpy(req->path, v, n);
    req->path[n] = '\0';
}

int lt_api_media_type_is(const char *content_type, const char *mime)
{
    if (content_type == NULL) {
        return 0;
    }
    while (*content_type == ' ' || *content_type == '\t') {
        content_type++;
    }
    size_t n = strcspn(content_type, "; \t");
    return n == strlen(mime) && strncasecmp(content_type, mime, n) == 0;
}

int lt_api_accepts(const struct lt_api_req *req, const char *mime)
{
    const char *p = req->accept;
    size_t m = strlen(mime);

    while (p != NULL && *p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',') {
            p++;
        }
        size_t n = strcspn(p, ";, \t");
        if (n == m && strncasecmp(p, mime, n) == 0) {
            return 1;
        }
        p = strchr(p, ',');
    }
    return 0;
}

int lt_api_json_depth(const char *text, size_t len)
{
    int depth = 0, max = 0, in_string = 0;

    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\') {
                i++; /* the escaped character cannot close the string */
            } else if (c == '"') {
                in_string = 0;
            }
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max) {
                max = depth;
            }
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return max;
}

/* The declared body length: -1 when malformed, 0 when absent. */
static long declared_length(const char *v)
{
    char *end;

    if (v == NULL || v[0] == '\0') {
        return 0;
    }
    if (v[0] < '0' || v[0] > '9') {
        return -1;
    }
    errno = 0;
    long n = strtol(v, &end, 10);
    return errno != 0 || *end != '\0' ? -1 : n;
}

json_t *lt_api_read_json(struct lt_api_req *req)
{
    json_t *doc = NULL;
    json_error_t jerr;
    char *buf = NULL;
    long want = declared_length(req->content_length);
    long got = 0;

    if (want < 0) {
        lt_api_send_problem(req, 400, "invalid_request", NULL, NULL, "Content-Length is malformed");
        goto out;
    }
    if (want > req->cfg->api_max_body_bytes) {
        lt_api_send_problem(req, 413, "payload_too_large", NULL, NULL,
                            "the body has %ld bytes, the limit is %ld", want,
                            req->cfg->api_max_body_bytes);
        goto out;
    }
    buf = malloc((size_t)want + 1);
    if (buf == NULL) {
        lt_api_send_internal(req);
        goto out;
    }
    while (got < want && req->fcgx != NULL) {
        int n = FCGX_GetStr(buf + got, (int)(want - got), req->fcgx->in);
        if (n <= 0) {
            break;
        }
        got += n;
    }
    if (got < want) {
        lt_api_send_problem(req, 400, "invalid_request", NULL, NULL,
                            "the body ended after %ld of %ld bytes", got, want);
        goto out;
    }
    buf[got] = '\0';
    if (lt_api_json_depth(buf, (size_t)got) > req->cfg->api_max_json_depth) {
        lt_api_send_problem(req, 400, "invalid_json", NULL, NULL,
                            "JSON nested deeper than %d levels", req->cfg->api_max_json_depth);
        goto out;
    }
    doc = json_loadb(buf, (size_t)got, 0, &jerr);
    if (doc == NULL) {
        lt_api_send_problem(req, 400, "invalid_json", NULL, NULL,
                            "malformed JSON at line %d, column %d: %s", jerr.line, jerr.column,
                            jerr.text);
    }
out:
    free(buf);
    return doc;
}

const char *lt_api_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

/* Titles are per code, not per status: two 409s mean different things to a person. */
static const struct {
    const char *code;
    const char *title;
} titles[] = {
    {"invalid_json", "Malformed JSON"},
    {"invalid_request", "Invalid request"},
    {"invalid_query", "Invalid query parameter"},
    {"unauthorized", "Authentication required"},
    {"invalid_token", "Invalid token"},
    {"forbidden", "Forbidden"},
    {"not_found", "Not found"},
    {"method_not_allowed", "Method not allowed"},
    {"task_finished", "Task already finished"},
    {"task_not_retryable", "Task not retryable"},
    {"quota_exceeded", "Quota exceeded"},
    {"active_limit_exceeded", "Active task limit exceeded"},
    {"idempotency_key_reused", "Idempotency key reused"},
    {"idempotency_key_in_flight", "Idempotency key in flight"},
    {"idempotency_not_supported", "Idempotency-Key not supported here"},
    {"payload_too_large", "Body too large"},
    {"unsupported_media_type", "Unsupported media type"},
    {"unknown_type", "Unknown task type"},
    {"validation_failed", "Validation failed"},
    {"database_unavailable", "Database unavailable"},
    {"schema_outdated", "Database schema outdated"},
    {"internal", "Internal error"},
};

json_t *lt_api_problem(int status, const char *code, const char *detail, json_t *errors)
{
    const char *title = lt_api_reason(status);
    char type[128];

    for (size_t i = 0; i < sizeof(titles) / sizeof(titles[0]); i++) {
        if (strcmp(titles[i].code, code) == 0) {
            title = titles[i].title;
        }
    }
    snprintf(type, sizeof(type), "urn:longtask:error:%s", code);
    json_t *p = json_pack("{ss ss si ss ss}", "type", type, "title", title, "status", status,
                          "detail", detail, "code", code);
    if (p != NULL && errors != NULL) {
        json_object_set(p, "errors", errors);
    }
    json_decref(errors);
    return p;
}

void lt_api_send(struct lt_api_req *req, int status, const char *content_type, const char *headers,
                 const char *body, size_t len)
{
    if (req->responded) {
        return;
    }
    req->responded = 1;
    req->status = status;
    if (req->fcgx == NULL) {
        return;
    }
    /* libfcgi's own printf knows no %zu: the head is formatted here. */
    FCGX_Stream *out = req->fcgx->out;
    char head[256];
    int n = snprintf(head, sizeof(head), "Status: %d %s\r\n", status, lt_api_reason(status));
    if (content_type != NULL) {
        n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Type: %s\r\n", content_type);
    }
    if (status != 304) {
        n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %zu\r\n", len);
    }
    snprintf(head + n, sizeof(head) - (size_t)n, "Cache-Control: private, no-cache\r\n");
    FCGX_PutS(head, out);
    if (headers != NULL) {
        FCGX_PutS(headers, out);
    }
    FCGX_PutS("\r\n", out);
    if (body != NULL && len > 0 && status != 304) {
        FCGX_PutStr(body, (int)len, out);
    }
}

/* Written when even the problem cannot be built. */
static const char oom_problem[] =
    "{\"type\":\"urn:longtask:error:internal\",\"title\":\"Internal error\","
    "\"status\":500,\"detail\":\"out of memory\",\"code\":\"internal\"}";

void lt_api_send_json(struct lt_api_req *req, int status, const char *headers, json_t *body)
{
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    if (text == NULL) {
        lt_log_error("json_dump_failed", NULL, "cannot serialise a response");
        lt_api_send(req, 500, "application/problem+json", NULL, oom_problem,
                    sizeof(oom_problem) - 1);
        goto out;
    }
    lt_api_send(req, status, status >= 400 ? "application/problem+json" : "application/json",
                headers, text, strlen(text));
out:
    free(text);
    json_decref(body);
}

void lt_api_send_problem(struct lt_api_req *req, int status, const char *code, const char *headers,
                         json_t *errors, const char *fmt, ...)
{
    char detail[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    lt_api_send_json(req, status, headers, lt_api_problem(status, code, detail, errors));
}

void lt_api_send_db_down(struct lt_api_req *req)
{
    lt_api_send_problem(req, 503, "database_unavailable", "Retry-After: 2\r\n", NULL,
                        "the database is unreachable; retry shortly");
}

void lt_api_send_internal(struct lt_api_req *req)
{
    lt_api_send_problem(req, 500, "internal", NULL, NULL,
                        "an unexpected error occurred; it has been logged");
}
