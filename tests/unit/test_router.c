/*
 * test_router.c -- the route table: every documented route matches with its method,
 * a known path with another method is 405 with the right Allow, unknown paths and
 * malformed ids are 404, and the id reaches the handler in canonical form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "api_ops.h"
#include "api_router.h"
#include "api_stats.h"
#include "api_tasks.h"

#define ID "01937c4e-8f2a-7b3c-9d1e-2f3a4b5c6d7e"

static void expect_route(const char *method, const char *path, lt_api_handler_fn fn)
{
    struct lt_api_match m;
    lt_api_route_match(method, path, &m);
    assert_int_equal(m.status, 200);
    assert_non_null(m.route);
    assert_ptr_equal(m.route->handler, fn);
}

static void test_routes_match(void **state)
{
    (void)state;
    expect_route("POST", "/api/v1/tasks", lt_api_task_create);
    expect_route("GET", "/api/v1/tasks", lt_api_task_list);
    expect_route("GET", "/api/v1/tasks/" ID, lt_api_task_get);
    expect_route("DELETE", "/api/v1/tasks/" ID, lt_api_task_cancel);
    expect_route("POST", "/api/v1/tasks/" ID "/retry", lt_api_task_retry);
    expect_route("GET", "/api/v1/tasks/" ID "/events", lt_api_task_events);
    expect_route("GET", "/api/v1/stats", lt_api_stats);
    expect_route("GET", "/healthz", lt_api_healthz);
    expect_route("GET", "/readyz", lt_api_readyz);
}

static void test_auth_flags(void **state)
{
    struct lt_api_match m;
    (void)state;
    lt_api_route_match("GET", "/api/v1/tasks", &m);
    assert_true(m.route->flags & LT_API_ROUTE_AUTH);
    lt_api_route_match("GET", "/api/v1/stats", &m);
    assert_true(m.route->flags & LT_API_ROUTE_AUTH);
    lt_api_route_match("GET", "/healthz", &m);
    assert_false(m.route->flags & LT_API_ROUTE_AUTH);
    lt_api_route_match("GET", "/readyz", &m);
    assert_false(m.route->flags & LT_API_ROUTE_AUTH);
}

static void expect_405(const char *method, const char *path, const char *allow)
{
    struct lt_api_match m;
    lt_api_route_match(method, path, &m);
    assert_int_equal(m.status, 405);
    assert_null(m.route);
    assert_string_equal(m.allow, allow);
}

static void test_wrong_method_is_405(void **state)
{
    (void)state;
    expect_405("PUT", "/api/v1/tasks", "GET, POST");
    expect_405("DELETE", "/api/v1/tasks", "GET, POST");
    expect_405("POST", "/api/v1/tasks/" ID, "GET, DELETE");
    expect_405("GET", "/api/v1/tasks/" ID "/retry", "POST");
    expect_405("POST", "/api/v1/tasks/" ID "/events", "GET");
    expect_405("POST", "/api/v1/stats", "GET");
    expect_405("POST", "/healthz", "GET");
    expect_405("get", "/readyz", "GET"); /* methods are case-sensitive */
    /* A literal segment where {id} could stand: its own route, so 405, not a bad id. */
    expect_405("GET", "/api/v1/tasks/batch", "POST");
    expect_405("DELETE", "/api/v1/quota", "GET");
    expect_405("GET", "/api/v1/quota/check", "POST");
}

static void expect_404(const char *method, const char *path)
{
    struct lt_api_match m;
    lt_api_route_match(method, path, &m);
    assert_int_equal(m.status, 404);
    assert_null(m.route);
}

static void test_unknown_paths_are_404(void **state)
{
    (void)state;
    expect_404("GET", "/");
    expect_404("GET", "");
    expect_404("GET", "/api/v1");
    expect_404("GET", "/api/v1/");
    expect_404("GET", "/api/v1/tasks/");
    expect_404("GET", "/api/v1/tasks//");
    expect_404("GET", "/api/v1/taskss");
    expect_404("GET", "/api/v2/tasks");
    expect_404("GET", "/api/v1/tasks/" ID "/");
    expect_404("GET", "/api/v1/tasks/" ID "/nothing");
    expect_404("POST", "/api/v1/tasks/" ID "/retry/again");
    expect_404("GET", "/healthz/");
    expect_404("GET", "/HEALTHZ");
    expect_404("GET", "/api/v1/tasks/batches"); /* an id that is no UUID */
}

static void test_malformed_id_is_404_for_any_method(void **state)
{
    (void)state;
    expect_404("GET", "/api/v1/tasks/not-a-uuid");
    expect_404("DELETE", "/api/v1/tasks/not-a-uuid");
    expect_404("PATCH", "/api/v1/tasks/not-a-uuid"); /* 404 wins over 405 */
    expect_404("POST", "/api/v1/tasks/123/retry");
    expect_404("GET", "/api/v1/tasks/01937c4e-8f2a-7b3c-9d1e-2f3a4b5c6d7/events");
    expect_404("GET", "/api/v1/tasks/01937c4e-8f2a-7b3c-9d1e-2f3a4b5c6d7ee");
    expect_404("GET", "/api/v1/tasks/01937c4e8f2a-7b3c-9d1e-2f3a4b5c6d7e-");
    expect_404("GET", "/api/v1/tasks/01937c4e-8f2a-7b3c-9d1e-2f3a4b5c6d7g");
}

static void test_id_is_extracted_canonical(void **state)
{
    struct lt_api_match m;
    (void)state;
    lt_api_route_match("GET", "/api/v1/tasks/" ID "/events", &m);
    assert_int_equal(m.status, 200);
    assert_string_equal(m.id, ID);
    lt_api_route_match("DELETE", "/api/v1/tasks/01937C4E-8F2A-7B3C-9D1E-2F3A4B5C6D7E", &m);
    assert_int_equal(m.status, 200);
    assert_string_equal(m.id, ID);
    lt_api_route_match("GET", "/api/v1/tasks", &m);
    assert_string_equal(m.id, "");
}

static void test_etag_matching(void **state)
{
    (void)state;
    assert_true(lt_api_etag_matches("W/\"pending-3\"", "W/\"pending-3\""));
    assert_true(lt_api_etag_matches("\"pending-3\"", "W/\"pending-3\""));
    assert_true(lt_api_etag_matches("W/\"a-1\", W/\"pending-3\"", "W/\"pending-3\""));
    assert_true(lt_api_etag_matches("*", "W/\"pending-3\""));
    assert_false(lt_api_etag_matches("W/\"pending-4\"", "W/\"pending-3\""));
    assert_false(lt_api_etag_matches("W/\"running-3\"", "W/\"pending-3\""));
    assert_false(lt_api_etag_matches("W/\"pending-33\"", "W/\"pending-3\""));
    assert_false(lt_api_etag_matches("", "W/\"pending-3\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes_match),
        cmocka_unit_test(test_auth_flags),
        cmocka_unit_test(test_wrong_method_is_405),
        cmocka_unit_test(test_unknown_paths_are_404),
        cmocka_unit_test(test_malformed_id_is_404_for_any_method),
        cmocka_unit_test(test_id_is_extracted_canonical),
        cmocka_unit_test(test_etag_matching),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
