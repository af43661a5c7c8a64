/*
 * test_validate.c -- input checks that never touch the database: the create body
 * (every rule, with the status class and the field named), RFC 3339 times, the list
 * and stats query strings, the list cursor and the JSON depth scan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_http.h"
#include "api_query.h"
#include "api_validate.h"
#include "cfg.h"

#define NOW_US 1800000000000000LL

static int setup(void **state)
{
    static struct lt_cfg cfg;
    struct lt_err err;
    if (lt_cfg_load(&cfg, NULL, &err) < 0) {
        return -1;
    }
    *state = &cfg;
    return 0;
}

static int teardown(void **state)
{
    lt_cfg_free(*state);
    return 0;
}

/* Validates text; returns the status (0 when valid) and the spec/verr. */
static int check(void **state, const char *text, struct lt_api_task_spec *spec,
                 struct lt_api_verr *verr, json_t **doc)
{
    json_error_t jerr;
    *doc = json_loads(text, 0, &jerr);
    assert_non_null(*doc);
    lt_api_validate_create(*state, *doc, NOW_US, spec, verr);
    return verr->status;
}

/* Asserts the body fails with status and code, naming field among its errors. */
static void expect_error(void **state, const char *text, int status, const char *code,
                         const char *field)
{
    struct lt_api_task_spec spec;
    struct lt_api_verr verr;
    json_t *doc;
    size_t i;
    json_t *e;
    int found = 0;

    assert_int_equal(check(state, text, &spec, &verr, &doc), status);
    assert_string_equal(verr.code, code);
    assert_true(json_is_array(verr.errors));
    json_array_foreach(verr.errors, i, e)
    {
        const char *f = json_string_value(json_object_get(e, "field"));
        assert_non_null(json_string_value(json_object_get(e, "message")));
        found |= f != NULL && strcmp(f, field) == 0;
    }
    if (!found) {
        char *dump = json_dumps(verr.errors, 0);
        print_error("field %s not in %s\n", field, dump);
        free(dump);
    }
    assert_true(found);
    json_decref(verr.errors);
    json_decref(doc);
}

static void expect_ok(void **state, const char *text, struct lt_api_task_spec *spec, json_t **doc)
{
    struct lt_api_verr verr;
    int status = check(state, text, spec, &verr, doc);
    if (status != 0) {
        print_error("unexpected %d: %s\n", status, verr.detail);
    }
    assert_int_equal(status, 0);
    assert_null(verr.errors);
}

static void test_minimal_body_takes_type_defaults(void **state)
{
    struct lt_api_task_spec spec;
    json_t *doc;
    expect_ok(state, "{\"type\": \"sleep\", \"payload\": {\"ms\": 5}}", &spec, &doc);
    const struct lt_type_cfg *t = lt_cfg_type(*state, "sleep");
    assert_ptr_equal(spec.type, t);
    assert_string_equal(spec.queue, t->queue);
    assert_int_equal(spec.priority, t->priority);
    assert_int_equal(spec.max_retries, t->max_retries);
    assert_int_equal(spec.timeout_s, t->timeout_s);
    assert_int_equal(spec.delay_s, 0);
    assert_false(spec.has_run_at);
    assert_null(spec.callback_url);
    assert_null(spec.metadata);
    json_decref(doc);
}

static void test_full_body(void **state)
{
    struct lt_api_task_spec spec;
    json_t *doc;
    expect_ok(state,
              "{\"type\": \"noop\", \"payload\": {\"anything\": [1, 2]}, \"queue\": \"fast-1\","
              " \"priority\": \"urgent\", \"max_retries\": 100, \"timeout_s\": 86400,"
              " \"run_at\": \"2027-01-15T10:30:00.123456Z\","
              " \"callback_url\": \"https://app.example/hook\","
              " \"metadata\": {\"client_ref\": \"book-42\"}}",
              &spec, &doc);
    assert_string_equal(spec.queue, "fast-1");
    assert_int_equal(spec.priority, 3);
    assert_int_equal(spec.max_retries, 100);
    assert_int_equal(spec.timeout_s, 86400);
    assert_true(spec.has_run_at);
    assert_int_equal(spec.run_at_us, 1800009000123456LL);
    assert_string_equal(spec.callback_url, "https://app.example/hook");
    assert_non_null(spec.metadata);
    json_decref(doc);
}

