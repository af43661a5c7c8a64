/*
 * handler_http.c -- the `http.request` type: {"method"?, "url", "headers"?, "body"?}
 * sent to a host of http.allow_hosts through the child's curl multi (never blocking),
 * answered with {"status", "headers", "body"[, "json"][, "truncated"]}.
 *
 * The allow list is checked again here (the API checked it at creation, but the list
 * may have changed since) with the same function and libcurl's own URL parser, so the
 * host judged is the host curl connects to. Only http and https, no redirect followed
 * (a 3xx is a result like any other), no signals, and the task's remaining time as the
 * transfer's timeout. The response body is kept up to http.max_response_bytes; past
 * that the transfer stops and the result says "truncated": true.
 *
 * Failures are classed as for llm.chat (llm_classify.h): connection errors, timeouts,
 * 408, 409, 429 and 5xx are retryable (Retry-After, seconds or HTTP date, passed on);
 * other 4xx are permanent, naming the status; 2xx and 3xx complete.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "handler.h"
#include "llm_classify.h"
#include "urlallow.h"
#include "utf8.h"

#define MAX_HEADERS 64
#define USER_AGENT "longtask/1"

struct http_state {
    struct lt_wrk_task *task;
    CURL *easy;
    struct curl_slist *req_headers;
    char *body;
    size_t body_len, body_cap;
    size_t max_body;
    int truncated;
    json_t *headers; /* the final response's, lower-case names */
    char errbuf[CURL_ERROR_SIZE];
};

static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", NULL};

static void state_free(struct http_state *s)
{
    if (s->easy != NULL) {
        curl_easy_cleanup(s->easy);
    }
    curl_slist_free_all(s->req_headers);
    json_decref(s->headers);
    free(s->body);
    free(s);
}

/* ---- the response ---- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct http_state *s = arg;
    size_t n = size * nmemb;
    size_t take = n;
    if (s->body_len + take > s->max_body) {
        take = s->max_body - s->body_len;
        s->truncated = 1;
    }
    if (s->body_len + take + 1 > s->body_cap) {
        size_t cap = s->body_cap > 0 ? s->body_cap : 16384;
        while (cap < s->body_len + take + 1) {
            cap *= 2;
        }
        char *p = realloc(s->body, cap);
        if (p == NULL) {
            return 0;
        }
        s->body = p;
        s->body_cap = cap;
    }
    memcpy(s->body + s->body_len, data, take);
    s->body_len += take;
    /* Past the cap the rest is not wanted: stop the transfer (CURLE_WRITE_ERROR). */
    return s->truncated ? 0 : n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    struct http_state *s = arg;
    size_t n = size * nmemb;
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        json_object_clear(s->headers); /* a new response (after 100 Continue) */
        return n;
    }
    const char *colon = memchr(data, ':', n);
    if (colon == NULL || colon == data) {
        return n; /* the blank line at the end, or junk */
    }
    size_t nlen = (size_t)(colon - data);
    const char *v = colon + 1, *end = data + n;
    while (v < end && (*v == ' ' || *v == '\t')) {
        v++;
    }
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }
    char *name = lt_wrk_utf8_clean(data, nlen, NULL);
    char *value = lt_wrk_utf8_clean(v, (size_t)(end - v), NULL);
    if (name == NULL || value == NULL) {
        free(name);
        free(value);
        return 0;
    }
    for (char *p = name; *p != '\0'; p++) {
        *p = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
    }
    json_t *have = json_object_get(s->headers, name);
    int rc = 0;
    if (json_is_string(have)) { /* repeated header: one value, comma-joined */
        size_t len = strlen(json_string_value(have)) + strlen(value) + 3;
        char *joined = malloc(len);
        if (joined != NULL) {
            snprintf(joined, len, "%s, %s", json_string_value(have), value);
            rc = json_object_set_new(s->headers, name, json_string(joined));
        }
        free(joined);
        rc = joined == NULL ? -1 : rc;
    } else {
        rc = json_object_set_new(s->headers, name, json_string(value));
    }
    free(name);
    free(value);
    return rc == 0 ? n : 0;
}

static int is_json_type(const char *ctype)
{
    if (ctype == NULL) {
        return 0;
    }
    size_t n = strcspn(ctype, ";");
    while (n > 0 && (ctype[n - 1] == ' ' || ctype[n - 1] == '\t')) {
        n--;
    }
    return (n == 16 && strncasecmp(ctype, "application/json", 16) == 0) ||
           (n > 5 && strncasecmp(ctype + n - 5, "+json", 5) == 0);
}

