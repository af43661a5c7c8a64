/*
 * llm_classify.h -- how an LLM call's failure is classified (CONVENTIONS.md, "OpenAI-
 * compatible providers"): retry on connection errors, timeouts, 408, 409, 429 and 5xx;
 * never on the other 4xx; and how long the provider asks us to wait (Retry-After in
 * seconds or as an HTTP date, or retry-after-ms). Pure functions, so the table is
 * unit-tested without a network.
 */
#ifndef LT_WRK_LLM_CLASSIFY_H
#define LT_WRK_LLM_CLASSIFY_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* 1 when a non-2xx HTTP status is worth retrying, 0 when it is permanent. */
int lt_wrk_llm_status_retryable(long status);

/* 1 when a transfer that failed with code (no HTTP answer to judge) is worth retrying:
 * connection trouble and timeouts are; a malformed URL or an unsupported protocol (a
 * configuration error) is not. */
int lt_wrk_llm_curl_retryable(CURLcode code);

/* 1 when code is a timeout. */
int lt_wrk_llm_curl_timeout(CURLcode code);

/* The wait the provider asked for, in ms: retry_after_ms (the `retry-after-ms` header,
 * a number of milliseconds) wins when valid, else retry_after (`Retry-After`: delta
 * seconds, or an HTTP date compared with now). Either may be NULL. 0 when neither gives
 * a wait in the future; capped at one day. */
int64_t lt_wrk_llm_retry_after_ms(const char *retry_after, const char *retry_after_ms, time_t now);

/* The provider's own error message from an error body ({"error": {"message": ...}},
 * or {"error": "..."}, or {"message": ...}), copied into out (at most outsz bytes, NUL
 * included, control characters replaced by spaces). Returns 1 when found, else 0 with
 * out set to "". */
int lt_wrk_llm_error_message(const char *body, size_t len, char *out, size_t outsz);

#endif