static void test_nulls_mean_default(void **state)
{
    struct lt_api_task_spec spec;
    json_t *doc;
    expect_ok(state,
              "{\"type\": \"noop\", \"payload\": {}, \"queue\": null, \"priority\": null,"
              " \"delay_s\": null, \"metadata\": null, \"callback_url\": null}",
              &spec, &doc);
    assert_int_equal(spec.priority, lt_cfg_type(*state, "noop")->priority);
    json_decref(doc);
}

static void test_structure_errors_are_400(void **state)
{
    expect_error(state, "[]", 400, "invalid_request", "");
    expect_error(state, "{\"type\": \"noop\", \"payload\": {}, \"extra\": 1}", 400,
                 "invalid_request", "extra");
    expect_error(state, "{\"payload\": {}}", 400, "invalid_request", "type");
    expect_error(state, "{\"type\": \"noop\"}", 400, "invalid_request", "payload");
    expect_error(state, "{\"type\": 5, \"payload\": {}}", 400, "invalid_request", "type");
    expect_error(state, "{\"type\": null, \"payload\": {}}", 400, "invalid_request", "type");
    expect_error(state, "{\"type\": \"noop\", \"payload\": []}", 400, "invalid_request", "payload");
    expect_error(state, "{\"type\": \"noop\", \"payload\": {}, \"priority\": 2}", 400,
                 "invalid_request", "priority");
    expect_error(state, "{\"type\": \"noop\", \"payload\": {}, \"max_retries\": \"3\"}", 400,
                 "invalid_request", "max_retries");
    expect_error(state, "{\"type\": \"noop\", \"payload\": {}, \"timeout_s\": 1.5}", 400,
                 "invalid_request", "timeout_s");
    expect_error(state, "{\"type\": \"noop\", \"payload\": {}, \"delay_s\": true}", 400,
                 "invalid_request", "delay_s");
    expect_error(state, "{\"type\": \"noop\", \"payload\": {}, \"queue\": 1}", 400,
                 "invalid_request", "queue");
    expect_error(state, "{\"type\": \"noop\", \"payload\": {}, \"run_at\": 1}", 400,
                 "invalid_request", "run_at");
    expect_error(state, "{\"type\": \"noop\", \"payload\": {}, \"callback_url\": {}}", 400,
                 "invalid_request", "callback_url");
    expect_error(state, "{\"type\": \"noop\", \"payload\": {}, \"metadata\": []}", 400,
                 "invalid_request", "metadata");
    /* A 400 and a 422 together answer 400: structure first. */
    expect_error(state, "{\"type\": \"nope\", \"payload\": {}, \"x\": 1}", 400, "invalid_request",
                 "x");
}

static void test_unknown_type_is_422(void **state)
{
    expect_error(state, "{\"type\": \"llm.nothing\", \"payload\": {}}", 422, "unknown_type",
                 "type");
}

static void test_value_errors_are_422(void **state)
{
    const char *v = "validation_failed";
    expect_error(state, "{\"type\": \"noop\", \"payload\": {}, \"queue\": \"bad queue\"}", 422, v,
                 "queue");
    expect_error(state, "{\"type\": \"noop\", \"payload\": {}, \"queue\": \"\"}", 422, v, "queue");
    expect_error(state, "{\"type\": \"noop\", \"payload\": {}, \"priority\": \"highest\"}", 422, v,
                 "priority");
    expect_error(state, "{\"type\": \"noop\", \"payload\": {}, \"max_retries\": -1}", 422, v,
                 "max_retries");
    expect_error(state, "{\"type\": \"noop\", \"payload\": {}, \"max_retries\": 101}", 422, v,
                 "max_retries");
    expect_error(state, "{\"type\": \"noop\", \"payload\": {}, \"timeout_s\": 0}", 422, v,
                 "timeout_s");
    expect_error(state, "{\"type\": \"noop\", \"payload\": {}, \"timeout_s\": 86401}", 422, v,
                 "timeout_s");
    expect_error(state, "{\"type\": \"noop\", \"payload\": {}, \"delay_s\": -1}", 422, v,
                 "delay_s");
    expect_error(state, "{\"type\": \"noop\", \"payload\": {}, \"delay_s\": 31536001}", 422, v,
                 "delay_s");
    expect_error(state, "{\"type\": \"noop\", \"payload\": {}, \"run_at\": \"tomorrow\"}", 422, v,
                 "run_at");
    expect_error(state,
                 "{\"type\": \"noop\", \"payload\": {}, \"run_at\": \"2099-01-01T00:00:00Z\"}", 422,
                 v, "run_at");
    expect_error(state,
                 "{\"type\": \"noop\", \"payload\": {}, \"delay_s\": 5,"
                 " \"run_at\": \"2027-01-01T00:00:00Z\"}",
                 422, v, "run_at");
    expect_error(state, "{\"type\": \"noop\", \"payload\": {}, \"callback_url\": \"ftp://x\"}", 422,
                 v, "callback_url");
}