static json_t *make_result(struct http_state *s, long status)
{
    size_t len = 0;
    char *text = lt_wrk_utf8_clean(s->body != NULL ? s->body : "", s->body_len, &len);
    if (text == NULL) {
        return NULL;
    }
    json_t *r = json_pack("{sI sO ss#}", "status", (json_int_t)status, "headers", s->headers,
                          "body", text, (int)len);
    free(text);
    if (r == NULL) {
        return NULL;
    }
    json_t *ctype = json_object_get(s->headers, "content-type");
    if (!s->truncated && s->body_len > 0 && is_json_type(json_string_value(ctype))) {
        json_t *parsed = json_loadb(s->body, s->body_len, JSON_DECODE_ANY, NULL);
        if (parsed != NULL) {
            json_object_set_new(r, "json", parsed);
        }
    }
    if (s->truncated) {
        json_object_set_new(r, "truncated", json_true());
    }
    return r;
}

static void on_done(lt_wrk_loop_t *loop, CURL *easy, CURLcode code, void *arg)
{
    (void)loop;
    (void)easy; /* == s->easy, ours again */
    struct http_state *s = arg;
    struct lt_wrk_task *task = s->task;
    char msg[CURL_ERROR_SIZE + 128];
    long status = 0;

    if (code != CURLE_OK && !(code == CURLE_WRITE_ERROR && s->truncated)) {
        int retry = lt_wrk_llm_curl_retryable(code);
        snprintf(msg, sizeof(msg), "%s: %s",
                 lt_wrk_llm_curl_timeout(code) ? "timeout" : "request failed",
                 s->errbuf[0] != '\0' ? s->errbuf : curl_easy_strerror(code));
        state_free(s);
        if (retry) {
            lt_wrk_task_retryable(task, msg, 0);
        } else {
            lt_wrk_task_permanent(task, msg);
        }
        return;
    }
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 400) {
        json_t *result = make_result(s, status);
        state_free(s);
        if (result == NULL) {
            lt_wrk_task_retryable(task, "out of memory", 0);
        } else {
            lt_wrk_task_ok(task, result);
        }
        return;
    }
    snprintf(msg, sizeof(msg), "HTTP %ld from the server", status);
    if (status >= 400 && lt_wrk_llm_status_retryable(status)) {
        const char *ra = json_string_value(json_object_get(s->headers, "retry-after"));
        int64_t ms = lt_wrk_llm_retry_after_ms(ra, NULL, time(NULL));
        state_free(s);
        lt_wrk_task_retryable(task, msg, ms);
        return;
    }
    if (status < 100) {
        snprintf(msg, sizeof(msg), "no valid HTTP status in the response");
    }
    state_free(s);
    lt_wrk_task_permanent(task, msg);
}

/* ---- the request ---- */

