/*
 * test_wrk_llm.c -- the llm.chat pieces that need no network: failure classes (HTTP
 * statuses, curl codes), Retry-After in seconds, as an HTTP date and as retry-after-ms,
 * the provider's error message, replies assembled from a body or from stream chunks
 * (and the malformed ones), the provider table's FIFO cap and circuit breaker, and the
 * handler refusing bad payloads and unknown providers permanently before any call.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "handler.h"
#include "llm_classify.h"
#include "llm_payload.h"
#include "llm_reply.h"
#include "provider.h"
#include "task.h"

static void test_status_classes(void **state)
{
    (void)state;
    const long retryable[] = {408, 409, 429, 500, 502, 503, 504, 599};
    const long permanent[] = {400, 401, 403, 404, 405, 413, 422, 451};
    for (size_t i = 0; i < sizeof(retryable) / sizeof(retryable[0]); i++) {
        assert_true(lt_wrk_llm_status_retryable(retryable[i]));
    }
    for (size_t i = 0; i < sizeof(permanent) / sizeof(permanent[0]); i++) {
        assert_false(lt_wrk_llm_status_retryable(permanent[i]));
    }
    assert_true(lt_wrk_llm_curl_retryable(CURLE_COULDNT_CONNECT));
    assert_true(lt_wrk_llm_curl_retryable(CURLE_OPERATION_TIMEDOUT));
    assert_true(lt_wrk_llm_curl_retryable(CURLE_GOT_NOTHING));
    assert_true(lt_wrk_llm_curl_retryable(CURLE_COULDNT_RESOLVE_HOST));
    assert_false(lt_wrk_llm_curl_retryable(CURLE_URL_MALFORMAT));
    assert_false(lt_wrk_llm_curl_retryable(CURLE_UNSUPPORTED_PROTOCOL));
    assert_true(lt_wrk_llm_curl_timeout(CURLE_OPERATION_TIMEDOUT));
    assert_false(lt_wrk_llm_curl_timeout(CURLE_COULDNT_CONNECT));
}

static void test_retry_after(void **state)
{
    (void)state;
    time_t now = 1700000000; /* Tue, 14 Nov 2023 22:13:20 GMT */
    assert_int_equal(lt_wrk_llm_retry_after_ms("3", NULL, now), 3000);
    assert_int_equal(lt_wrk_llm_retry_after_ms(" 12 ", NULL, now), 12000);
    assert_int_equal(lt_wrk_llm_retry_after_ms("0", NULL, now), 0);
    assert_int_equal(lt_wrk_llm_retry_after_ms(NULL, NULL, now), 0);
    assert_int_equal(lt_wrk_llm_retry_after_ms("soon", NULL, now), 0);
    assert_int_equal(lt_wrk_llm_retry_after_ms("-5", NULL, now), 0);
    /* An HTTP date, in the future and in the past. */
    assert_int_equal(lt_wrk_llm_retry_after_ms("Tue, 14 Nov 2023 22:13:50 GMT", NULL, now), 30000);
    assert_int_equal(lt_wrk_llm_retry_after_ms("Tue, 14 Nov 2023 22:00:00 GMT", NULL, now), 0);
    /* retry-after-ms wins, fractions are cut, garbage falls back to Retry-After. */
    assert_int_equal(lt_wrk_llm_retry_after_ms("3", "1500", now), 1500);
    assert_int_equal(lt_wrk_llm_retry_after_ms(NULL, "250.7", now), 250);
    assert_int_equal(lt_wrk_llm_retry_after_ms("2", "x", now), 2000);
    /* Capped at a day. */
    assert_int_equal(lt_wrk_llm_retry_after_ms("999999999999", NULL, now), 86400000);
}

static void test_error_message(void **state)
{
    (void)state;
    char out[32];
    const char *b1 = "{\"error\": {\"message\": \"bad key\\nsorry\", \"type\": \"x\"}}";
    assert_true(lt_wrk_llm_error_message(b1, strlen(b1), out, sizeof(out)));
    assert_string_equal(out, "bad key sorry");
    const char *b2 = "{\"error\": \"plain\"}";
    assert_true(lt_wrk_llm_error_message(b2, strlen(b2), out, sizeof(out)));
    assert_string_equal(out, "plain");
    assert_false(lt_wrk_llm_error_message("<html>", 6, out, sizeof(out)));
    assert_string_equal(out, "");
    assert_false(lt_wrk_llm_error_message(NULL, 0, out, sizeof(out)));
    /* Cut on a character boundary: "é" is two bytes and must not be torn. */
    char small[4];
    const char *b3 = "{\"message\": \"ab\\u00e9\"}";
    assert_true(lt_wrk_llm_error_message(b3, strlen(b3), small, sizeof(small)));
    assert_string_equal(small, "ab");
}