static void test_callback_url_length(void **state)
{
    char body[4096];
    char url[LT_API_CALLBACK_URL_MAX + 2];
    struct lt_api_task_spec spec;
    json_t *doc;

    memset(url, 'a', sizeof(url));
    memcpy(url, "https://", 8);
    url[LT_API_CALLBACK_URL_MAX] = '\0';
    snprintf(body, sizeof(body), "{\"type\": \"noop\", \"payload\": {}, \"callback_url\": \"%s\"}",
             url);
    expect_ok(state, body, &spec, &doc);
    json_decref(doc);
    url[LT_API_CALLBACK_URL_MAX] = 'a';
    url[LT_API_CALLBACK_URL_MAX + 1] = '\0';
    snprintf(body, sizeof(body), "{\"type\": \"noop\", \"payload\": {}, \"callback_url\": \"%s\"}",
             url);
    expect_error(state, body, 422, "validation_failed", "callback_url");
}

static void test_allow_degrade(void **state)
{
    struct lt_api_task_spec spec;
    json_t *doc;
    expect_ok(state, "{\"type\": \"noop\", \"payload\": {}}", &spec, &doc);
    assert_int_equal(spec.allow_degrade, 1);
    json_decref(doc);
    expect_ok(state, "{\"type\": \"noop\", \"payload\": {}, \"allow_degrade\": false}", &spec,
              &doc);
    assert_int_equal(spec.allow_degrade, 0);
    json_decref(doc);
    expect_ok(state, "{\"type\": \"noop\", \"payload\": {}, \"allow_degrade\": null}", &spec, &doc);
    assert_int_equal(spec.allow_degrade, 1);
    json_decref(doc);
    expect_error(state, "{\"type\": \"noop\", \"payload\": {}, \"allow_degrade\": \"no\"}", 400,
                 "invalid_request", "allow_degrade");
}

static void test_metadata_rules(void **state)
{
    const char *v = "validation_failed";
    expect_error(state, "{\"type\": \"noop\", \"payload\": {}, \"metadata\": {\"duration_ms\": 1}}",
                 422, v, "metadata.duration_ms");
    expect_error(state,
                 "{\"type\": \"noop\", \"payload\": {}, \"metadata\": {\"retry_exhausted\": true}}",
                 422, v, "metadata.retry_exhausted");
    expect_error(state,
                 "{\"type\": \"noop\", \"payload\": {}, \"metadata\": {\"degraded_from\": \"x\"}}",
                 422, v, "metadata.degraded_from");
    expect_error(state, "{\"type\": \"noop\", \"payload\": {}, \"metadata\": {\"worker\": \"w\"}}",
                 422, v, "metadata.worker");

    /* 16 KiB serialised is the limit: {"k":"..."} */
    size_t size = LT_API_METADATA_MAX + 64;
    char *body = malloc(size);
    char *val = malloc(LT_API_METADATA_MAX);
    struct lt_api_task_spec spec;
    json_t *doc;
    size_t fill = LT_API_METADATA_MAX - strlen("{\"k\":\"\"}");
    memset(val, 'x', fill);
    val[fill] = '\0';
    snprintf(body, size, "{\"type\": \"noop\", \"payload\": {}, \"metadata\": {\"k\": \"%s\"}}",
             val);
    expect_ok(state, body, &spec, &doc);
    json_decref(doc);
    val[fill] = 'x';
    val[fill + 1] = '\0';
    snprintf(body, size, "{\"type\": \"noop\", \"payload\": {}, \"metadata\": {\"k\": \"%s\"}}",
             val);
    expect_error(state, body, 422, v, "metadata");
    free(val);
    free(body);
}

