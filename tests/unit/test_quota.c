/*
 * test_quota.c -- the pure parts of quotas, idempotency and batches: a task's cost from
 * its type and payload (the fixed cost, the per-item rule with its clamps, the
 * stock-screening example), window names, the RateLimit header lines, the degrade
 * decision, Idempotency-Key checks and fingerprints, batch validation with indexed
 * field names, and the longtask-admin quota command line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_quota.h"
#include "api_batch.h"
#include "api_idem.h"
#include "api_quota.h"
#include "cfg.h"

#define NOW_US 1800000000000000LL

static json_t *payload_with(const char *key, size_t n)
{
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(items, json_string("T"));
    }
    return json_pack("{so}", key, items);
}

static void test_fixed_cost(void **state)
{
    (void)state;
    struct lt_type_cfg t = {.cost = 3, .cost_max = 1000000};
    json_t *p = json_object();
    assert_int_equal(lt_api_quota_cost(&t, p), 3);
    t.cost = 0;
    assert_int_equal(lt_api_quota_cost(&t, p), 0);
    json_decref(p);
}

/* min(5, 2 + items/5) as cost_base 2, cost_per_item 0.2, cost_max 5. */
static void test_stock_screening_cost(void **state)
{
    (void)state;
    struct lt_type_cfg t = {.cost = 1, .cost_base = 2, .cost_per_item = 0.2, .cost_max = 5};
    snprintf(t.cost_items, sizeof(t.cost_items), "tickers");
    static const struct {
        size_t items;
        long cost;
    } cases[] = {{0, 2}, {1, 2}, {4, 2}, {5, 3}, {9, 3}, {10, 4}, {14, 4}, {15, 5}, {1000, 5}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *p = payload_with("tickers", cases[i].items);
        long got = lt_api_quota_cost(&t, p);
        if (got != cases[i].cost) {
            fail_msg("%zu tickers: cost %ld, want %ld", cases[i].items, got, cases[i].cost);
        }
        json_decref(p);
    }
    /* Missing, or not an array: no items. */
    json_t *p = json_pack("{ss}", "tickers", "AAPL");
    assert_int_equal(lt_api_quota_cost(&t, p), 2);
    json_decref(p);
    assert_int_equal(lt_api_quota_cost(&t, NULL), 2);
}

static void test_cost_clamps_and_exact_products(void **state)
{
    (void)state;
    struct lt_type_cfg t = {.cost_base = 0, .cost_per_item = 0.7, .cost_min = 3, .cost_max = 50};
    snprintf(t.cost_items, sizeof(t.cost_items), "rows");
    json_t *p = payload_with("rows", 1);
    assert_int_equal(lt_api_quota_cost(&t, p), 3); /* floor(0.7) = 0, raised to cost_min */
    json_decref(p);
    p = payload_with("rows", 10);
    assert_int_equal(lt_api_quota_cost(&t, p), 7); /* 10 x 0.7 is 6.999... in binary */
    json_decref(p);
    p = payload_with("rows", 100);
    assert_int_equal(lt_api_quota_cost(&t, p), 50);
    json_decref(p);
    t.cost_per_item = 1000000;
    t.cost_max = 1000000;
    p = payload_with("rows", 999);
    assert_int_equal(lt_api_quota_cost(&t, p), 1000000); /* no overflow */
    json_decref(p);
}

static void test_window_names(void **state)
{
    (void)state;
    char buf[32];
    assert_string_equal(lt_api_quota_window_name(86400, buf, sizeof(buf)), "day");
    assert_string_equal(lt_api_quota_window_name(3600, buf, sizeof(buf)), "hour");
    assert_string_equal(lt_api_quota_window_name(60, buf, sizeof(buf)), "minute");
    assert_string_equal(lt_api_quota_window_name(604800, buf, sizeof(buf)), "week");
    assert_string_equal(lt_api_quota_window_name(900, buf, sizeof(buf)), "900s");
}

static void test_ratelimit_headers(void **state)
{
    (void)state;
    char buf[256] = "Location: /x\r\n";
    lt_api_quota_headers(buf, sizeof(buf), 1000, 86400, 37, 3600);
    assert_string_equal(buf, "Location: /x\r\n"
                             "RateLimit-Policy: \"units\";q=1000;w=86400\r\n"
                             "RateLimit: \"units\";r=963;t=3600\r\n");
    buf[0] = '\0';
    lt_api_quota_headers(buf, sizeof(buf), 10, 60, 12, 5); /* over (a lowered limit) */
    assert_non_null(strstr(buf, "r=0;t=5"));
    buf[0] = '\0';
    lt_api_quota_headers(buf, sizeof(buf), 0, 86400, 5, 10); /* unlimited: no headers */
    assert_string_equal(buf, "");
}