/* An RFC 9110 token: the only characters a header name may have. */
static int is_token(const char *s)
{
    if (*s == '\0') {
        return 0;
    }
    for (; *s != '\0'; s++) {
        if (strchr("!#$%&'*+-.^_`|~", *s) == NULL && !(*s >= '0' && *s <= '9') &&
            !(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z')) {
            return 0;
        }
    }
    return 1;
}

static int add_header(struct http_state *s, const char *line)
{
    struct curl_slist *l = curl_slist_append(s->req_headers, line);
    if (l == NULL) {
        return -1;
    }
    s->req_headers = l;
    return 0;
}

/* The request headers; 1 when the payload names a Content-Type. -1 invalid (why), -2
 * out of memory. */
static int build_headers(struct http_state *s, json_t *headers, char *why, size_t whylen)
{
    const char *name;
    json_t *v;
    int has_ctype = 0, has_expect = 0;

    if (headers != NULL && !json_is_object(headers)) {
        snprintf(why, whylen, "invalid payload: headers must be an object");
        return -1;
    }
    if (json_object_size(headers) > MAX_HEADERS) {
        snprintf(why, whylen, "invalid payload: at most %d headers", MAX_HEADERS);
        return -1;
    }
    json_object_foreach(headers, name, v)
    {
        const char *value = json_string_value(v);
        if (!is_token(name) || value == NULL || strpbrk(value, "\r\n") != NULL) {
            snprintf(why, whylen,
                     "invalid payload: header %.64s must be a token with a string value "
                     "without CR or LF",
                     name);
            return -1;
        }
        size_t len = strlen(name) + strlen(value) + 3;
        char *line = malloc(len);
        if (line == NULL) {
            return -2;
        }
        /* "Name;" is curl's way to send a header with an empty value. */
        snprintf(line, len, value[0] != '\0' ? "%s: %s" : "%s;", name, value);
        int rc = add_header(s, line);
        free(line);
        if (rc < 0) {
            return -2;
        }
        has_ctype |= strcasecmp(name, "content-type") == 0;
        has_expect |= strcasecmp(name, "expect") == 0;
    }
    /* No "Expect: 100-continue" round trip unless asked for. */
    if (!has_expect && add_header(s, "Expect:") < 0) {
        return -2;
    }
    return has_ctype;
}

/* The body to send (malloc'd in *out, length *len), NULL *out when none. 0 ok, -2 out
 * of memory. JSON other than a string goes as compact JSON. */
static int body_bytes(json_t *body, char **out, size_t *len, int *is_json)
{
    *out = NULL;
    *len = 0;
    *is_json = 0;
    if (body == NULL) {
        return 0;
    }
    if (json_is_string(body)) {
        *len = json_string_length(body);
        if ((*out = malloc(*len + 1)) == NULL) {
            return -2;
        }
        memcpy(*out, json_string_value(body), *len + 1);
        return 0;
    }
    *is_json = 1;
    if ((*out = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL) {
        return -2;
    }
    *len = strlen(*out);
    return 0;
}

static int64_t remaining_ms(const struct lt_wrk_task *task)
{
    if (task->timeout_s <= 0) {
        return 0; /* no limit of its own: curl's default (none) */
    }
    int64_t left = (int64_t)task->timeout_s * 1000 - (lt_mono_ms() - task->started_ms);
    return left > 1 ? left : 1;
}

/* Configures s->easy. 0 ok, -1 invalid payload (why), -2 out of memory. */
static int configure(struct http_state *s, char *why, size_t whylen)
{
    json_t *p = s->task->payload;
    json_t *jmethod = json_object_get(p, "method");
    const char *url = json_string_value(json_object_get(p, "url"));
    const char *method = jmethod != NULL ? json_string_value(jmethod) : "GET";
    char *body = NULL;
    size_t body_len = 0;
    int is_json = 0, i;
    CURL *e = s->easy;

    for (i = 0; method != NULL && methods[i] != NULL; i++) {
        if (strcmp(methods[i], method) == 0) {
            break;
        }
    }
    if (method == NULL || methods[i] == NULL) {
        snprintf(why, whylen,
                 "invalid payload: method must be GET, POST, PUT, PATCH, DELETE or HEAD");
        return -1;
    }
    int has_ctype = build_headers(s, json_object_get(p, "headers"), why, whylen);
    if (has_ctype < 0) {
        return has_ctype;
    }
    if (body_bytes(json_object_get(p, "body"), &body, &body_len, &is_json) < 0) {
        return -2;
    }
    if (body != NULL && !has_ctype &&
        add_header(s, is_json ? "Content-Type: application/json" : "Content-Type:") < 0) {
        free(body); /* "Content-Type:" drops curl's form-urlencoded default */
        return -2;
    }

    int rc = 0;
    rc |= curl_easy_setopt(e, CURLOPT_URL, url);
    rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    rc |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    rc |= curl_easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT);
    rc |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
    rc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    rc |= curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    rc |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    rc |= curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
    rc |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->req_headers);
    rc |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)remaining_ms(s->task));
    if (strcmp(method, "HEAD") == 0) {
        rc |= curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") != 0 || body != NULL) {
        if (strcmp(method, "POST") != 0) {
            rc |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
        }
        if (body != NULL || strcmp(method, "POST") == 0) {
            rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
            rc |= curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body != NULL ? body : "");
        }
    }
    free(body);
    if (rc != 0) {
        snprintf(why, whylen, "cannot set up the request");
        return -2;
    }
    return 0;
}

static void http_start(struct lt_wrk_task *task)
{
    char why[512];
    json_t *p = task->payload;
    const char *url = json_string_value(json_object_get(p, "url"));

    if (!json_is_object(p) || url == NULL) {
        lt_wrk_task_permanent(task, "invalid payload: url must be a string");
        return;
    }
    if (!lt_url_allowed(url, task->cfg != NULL ? task->cfg->http_allow_hosts : NULL, why,
                        sizeof(why))) {
        char msg[600];
        snprintf(msg, sizeof(msg), "host not allowed: url %s", why);
        lt_wrk_task_permanent(task, msg);
        return;
    }
    struct http_state *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->headers = json_object()) == NULL || (s->easy = curl_easy_init()) == NULL) {
        if (s != NULL) {
            state_free(s);
        }
        lt_wrk_task_retryable(task, "out of memory", 0);
        return;
    }
    s->task = task;
    s->max_body = task->cfg != NULL && task->cfg->http_max_response_bytes > 0
                      ? (size_t)task->cfg->http_max_response_bytes
                      : 1048576;
    int rc = configure(s, why, sizeof(why));
    if (rc == 0 && lt_wrk_loop_transfer_add(lt_wrk_task_loop(task), s->easy, on_done, s) < 0) {
        rc = -2;
    }
    if (rc < 0) {
        state_free(s);
        if (rc == -1) {
            lt_wrk_task_permanent(task, why);
        } else {
            lt_wrk_task_retryable(task, "out of memory", 0);
        }
        return;
    }
    task->state = s;
}

static void http_abort(struct lt_wrk_task *task)
{
    struct http_state *s = task->state;
    if (s != NULL) {
        lt_wrk_loop_transfer_remove(lt_wrk_task_loop(task), s->easy);
        state_free(s);
    }
}

const struct lt_wrk_handler lt_wrk_handler_http = {"http.request", http_start, http_abort};
