/*
 * llm_classify.c -- see llm_classify.h. HTTP dates are parsed by libcurl's own
 * curl_getdate (RFC 1123, RFC 850 and asctime forms), not by hand.
 */
#include "llm_classify.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A provider asking for more than a day is misconfigured; the backoff cap still
 * applies below this. */
#define RETRY_AFTER_MAX_MS 86400000LL

int lt_wrk_llm_status_retryable(long status)
{
    switch (status) {
    case 408: /* request timeout */
    case 409: /* conflict: OpenAI uses it for transient lock contention */
    case 429: /* rate limited */
        return 1;
    default:
        return status >= 500 && status <= 599;
    }
}

int lt_wrk_llm_curl_retryable(CURLcode code)
{
    switch (code) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_TOO_MANY_REDIRECTS:
        return 0;
    default:
        return 1;
    }
}

int lt_wrk_llm_curl_timeout(CURLcode code)
{
    return code == CURLE_OPERATION_TIMEDOUT;
}

/* A non-negative decimal integer filling s (surrounding blanks allowed); -1 otherwise. */
static long long parse_count(const char *s)
{
    char *end = NULL;
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    if (!isdigit((unsigned char)*s)) {
        return -1;
    }
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0) {
        return RETRY_AFTER_MAX_MS; /* overflow: "very long" */
    }
    if (*end == '.') { /* retry-after-ms is sometimes fractional: keep the whole part */
        end++;
        while (isdigit((unsigned char)*end)) {
            end++;
        }
    }
    while (*end == ' ' || *end == '\t') {
        end++;
    }
    return *end == '\0' ? v : -1;
}

int64_t lt_wrk_llm_retry_after_ms(const char *retry_after, const char *retry_after_ms, time_t now)
{
    long long ms = -1;
    if (retry_after_ms != NULL) {
        ms = parse_count(retry_after_ms);
    }
    if (ms < 0 && retry_after != NULL) {
        long long s = parse_count(retry_after);
        if (s >= 0) {
            ms = s > RETRY_AFTER_MAX_MS / 1000 ? RETRY_AFTER_MAX_MS : s * 1000;
        } else {
            time_t when = curl_getdate(retry_after, NULL);
            if (when != (time_t)-1) {
                ms = when > now ? (long long)(when - now) * 1000 : 0;
            }
        }
    }
    if (ms <= 0) {
        return 0;
    }
    return ms > RETRY_AFTER_MAX_MS ? RETRY_AFTER_MAX_MS : (int64_t)ms;
}

/* Copies s, cut to fit on a UTF-8 character boundary (the text goes to a PostgreSQL
 * text column, which refuses a torn sequence), control characters made spaces. */
static void copy_clean(char *out, size_t outsz, const char *s)
{
    size_t n = strlen(s);
    if (n + 1 > outsz) {
        n = outsz - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) {
            n--;
        }
    }
    for (size_t i = 0; i < n; i++) {
        out[i] = (unsigned char)s[i] < 0x20 ? ' ' : s[i];
    }
    out[n] = '\0';
}

int lt_wrk_llm_error_message(const char *body, size_t len, char *out, size_t outsz)
{
    json_t *root = body != NULL ? json_loadb(body, len, 0, NULL) : NULL;
    const char *msg = NULL;
    if (outsz > 0) {
        out[0] = '\0';
    }
    if (json_is_object(root)) {
        json_t *err = json_object_get(root, "error");
        if (json_is_object(err)) {
            msg = json_string_value(json_object_get(err, "message"));
        } else if (json_is_string(err)) {
            msg = json_string_value(err);
        }
        if (msg == NULL) {
            msg = json_string_value(json_object_get(root, "message"));
        }
    }
    if (msg != NULL && msg[0] != '\0' && outsz > 0) {
        copy_clean(out, outsz, msg);
    }
    json_decref(root);
    return outsz > 0 && out[0] != '\0';
}