static void test_reply_body(void **state)
{
    (void)state;
    struct lt_wrk_llm_reply r;
    char err[128];
    const char *ok = "{\"model\": \"m1\", \"choices\": [{\"index\": 0, \"message\": {\"role\": "
                     "\"assistant\", \"content\": \"hi\\u0000 there\"}, \"finish_reason\": "
                     "\"stop\"}], \"usage\": {\"prompt_tokens\": 3, \"completion_tokens\": 2, "
                     "\"total_tokens\": 5}}";
    lt_wrk_llm_reply_init(&r);
    assert_int_equal(lt_wrk_llm_reply_body(&r, ok, strlen(ok), err, sizeof(err)), 0);
    json_t *res = lt_wrk_llm_reply_result(&r, "p", "asked", NULL, 0);
    assert_non_null(res);
    assert_string_equal(json_string_value(json_object_get(res, "content")), "hi there");
    assert_string_equal(json_string_value(json_object_get(res, "model")), "m1");
    assert_string_equal(json_string_value(json_object_get(res, "provider")), "p");
    assert_string_equal(json_string_value(json_object_get(res, "finish_reason")), "stop");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(res, "usage"), "total_tokens")), 5);
    assert_null(json_object_get(res, "degraded"));
    json_decref(res);
    res = lt_wrk_llm_reply_result(&r, "backup", "asked", "primary", 0);
    assert_true(json_is_true(json_object_get(res, "degraded")));
    assert_string_equal(json_string_value(json_object_get(res, "fallback_from")), "primary");
    json_decref(res);
    lt_wrk_llm_reply_free(&r);

    const char *bad[] = {"{\"id\": \"x\", \"choices\": [{\"mess", "[]", "{\"choices\": []}",
                         "{\"choices\": [{\"message\": {\"content\": 5}}]}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        lt_wrk_llm_reply_init(&r);
        assert_int_equal(lt_wrk_llm_reply_body(&r, bad[i], strlen(bad[i]), err, sizeof(err)),
                         LT_WRK_LLM_REPLY_MALFORMED);
        lt_wrk_llm_reply_free(&r);
    }
    const char *perr = "{\"error\": {\"message\": \"overloaded\"}}";
    lt_wrk_llm_reply_init(&r);
    assert_int_equal(lt_wrk_llm_reply_body(&r, perr, strlen(perr), err, sizeof(err)),
                     LT_WRK_LLM_REPLY_ERROR);
    assert_string_equal(err, "overloaded");
    lt_wrk_llm_reply_free(&r);
}

static int chunk(struct lt_wrk_llm_reply *r, const char *data)
{
    char err[128];
    return lt_wrk_llm_reply_chunk(r, data, strlen(data), err, sizeof(err));
}

static void test_reply_stream(void **state)
{
    (void)state;
    struct lt_wrk_llm_reply r;
    lt_wrk_llm_reply_init(&r);
    assert_int_equal(chunk(&r, "{\"model\": \"m\", \"choices\": [{\"delta\": {\"role\": "
                               "\"assistant\", \"content\": \"\"}, \"finish_reason\": null}]}"),
                     0);
    assert_int_equal(chunk(&r, "{\"choices\": [{\"delta\": {\"content\": \"Hel\"}}]}"), 0);
    assert_int_equal(chunk(&r, "{\"choices\": [{\"delta\": {\"content\": \"lo\"}}]}"), 0);
    assert_false(lt_wrk_llm_reply_complete(&r));
    json_t *snap = lt_wrk_llm_reply_result(&r, "p", "asked", NULL, 1);
    assert_string_equal(json_string_value(json_object_get(snap, "content")), "Hello");
    assert_true(json_is_true(json_object_get(snap, "partial")));
    json_decref(snap);
    assert_int_equal(chunk(&r, "{\"choices\": [{\"delta\": {}, \"finish_reason\": \"stop\"}]}"), 0);
    assert_true(lt_wrk_llm_reply_complete(&r));
    assert_int_equal(chunk(&r, "{\"choices\": [], \"usage\": {\"prompt_tokens\": 4, "
                               "\"completion_tokens\": 2, \"total_tokens\": 6}}"),
                     0);
    assert_int_equal(chunk(&r, "[DONE]"), 0);
    assert_int_equal(r.deltas, 2);
    json_t *res = lt_wrk_llm_reply_result(&r, "p", "asked", NULL, 0);
    assert_string_equal(json_string_value(json_object_get(res, "content")), "Hello");
    assert_string_equal(json_string_value(json_object_get(res, "model")), "m");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(res, "usage"), "completion_tokens")), 2);
    json_decref(res);
    /* Nothing may follow [DONE]. */
    assert_int_equal(chunk(&r, "{}"), LT_WRK_LLM_REPLY_MALFORMED);
    lt_wrk_llm_reply_free(&r);

    lt_wrk_llm_reply_init(&r);
    assert_int_equal(chunk(&r, "{\"id\": \"chatcmpl-broken\", \"choices\": [{\"del"),
                     LT_WRK_LLM_REPLY_MALFORMED);
    assert_int_equal(chunk(&r, "{\"choices\": {}}"), LT_WRK_LLM_REPLY_MALFORMED);
    assert_int_equal(chunk(&r, "{\"error\": {\"message\": \"boom\"}}"), LT_WRK_LLM_REPLY_ERROR);
    lt_wrk_llm_reply_free(&r);
}