static void test_degrade_choice(void **state)
{
    (void)state;
    assert_int_equal(lt_api_quota_choose(5, 1, 10), LT_API_QUOTA_FULL);
    assert_int_equal(lt_api_quota_choose(5, 1, 5), LT_API_QUOTA_FULL);
    assert_int_equal(lt_api_quota_choose(5, 1, 4), LT_API_QUOTA_DEGRADE);
    assert_int_equal(lt_api_quota_choose(5, 1, 0), LT_API_QUOTA_REFUSE);
    assert_int_equal(lt_api_quota_choose(5, -1, 4), LT_API_QUOTA_REFUSE); /* no fallback */
    assert_int_equal(lt_api_quota_choose(5, 1, -1), LT_API_QUOTA_FULL);   /* unlimited */
    assert_int_equal(lt_api_quota_choose(0, -1, 0), LT_API_QUOTA_FULL);   /* free types */
}

static void test_idempotency_keys(void **state)
{
    (void)state;
    char key[300], scoped[LT_API_IDEM_SCOPED_MAX];
    assert_true(lt_api_idem_key_ok("order-42"));
    assert_true(lt_api_idem_key_ok("a b:c/\"d\""));
    assert_false(lt_api_idem_key_ok(""));
    assert_false(lt_api_idem_key_ok(NULL));
    assert_false(lt_api_idem_key_ok("tab\there"));
    assert_false(lt_api_idem_key_ok("caf\xc3\xa9"));
    memset(key, 'k', 255);
    key[255] = '\0';
    assert_true(lt_api_idem_key_ok(key));
    key[255] = 'k';
    key[256] = '\0';
    assert_false(lt_api_idem_key_ok(key));
    lt_api_idem_scope("tasks", "order-42", scoped, sizeof(scoped));
    assert_string_equal(scoped, "tasks:order-42");
}