static void test_sleep_payload(void **state)
{
    struct lt_api_task_spec spec;
    json_t *doc;
    const char *v = "validation_failed";
    expect_ok(state, "{\"type\": \"sleep\", \"payload\": {\"ms\": 0}}", &spec, &doc);
    json_decref(doc);
    expect_ok(state, "{\"type\": \"sleep\", \"payload\": {\"ms\": 86400000, \"fail\": null}}",
              &spec, &doc);
    json_decref(doc);
    expect_ok(state, "{\"type\": \"sleep\", \"payload\": {\"ms\": 1, \"fail\": \"retryable\"}}",
              &spec, &doc);
    json_decref(doc);
    expect_ok(state, "{\"type\": \"sleep\", \"payload\": {\"ms\": 1, \"fail\": \"permanent\"}}",
              &spec, &doc);
    json_decref(doc);
    expect_error(state, "{\"type\": \"sleep\", \"payload\": {}}", 422, v, "payload.ms");
    expect_error(state, "{\"type\": \"sleep\", \"payload\": {\"ms\": -1}}", 422, v, "payload.ms");
    expect_error(state, "{\"type\": \"sleep\", \"payload\": {\"ms\": 86400001}}", 422, v,
                 "payload.ms");
    expect_error(state, "{\"type\": \"sleep\", \"payload\": {\"ms\": 5, \"fail\": \"maybe\"}}", 422,
                 v, "payload.fail");
    expect_error(state, "{\"type\": \"sleep\", \"payload\": {\"ms\": 5, \"x\": 1}}", 422, v,
                 "payload.x");
    /* The wrong JSON type inside a payload makes the payload invalid for its type: 422,
     * as API.md's error table says, not the 400 of a malformed body. */
    expect_error(state, "{\"type\": \"sleep\", \"payload\": {\"ms\": \"5\"}}", 422, v,
                 "payload.ms");
}

static void test_noop_payload_any_object(void **state)
{
    struct lt_api_task_spec spec;
    json_t *doc;
    expect_ok(state, "{\"type\": \"noop\", \"payload\": {\"a\": {\"b\": [null, 1.5, \"c\"]}}}",
              &spec, &doc);
    json_decref(doc);
}

static void expect_time(const char *text, int64_t want)
{
    int64_t got = 0;
    if (lt_api_rfc3339_parse(text, &got) != 0) {
        print_error("refused %s\n", text);
    }
    assert_int_equal(lt_api_rfc3339_parse(text, &got), 0);
    assert_int_equal(got, want);
}

static void test_rfc3339(void **state)
{
    int64_t us;
    (void)state;
    expect_time("1970-01-01T00:00:00Z", 0);
    expect_time("2026-11-22T10:30:00.123Z", 1795343400123000LL);
    expect_time("2026-11-22T12:30:00.123+02:00", 1795343400123000LL);
    expect_time("2026-11-22t10:30:00.1234567z", 1795343400123456LL);
    expect_time("2024-02-29T00:00:00-00:30", 1709166600000000LL);
    expect_time("1969-12-31T23:59:59Z", -1000000LL);
    assert_int_equal(lt_api_rfc3339_parse("2026-11-22", &us), -1);
    assert_int_equal(lt_api_rfc3339_parse("2026-11-22T10:30:00", &us), -1);
    assert_int_equal(lt_api_rfc3339_parse("2026-11-22 10:30:00Z", &us), -1);
    assert_int_equal(lt_api_rfc3339_parse("2026-13-01T00:00:00Z", &us), -1);
    assert_int_equal(lt_api_rfc3339_parse("2025-02-29T00:00:00Z", &us), -1);
    assert_int_equal(lt_api_rfc3339_parse("2026-11-22T24:00:00Z", &us), -1);
    assert_int_equal(lt_api_rfc3339_parse("2026-11-22T10:30:00.Z", &us), -1);
    assert_int_equal(lt_api_rfc3339_parse("2026-11-22T10:30:00Zjunk", &us), -1);
    assert_int_equal(lt_api_rfc3339_parse("2026-11-22T10:30:00+0200", &us), -1);
    assert_int_equal(lt_api_rfc3339_parse("", &us), -1);
}