static void test_request_body(void **state)
{
    (void)state;
    json_t *p = json_loads("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}],"
                           " \"provider\": \"x\", \"temperature\": 0.5, \"stop\": [\"a\"],"
                           " \"stream\": true, \"model\": \"ignored-here\"}",
                           0, NULL);
    assert_non_null(p);
    assert_null(lt_wrk_llm_check_payload(p));
    char *text = lt_wrk_llm_request_body(p, "m", 1);
    json_t *b = json_loads(text, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(b, "model")), "m");
    assert_int_equal(json_array_size(json_object_get(b, "messages")), 1);
    assert_true(json_is_true(json_object_get(b, "stream")));
    assert_true(
        json_is_true(json_object_get(json_object_get(b, "stream_options"), "include_usage")));
    assert_true(json_is_real(json_object_get(b, "temperature")));
    assert_non_null(json_object_get(b, "stop"));
    /* Routing fields stay with longtask. */
    assert_null(json_object_get(b, "provider"));
    assert_null(json_object_get(b, "max_tokens"));
    json_decref(b);
    free(text);
    text = lt_wrk_llm_request_body(p, "m", 0);
    b = json_loads(text, 0, NULL);
    assert_null(json_object_get(b, "stream"));
    assert_null(json_object_get(b, "stream_options"));
    json_decref(b);
    free(text);
    json_decref(p);
}

/* ---- the provider table ---- */

static int ready_order[16];
static int nready;

static void on_ready(void *arg)
{
    ready_order[nready++] = (int)(intptr_t)arg;
}

static void test_cap_fifo(void **state)
{
    (void)state;
    struct lt_provider_cfg p;
    struct lt_wrk_provider_waiter w[6];
    memset(&p, 0, sizeof(p));
    memset(w, 0, sizeof(w));
    snprintf(p.name, sizeof(p.name), "capped");
    p.max_concurrent = 2;
    nready = 0;
    for (int i = 0; i < 6; i++) {
        w[i].ready = on_ready;
        w[i].arg = (void *)(intptr_t)i;
        assert_int_equal(lt_wrk_provider_acquire(&p, &w[i]), i < 2 ? 1 : 0);
    }
    assert_int_equal(lt_wrk_provider_in_flight(&p), 2);
    assert_int_equal(lt_wrk_provider_waiting(&p), 4);
    lt_wrk_provider_unwait(&p, &w[3]); /* a waiting task cancelled */
    lt_wrk_provider_unwait(&p, &w[3]); /* twice is harmless */
    lt_wrk_provider_release(&p);
    lt_wrk_provider_release(&p);
    assert_int_equal(nready, 2);
    assert_int_equal(ready_order[0], 2);
    assert_int_equal(ready_order[1], 4);
    assert_int_equal(lt_wrk_provider_in_flight(&p), 2);
    lt_wrk_provider_release(&p);
    assert_int_equal(ready_order[2], 5);
    lt_wrk_provider_release(&p);
    lt_wrk_provider_release(&p);
    assert_int_equal(lt_wrk_provider_in_flight(&p), 0);
    assert_int_equal(lt_wrk_provider_waiting(&p), 0);
    lt_wrk_provider_release(&p); /* never below zero */
    assert_int_equal(lt_wrk_provider_in_flight(&p), 0);
    lt_wrk_provider_reset();
}