static void test_fingerprints(void **state)
{
    (void)state;
    char a[LT_API_IDEM_HASH_LEN], b[LT_API_IDEM_HASH_LEN], c[LT_API_IDEM_HASH_LEN];
    json_t *x = json_loads("{\"type\": \"noop\", \"payload\": {\"a\": 1, \"b\": [1, 2]}}", 0, NULL);
    json_t *y = json_loads("{\"payload\":{\"b\":[1,2],\"a\":1},\"type\":\"noop\"}", 0, NULL);
    json_t *z = json_loads("{\"payload\":{\"b\":[2,1],\"a\":1},\"type\":\"noop\"}", 0, NULL);
    assert_int_equal(lt_api_idem_hash(x, a), 0);
    assert_int_equal(lt_api_idem_hash(y, b), 0);
    assert_int_equal(lt_api_idem_hash(z, c), 0);
    assert_int_equal(strlen(a), 64);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    json_t *empty = json_object();
    assert_int_equal(lt_api_idem_hash(empty, a), 0);
    /* SHA-256 of "{}" */
    assert_string_equal(a, "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    json_decref(empty);
    json_decref(x);
    json_decref(y);
    json_decref(z);
}

static int batch_status(const struct lt_cfg *cfg, const char *text, struct lt_api_verr *verr,
                        int *n)
{
    struct lt_api_task_spec *specs = NULL;
    json_t *doc = json_loads(text, 0, NULL);
    assert_non_null(doc);
    int rc = lt_api_validate_batch(cfg, doc, NOW_US, &specs, n, verr);
    if (rc == 0) {
        assert_non_null(specs);
        assert_string_equal(specs[0].type->name, "noop");
    }
    free(specs);
    json_decref(doc);
    return rc == 0 ? 0 : verr->status;
}

static void test_batch_validation(void **state)
{
    (void)state;
    struct lt_cfg cfg;
    struct lt_err err;
    struct lt_api_verr verr;
    int n;
    assert_int_equal(lt_cfg_load(&cfg, NULL, &err), 0);

    assert_int_equal(batch_status(&cfg,
                                  "{\"tasks\": [{\"type\": \"noop\", \"payload\": {}},"
                                  " {\"type\": \"sleep\", \"payload\": {\"ms\": 1}}]}",
                                  &verr, &n),
                     0);
    assert_int_equal(n, 2);

    assert_int_equal(batch_status(&cfg,
                                  "{\"tasks\": [{\"type\": \"noop\", \"payload\": {}},"
                                  " {\"type\": \"sleep\", \"payload\": {\"ms\": -1}}]}",
                                  &verr, &n),
                     422);
    assert_string_equal(verr.code, "validation_failed");
    assert_string_equal(json_string_value(json_object_get(json_array_get(verr.errors, 0), "field")),
                        "tasks[1].payload.ms");
    assert_non_null(strstr(verr.detail, "tasks[1].payload.ms"));
    json_decref(verr.errors);

    assert_int_equal(
        batch_status(&cfg, "{\"tasks\": [{\"type\": \"zz\", \"payload\": {}}]}", &verr, &n), 422);
    assert_string_equal(verr.code, "unknown_type");
    json_decref(verr.errors);

    assert_int_equal(batch_status(&cfg, "{\"tasks\": [3]}", &verr, &n), 400);
    assert_string_equal(json_string_value(json_object_get(json_array_get(verr.errors, 0), "field")),
                        "tasks[0]");
    json_decref(verr.errors);

    assert_int_equal(batch_status(&cfg, "{\"tasks\": []}", &verr, &n), 422);
    json_decref(verr.errors);
    assert_int_equal(batch_status(&cfg, "{\"tasks\": [], \"more\": 1}", &verr, &n), 400);
    json_decref(verr.errors);
    assert_int_equal(batch_status(&cfg, "{}", &verr, &n), 400);
    json_decref(verr.errors);
    assert_int_equal(batch_status(&cfg, "[]", &verr, &n), 400);
    json_decref(verr.errors);
    lt_cfg_free(&cfg);
}

static int admin_parse(struct lt_adm_quota_cmd *cmd, int argc, const char **argv)
{
    FILE *devnull = fopen("/dev/null", "w");
    int rc = lt_adm_quota_parse(argc, (char **)argv, cmd, devnull);
    fclose(devnull);
    return rc;
}

static void test_admin_command_line(void **state)
{
    (void)state;
    struct lt_adm_quota_cmd cmd;
    const char *set[] = {"set",          "acme",    "--units",  "500",
                         "--max-active", "default", "--window", "3600"};
    assert_int_equal(admin_parse(&cmd, 8, set), 0);
    assert_int_equal(cmd.action, LT_ADM_QUOTA_SET);
    assert_string_equal(cmd.tenant, "acme");
    assert_true(cmd.units.given && !cmd.units.clear && cmd.units.value == 500);
    assert_true(cmd.max_active.given && cmd.max_active.clear);
    assert_true(cmd.window.given && cmd.window.value == 3600);

    const char *show[] = {"show", "acme"};
    assert_int_equal(admin_parse(&cmd, 2, show), 0);
    assert_int_equal(cmd.action, LT_ADM_QUOTA_SHOW);
    const char *clear[] = {"clear", "acme"};
    assert_int_equal(admin_parse(&cmd, 2, clear), 0);
    assert_int_equal(cmd.action, LT_ADM_QUOTA_CLEAR);

    const char *bad1[] = {"set", "acme"};                  /* nothing to set */
    const char *bad2[] = {"set", "acme", "--units"};       /* no value */
    const char *bad3[] = {"set", "acme", "--window", "0"}; /* out of range */
    const char *bad4[] = {"show", "acme", "--units", "1"}; /* not for show */
    const char *bad5[] = {"drop", "acme"};
    const char *bad6[] = {"set", "acme", "--units", "12x"};
    const char *bad7[] = {"show"};
    assert_int_equal(admin_parse(&cmd, 2, bad1), -1);
    assert_int_equal(admin_parse(&cmd, 3, bad2), -1);
    assert_int_equal(admin_parse(&cmd, 4, bad3), -1);
    assert_int_equal(admin_parse(&cmd, 4, bad4), -1);
    assert_int_equal(admin_parse(&cmd, 2, bad5), -1);
    assert_int_equal(admin_parse(&cmd, 4, bad6), -1);
    assert_int_equal(admin_parse(&cmd, 1, bad7), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_cost),
        cmocka_unit_test(test_stock_screening_cost),
        cmocka_unit_test(test_cost_clamps_and_exact_products),
        cmocka_unit_test(test_window_names),
        cmocka_unit_test(test_ratelimit_headers),
        cmocka_unit_test(test_degrade_choice),
        cmocka_unit_test(test_idempotency_keys),
        cmocka_unit_test(test_fingerprints),
        cmocka_unit_test(test_batch_validation),
        cmocka_unit_test(test_admin_command_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