static void test_priority_names(void **state)
{
    (void)state;
    assert_int_equal(lt_api_priority_parse("low"), 0);
    assert_int_equal(lt_api_priority_parse("normal"), 1);
    assert_int_equal(lt_api_priority_parse("high"), 2);
    assert_int_equal(lt_api_priority_parse("urgent"), 3);
    assert_int_equal(lt_api_priority_parse("HIGH"), -1);
}

static void test_list_query(void **state)
{
    struct lt_api_list_query q;
    char msg[256];
    (void)state;

    assert_int_equal(lt_api_list_query_parse("", &q, msg, sizeof(msg)), 0);
    assert_int_equal(q.limit, LT_API_LIST_LIMIT_DEFAULT);
    assert_string_equal(q.statuses, "");
    assert_false(q.full);

    assert_int_equal(lt_api_list_query_parse("status=pending,retry&type=llm.chat&queue=q%2D1"
                                             "&limit=200&offset=10&full=1",
                                             &q, msg, sizeof(msg)),
                     0);
    assert_string_equal(q.statuses, "{pending,retry}");
    assert_string_equal(q.type, "llm.chat");
    assert_string_equal(q.queue, "q-1");
    assert_int_equal(q.limit, 200);
    assert_int_equal(q.offset, 10);
    assert_true(q.full);

    assert_int_equal(lt_api_list_query_parse("created_after=2026-11-22T10%3A30%3A00Z"
                                             "&created_before=2026-11-22T12:30:00%2B02:00",
                                             &q, msg, sizeof(msg)),
                     0);
    assert_true(q.has_after && q.has_before);
    assert_int_equal(q.after_us, q.before_us);

    assert_int_equal(lt_api_list_query_parse("tenant=acme", &q, msg, sizeof(msg)), 0);
    assert_true(q.has_tenant);
    assert_string_equal(q.tenant, "acme");
}

static void expect_query_error(const char *query, const char *needle)
{
    struct lt_api_list_query q;
    char msg[256];
    assert_int_equal(lt_api_list_query_parse(query, &q, msg, sizeof(msg)), -1);
    if (strstr(msg, needle) == NULL) {
        print_error("'%s' not in '%s'\n", needle, msg);
    }
    assert_non_null(strstr(msg, needle));
}

static void test_list_query_errors(void **state)
{
    (void)state;
    expect_query_error("stauts=failed", "stauts");
    expect_query_error("status=bogus", "status");
    expect_query_error("status=pending,", "status");
    expect_query_error("status=", "status");
    expect_query_error("limit=0", "limit");
    expect_query_error("limit=201", "limit");
    expect_query_error("limit=-5", "limit");
    expect_query_error("limit=5x", "limit");
    expect_query_error("offset=-1", "offset");
    expect_query_error("offset=100001", "offset");
    expect_query_error("cursor=!!", "cursor");
    expect_query_error("created_after=yesterday", "created_after");
    expect_query_error("created_before=2026-02-30T00:00:00Z", "created_before");
    expect_query_error("full=yes", "full");
    expect_query_error("type=bad%20name", "type");
    expect_query_error("queue=", "queue");
    expect_query_error("limit=1&limit=2", "twice");
    expect_query_error("type=%zz", "type");
    expect_query_error("type=%4", "type");
    expect_query_error("type=a%00b", "type");
    expect_query_error("tenant=", "tenant");

    char cursor[LT_API_CURSOR_MAX], query[256];
    lt_api_cursor_encode(1, "01937c4e-8f2a-7b3c-9d1e-2f3a4b5c6d7e", cursor);
    snprintf(query, sizeof(query), "cursor=%s&offset=5", cursor);
    expect_query_error(query, "not both");
}

static void test_stats_query(void **state)
{
    char tenant[LT_API_TENANT_MAX + 1], msg[256];
    int has;
    (void)state;
    assert_int_equal(lt_api_stats_query_parse("", &has, tenant, sizeof(tenant), msg, sizeof(msg)),
                     0);
    assert_false(has);
    assert_int_equal(
        lt_api_stats_query_parse("tenant=b", &has, tenant, sizeof(tenant), msg, sizeof(msg)), 0);
    assert_true(has);
    assert_string_equal(tenant, "b");
    assert_int_equal(
        lt_api_stats_query_parse("window=1h", &has, tenant, sizeof(tenant), msg, sizeof(msg)), -1);
}