static void test_circuit(void **state)
{
    (void)state;
    struct lt_provider_cfg p;
    int64_t wait = 0, now = 1000000;
    memset(&p, 0, sizeof(p));
    snprintf(p.name, sizeof(p.name), "flaky");
    p.circuit_failures = 3;
    p.circuit_cooldown_s = 10;

    for (int i = 0; i < 2; i++) {
        assert_int_equal(lt_wrk_provider_admit(&p, now, &wait), LT_WRK_ADMIT_CLOSED);
        lt_wrk_provider_report(&p, 0, LT_WRK_CALL_FAILED, now);
    }
    /* A success in between resets the count. */
    lt_wrk_provider_report(&p, 0, LT_WRK_CALL_OK, now);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(lt_wrk_provider_admit(&p, now, &wait), LT_WRK_ADMIT_CLOSED);
        lt_wrk_provider_report(&p, 0, LT_WRK_CALL_FAILED, now);
    }
    assert_int_equal(lt_wrk_provider_admit(&p, now + 4000, &wait), LT_WRK_ADMIT_OPEN);
    assert_int_equal(wait, 6000);
    /* Cool-down over: one trial; others wait for it. */
    assert_int_equal(lt_wrk_provider_admit(&p, now + 10000, &wait), LT_WRK_ADMIT_TRIAL);
    assert_int_equal(lt_wrk_provider_admit(&p, now + 10000, &wait), LT_WRK_ADMIT_OPEN);
    assert_true(wait > 0);
    /* An abandoned trial gives no verdict: the next call is the trial. */
    lt_wrk_provider_report(&p, 1, LT_WRK_CALL_ABANDONED, now + 10000);
    assert_int_equal(lt_wrk_provider_admit(&p, now + 10001, &wait), LT_WRK_ADMIT_TRIAL);
    /* A failed trial opens it again for a whole cool-down. */
    lt_wrk_provider_report(&p, 1, LT_WRK_CALL_FAILED, now + 11000);
    assert_int_equal(lt_wrk_provider_admit(&p, now + 12000, &wait), LT_WRK_ADMIT_OPEN);
    assert_int_equal(wait, 9000);
    /* A successful trial closes it. */
    assert_int_equal(lt_wrk_provider_admit(&p, now + 21000, &wait), LT_WRK_ADMIT_TRIAL);
    lt_wrk_provider_report(&p, 1, LT_WRK_CALL_OK, now + 21500);
    assert_int_equal(lt_wrk_provider_admit(&p, now + 21600, &wait), LT_WRK_ADMIT_CLOSED);
    assert_int_equal(lt_wrk_provider_admit(&p, now + 21600, &wait), LT_WRK_ADMIT_CLOSED);
    lt_wrk_provider_reset();
}

/* ---- the handler before any call ---- */

static int finished;

static void rec_finished(struct lt_wrk_task *task, void *arg)
{
    (void)task;
    (void)arg;
    finished++;
}

static void test_handler_refuses_garbage(void **state)
{
    (void)state;
    struct lt_cfg cfg;
    struct lt_err err;
    lt_wrk_loop_t *loop = lt_wrk_loop_new();
    struct lt_wrk_task_owner owner = {loop, NULL, rec_finished, NULL, NULL};
    const char *bad[] = {
        "[]",
        "{}",
        "{\"messages\": []}",
        "{\"messages\": [{\"role\": \"wizard\", \"content\": \"x\"}]}",
        "{\"messages\": [{\"role\": \"user\"}]}",
        "{\"messages\": [{\"role\": \"user\", \"content\": 5}]}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"temperature\": 3}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"top_p\": -1}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"max_tokens\": 0}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"stream\": 1}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"model\": \"\"}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"stop\": 1}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"provider\": \"nope\"}",
    };
    assert_non_null(loop);
    assert_int_equal(lt_cfg_load(&cfg, NULL, &err), 0);
    finished = 0;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct lt_wrk_task *t =
            lt_wrk_task_new("0190c2a4-0000-7000-8000-000000000009", "llm.chat", "default",
                            json_loads(bad[i], JSON_DECODE_ANY, NULL), 1, 2, 30);
        assert_non_null(t);
        t->cfg = &cfg;
        lt_wrk_handler_start(t, &lt_wrk_handler_llm, &owner);
        assert_int_equal(t->outcome, LT_WRK_OUTCOME_PERMANENT);
        assert_non_null(strstr(t->error, "invalid payload"));
        lt_wrk_task_free(t);
    }
    assert_int_equal(finished, (int)(sizeof(bad) / sizeof(bad[0])));
    assert_int_equal(lt_wrk_loop_transfers(loop), 0);
    lt_cfg_free(&cfg);
    lt_wrk_loop_free(loop);
    lt_wrk_provider_reset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_classes),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_error_message),
        cmocka_unit_test(test_reply_body),
        cmocka_unit_test(test_reply_stream),
        cmocka_unit_test(test_request_body),
        cmocka_unit_test(test_cap_fifo),
        cmocka_unit_test(test_circuit),
        cmocka_unit_test(test_handler_refuses_garbage),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests_name("wrk_llm", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