static void test_cursor_round_trip(void **state)
{
    char cursor[LT_API_CURSOR_MAX], id[LT_UUID_STR_LEN];
    int64_t us;
    (void)state;

    lt_api_cursor_encode(1795343400123456LL, "01937c4e-8f2a-7b3c-9d1e-2f3a4b5c6d7e", cursor);
    assert_null(strpbrk(cursor, "+/="));
    assert_int_equal(lt_api_cursor_decode(cursor, &us, id), 0);
    assert_int_equal(us, 1795343400123456LL);
    assert_string_equal(id, "01937c4e-8f2a-7b3c-9d1e-2f3a4b5c6d7e");

    assert_int_equal(lt_api_cursor_decode("", &us, id), -1);
    assert_int_equal(lt_api_cursor_decode("a", &us, id), -1);
    assert_int_equal(lt_api_cursor_decode("MTIz", &us, id), -1);        /* "123" */
    assert_int_equal(lt_api_cursor_decode("MTIzLHh5eg", &us, id), -1);  /* "123,xyz" */
    assert_int_equal(lt_api_cursor_decode("YWJjLDAxOTM", &us, id), -1); /* "abc,0193" */
}

static void test_json_depth(void **state)
{
    (void)state;
    assert_int_equal(lt_api_json_depth("1", 1), 0);
    assert_int_equal(lt_api_json_depth("{}", 2), 1);
    assert_int_equal(lt_api_json_depth("[[{}]]", 6), 3);
    assert_int_equal(lt_api_json_depth("{\"a\": \"[[[[\"}", 13), 1);
    assert_int_equal(lt_api_json_depth("{\"a\\\"[[\": [1]}", 15), 2);
    assert_int_equal(lt_api_json_depth("[1], [2]", 8), 1);
}

static void test_media_type(void **state)
{
    (void)state;
    assert_true(lt_api_media_type_is("application/json", "application/json"));
    assert_true(lt_api_media_type_is("Application/JSON; charset=utf-8", "application/json"));
    assert_false(lt_api_media_type_is("application/jsonx", "application/json"));
    assert_false(lt_api_media_type_is("text/plain", "application/json"));
    assert_false(lt_api_media_type_is(NULL, "application/json"));
}

static void test_problem_shape(void **state)
{
    (void)state;
    json_t *errors = json_pack("[{ss ss}]", "field", "payload.ms", "message", "is required");
    json_t *p = lt_api_problem(422, "validation_failed", "payload.ms: is required", errors);
    assert_string_equal(json_string_value(json_object_get(p, "type")),
                        "urn:longtask:error:validation_failed");
    assert_string_equal(json_string_value(json_object_get(p, "title")), "Validation failed");
    assert_int_equal(json_integer_value(json_object_get(p, "status")), 422);
    assert_string_equal(json_string_value(json_object_get(p, "detail")), "payload.ms: is required");
    assert_string_equal(json_string_value(json_object_get(p, "code")), "validation_failed");
    assert_int_equal(json_array_size(json_object_get(p, "errors")), 1);
    json_decref(p);
    p = lt_api_problem(404, "not_found", "no task", NULL);
    assert_null(json_object_get(p, "errors"));
    json_decref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_body_takes_type_defaults),
        cmocka_unit_test(test_full_body),
        cmocka_unit_test(test_nulls_mean_default),
        cmocka_unit_test(test_structure_errors_are_400),
        cmocka_unit_test(test_unknown_type_is_422),
        cmocka_unit_test(test_value_errors_are_422),
        cmocka_unit_test(test_callback_url_length),
        cmocka_unit_test(test_metadata_rules),
        cmocka_unit_test(test_allow_degrade),
        cmocka_unit_test(test_sleep_payload),
        cmocka_unit_test(test_noop_payload_any_object),
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_priority_names),
        cmocka_unit_test(test_list_query),
        cmocka_unit_test(test_list_query_errors),
        cmocka_unit_test(test_stats_query),
        cmocka_unit_test(test_cursor_round_trip),
        cmocka_unit_test(test_json_depth),
        cmocka_unit_test(test_media_type),
        cmocka_unit_test(test_problem_shape),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
