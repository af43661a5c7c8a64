/*
 * test_cfg.c -- configuration: defaults without a file, values read, environment
 * overrides, and every kind of bad file naming file, line and setting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg.h"

static char path[64];

static const char *write_conf(const char *text)
{
    snprintf(path, sizeof(path), "/tmp/lt-test-cfg-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static int setup(void **state)
{
    (void)state;
    unsetenv("LONGTASK_DATABASE_URL");
    unsetenv("LONGTASK_JWT_SECRET");
    unsetenv("LONGTASK_LLM_BASE_URL");
    unsetenv("LONGTASK_LLM_API_KEY");
    unsetenv("OPENAI_API_KEY");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (path[0] != '\0') {
        unlink(path);
        path[0] = '\0';
    }
    return 0;
}

static void test_defaults(void **state)
{
    (void)state;
    struct lt_cfg cfg;
    struct lt_err err;
    assert_int_equal(lt_cfg_load(&cfg, NULL, &err), 0);
    assert_string_equal(cfg.database_url, "postgresql:///longtask");
    assert_int_equal(cfg.api_max_body_bytes, 1048576);
    assert_int_equal(cfg.api_socket_mode, 0660);
    assert_int_equal(cfg.worker_lease_s, 60);
    assert_int_equal(cfg.worker_heartbeat_s, 20); /* lease / 3 */
    assert_true(cfg.worker_processes >= 1);       /* 0 means the cores */
    assert_int_equal(cfg.worker_nqueues, 1);
    assert_string_equal(cfg.worker_queues[0], "default");
    assert_non_null(lt_cfg_type(&cfg, "noop"));
    assert_non_null(lt_cfg_type(&cfg, "sleep"));
    assert_null(lt_cfg_type(&cfg, "nope"));
    assert_null(cfg.jwt_secret);
    lt_cfg_free(&cfg);
}

static void test_values_and_types(void **state)
{
    (void)state;
    struct lt_cfg cfg;
    struct lt_err err;
    const char *p = write_conf(
        "database = { url = \"postgresql://h/db\"; };\n"
        "worker = { concurrency = 7; queues = [\"a\", \"b.c\"];\n"
        "           lease_s = 30; heartbeat_s = 5; };\n"
        "types = ( { name = \"sleep\"; queue = \"slow\"; max_retries = 5; },\n"
        "          { name = \"report.x\"; handler = \"llm.chat\"; cost = 5; priority = 2; } );\n");
    assert_int_equal(lt_cfg_load(&cfg, p, &err), 0);
    assert_string_equal(cfg.database_url, "postgresql://h/db");
    assert_int_equal(cfg.worker_concurrency, 7);
    assert_int_equal(cfg.worker_nqueues, 2);
    assert_string_equal(cfg.worker_queues[1], "b.c");
    assert_int_equal(cfg.worker_heartbeat_s, 5);
    const struct lt_type_cfg *t = lt_cfg_type(&cfg, "sleep");
    assert_non_null(t);
    assert_string_equal(t->queue, "slow");
    assert_int_equal(t->max_retries, 5);
    t = lt_cfg_type(&cfg, "report.x");
    assert_non_null(t);
    assert_int_equal(t->cost, 5);
    assert_int_equal(t->priority, 2);
    assert_string_equal(t->queue, "default");
    lt_cfg_free(&cfg);
}

static void test_env_overrides(void **state)
{
    (void)state;
    struct lt_cfg cfg;
    struct lt_err err;
    const char *p = write_conf("database = { url = \"postgresql://file/db\"; };\n");
    setenv("LONGTASK_DATABASE_URL", "postgresql://env/db", 1);
    setenv("LONGTASK_JWT_SECRET", "s3cret", 1);
    setenv("LONGTASK_LLM_BASE_URL", "http://127.0.0.1:9/v1", 1);
    setenv("LONGTASK_LLM_API_KEY", "k", 1);
    assert_int_equal(lt_cfg_load(&cfg, p, &err), 0);
    assert_string_equal(cfg.database_url, "postgresql://env/db");
    assert_string_equal(cfg.jwt_secret, "s3cret");
    const struct lt_provider_cfg *def = lt_cfg_provider(&cfg, NULL);
    assert_non_null(def);
    assert_string_equal(def->name, "default");
    assert_string_equal(def->base_url, "http://127.0.0.1:9/v1");
    assert_string_equal(def->api_key, "k");
    lt_cfg_free(&cfg);
    setup(NULL);
}

static void expect_error(const char *text, const char *needle)
{
    struct lt_cfg cfg;
    struct lt_err err = {{0}};
    const char *p = write_conf(text);
    assert_int_equal(lt_cfg_load(&cfg, p, &err), -1);
    if (strstr(err.msg, needle) == NULL || strstr(err.msg, p) == NULL) {
        fail_msg("error \"%s\" does not name the file and \"%s\"", err.msg, needle);
    }
    unlink(path);
    path[0] = '\0';
}

static void test_errors_name_file_line_setting(void **state)
{
    (void)state;
    expect_error("worker = {\n  concurrency = \"many\";\n};\n",
                 ":2: setting 'worker.concurrency': must be an integer");
    expect_error("worker = {\n\n  concurrency = 0;\n};\n",
                 ":3: setting 'worker.concurrency': must be between 1 and 10000");
    expect_error("wroker = { concurrency = 5; };\n", "setting 'wroker': unknown section");
    expect_error("worker = {\n  concurency = 5;\n};\n", ":2: setting 'worker.concurency': unknown");
    expect_error("worker = { concurrency = 5 ", ":1:"); /* syntax error */
    expect_error("worker = { queues = [\"bad queue\"]; };\n", "worker.queues");
    expect_error("types = ( { name = \"x\"; handler = \"noop\"; colour = 1; } );\n",
                 "types.x.colour");
    expect_error("types = ( { name = \"x\"; handler = \"noop\";\n timeout_s = -1; } );\n",
                 ":2: setting 'types.x.timeout_s'");
    expect_error("types = ( { queue = \"q\"; } );\n", "types.name");
    expect_error("log = { level = \"loud\"; };\n", "log.level");
    expect_error("api = { socket_mode = \"0999\"; };\n", "api.socket_mode");
    expect_error("api = { socket_mode = 660; };\n", "'api.socket_mode': must be a string");
    expect_error("worker = { lease_s = 10; heartbeat_s = 10; };\n", "worker.heartbeat_s");
    expect_error("auth = { algorithm = \"none\"; };\n", "auth.algorithm");
}

static void test_providers_and_handlers(void **state)
{
    (void)state;
    struct lt_cfg cfg;
    struct lt_err err;
    setenv("LT_TEST_KEY_B", "kb", 1);
    setenv("LONGTASK_LLM_BASE_URL", "http://127.0.0.1:7/v1", 1);
    const char *p = write_conf(
        "llm = { default_provider = \"a\"; };\n"
        "providers = ( { name = \"a\"; base_url = \"https://a.example/v1\";\n"
        "                max_concurrent = 4; fallback = \"b\"; },\n"
        "              { name = \"b\"; base_url = \"http://b.example/v1\";\n"
        "                api_key_env = \"LT_TEST_KEY_B\"; model = \"m-b\"; } );\n"
        "http = { allow_hosts = [\"api.example.com\", \"*.example.org\"]; };\n"
        "types = ( { name = \"grade\"; handler = \"exec\";\n"
        "            command = [\"/usr/bin/python3\", \"grade.py\"]; env = [\"A=1\"];\n"
        "            cpu_s = 30; memory_mb = 512; },\n"
        "          { name = \"summarise\"; handler = \"llm.chat\"; queue = \"llm\"; } );\n");
    if (lt_cfg_load(&cfg, p, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    assert_int_equal(cfg.nproviders, 2);
    const struct lt_provider_cfg *a = lt_cfg_provider(&cfg, NULL);
    assert_string_equal(a->name, "a");
    assert_string_equal(a->base_url, "http://127.0.0.1:7/v1"); /* the override hits the default */
    assert_int_equal(a->max_concurrent, 4);
    assert_string_equal(a->fallback, "b");
    const struct lt_provider_cfg *b = lt_cfg_provider(&cfg, "b");
    assert_string_equal(b->base_url, "http://b.example/v1");
    assert_string_equal(b->api_key, "kb");
    assert_string_equal(b->model, "m-b");
    assert_int_equal(cfg.http_nallow_hosts, 2);
    assert_string_equal(cfg.http_allow_hosts[1], "*.example.org");
    assert_null(cfg.http_allow_hosts[2]);
    const struct lt_type_cfg *g = lt_cfg_type(&cfg, "grade");
    assert_int_equal(g->handler, LT_HANDLER_EXEC);
    assert_int_equal(g->exec.argc, 2);
    assert_string_equal(g->exec.argv[1], "grade.py");
    assert_null(g->exec.argv[2]);
    assert_string_equal(g->exec.env[0], "A=1");
    assert_string_equal(g->exec.workdir, "/");
    assert_int_equal(g->exec.memory_mb, 512);
    assert_int_equal(lt_cfg_type(&cfg, "summarise")->handler, LT_HANDLER_LLM_CHAT);
    assert_int_equal(lt_cfg_type(&cfg, "llm.chat")->handler, LT_HANDLER_LLM_CHAT);
    assert_int_equal(lt_cfg_type(&cfg, "http.request")->handler, LT_HANDLER_HTTP_REQUEST);
    lt_cfg_free(&cfg);
    unsetenv("LT_TEST_KEY_B");
    setup(NULL);
}

static void test_provider_and_type_errors(void **state)
{
    (void)state;
    expect_error("types = ( { name = \"x\"; } );\n", "types.x.handler': a new type must name");
    expect_error("types = ( { name = \"x\"; handler = \"shell\"; } );\n", "types.x.handler");
    expect_error("types = ( { name = \"x\"; handler = \"exec\"; } );\n",
                 "types.x.command': an exec type needs a command");
    expect_error("types = ( { name = \"x\"; handler = \"exec\"; command = [\"run.sh\"]; } );\n",
                 "absolute path");
    expect_error("types = ( { name = \"x\"; handler = \"exec\"; command = [\"/bin/true\"];\n"
                 " env = [\"NOEQUALS\"]; } );\n",
                 ":2: setting 'types.x.env'");
    expect_error("types = ( { name = \"sleep\"; handler = \"exec\"; } );\n",
                 "a built-in type keeps its own handler");
    expect_error("providers = ( { name = \"a\"; base_url = \"ftp://x\"; } );\n",
                 "providers.a.base_url");
    expect_error("providers = ( { name = \"a\"; fallback = \"zz\"; } );\n", "providers.a.fallback");
    expect_error("providers = ( { name = \"a\"; }, { name = \"a\"; } );\n", "defined twice");
    expect_error("providers = ( { name = \"a\"; max_concurrent = 0; } );\n",
                 "providers.a.max_concurrent");
    expect_error("providers = ( { name = \"a\"; api_key = \"sk-inline\"; } );\n",
                 "providers.a.api_key': unknown setting");
    expect_error("llm = { default_provider = \"nope\"; };\n", "llm.default_provider");
    expect_error("http = { allow_hosts = [\"http://x\"]; };\n", "http.allow_hosts");
}

/* Quota defaults and settings, the per-item cost (the stock-screening rule) and fallbacks. */
static void test_quota_and_costs(void **state)
{
    (void)state;
    struct lt_cfg cfg;
    struct lt_err err;
    assert_int_equal(lt_cfg_load(&cfg, NULL, &err), 0);
    assert_int_equal(cfg.quota_units_per_window, 1000000);
    assert_int_equal(cfg.quota_window_s, 86400);
    assert_int_equal(cfg.quota_max_active, 10000);
    const struct lt_type_cfg *t = lt_cfg_type(&cfg, "noop");
    assert_int_equal(t->cost, 1);
    assert_string_equal(t->cost_items, "");
    assert_string_equal(t->fallback, "");
    lt_cfg_free(&cfg);

    const char *p =
        write_conf("quota = { units_per_window = 1000; window_s = 3600; max_active = 50; };\n"
                   "types = ( { name = \"report.full\"; handler = \"noop\"; cost = 5;\n"
                   "            fallback = \"report.lite\"; },\n"
                   "          { name = \"report.lite\"; handler = \"noop\"; cost = 1; },\n"
                   "          { name = \"screen\"; handler = \"noop\"; cost_items = \"tickers\";\n"
                   "            cost_base = 2; cost_per_item = 0.2; cost_max = 5; } );\n");
    if (lt_cfg_load(&cfg, p, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    assert_int_equal(cfg.quota_units_per_window, 1000);
    assert_int_equal(cfg.quota_window_s, 3600);
    assert_int_equal(cfg.quota_max_active, 50);
    assert_string_equal(lt_cfg_type(&cfg, "report.full")->fallback, "report.lite");
    t = lt_cfg_type(&cfg, "screen");
    assert_string_equal(t->cost_items, "tickers");
    assert_int_equal(t->cost_base, 2);
    assert_true(t->cost_per_item > 0.199 && t->cost_per_item < 0.201);
    assert_int_equal(t->cost_min, 0);
    assert_int_equal(t->cost_max, 5);
    lt_cfg_free(&cfg);
}

static void test_quota_errors(void **state)
{
    (void)state;
    expect_error("quota = { window_s = 0; };\n", "quota.window_s");
    expect_error("quota = { units_per_window = -1; };\n", "quota.units_per_window");
    expect_error("quota = { burst = 1; };\n", "quota.burst': unknown setting");
    expect_error("types = ( { name = \"a\"; handler = \"noop\"; fallback = \"zz\"; } );\n",
                 ":1: setting 'types.a.fallback': must name another configured type");
    expect_error("types = ( { name = \"a\"; handler = \"noop\"; fallback = \"a\"; } );\n",
                 "types.a.fallback");
    expect_error("types = ( { name = \"a\"; handler = \"noop\"; cost = 1;\n"
                 " cost_items = \"x\"; } );\n",
                 "types.a.cost': give cost (fixed) or cost_items");
    expect_error("types = ( { name = \"a\"; handler = \"noop\"; cost_per_item = 2; } );\n",
                 "types.a.cost_items");
    expect_error("types = ( { name = \"a\"; handler = \"noop\"; cost_items = \"x\";\n"
                 " cost_min = 5; cost_max = 4; } );\n",
                 "types.a.cost_max");
    expect_error("types = ( { name = \"a\"; handler = \"noop\"; cost_items = \"x\";\n"
                 " cost_per_item = \"1\"; } );\n",
                 "types.a.cost_per_item': must be a number");
    /* A fallback defined later in the list is fine. */
    struct lt_cfg cfg;
    struct lt_err err;
    const char *p =
        write_conf("types = ( { name = \"a\"; handler = \"noop\"; fallback = \"b\"; },\n"
                   "          { name = \"b\"; handler = \"noop\"; } );\n");
    assert_int_equal(lt_cfg_load(&cfg, p, &err), 0);
    lt_cfg_free(&cfg);
}

static void test_missing_file(void **state)
{
    (void)state;
    struct lt_cfg cfg;
    struct lt_err err;
    assert_int_equal(lt_cfg_load(&cfg, "/nonexistent/longtask.conf", &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent/longtask.conf"));
}

/* The shipped example documents every default: loading it must equal loading nothing. */
static void test_example_matches_defaults(void **state)
{
    (void)state;
    struct lt_cfg ex, def;
    struct lt_err err;
    if (lt_cfg_load(&ex, "deploy/longtask.conf.example", &err) != 0) {
        fail_msg("%s", err.msg);
    }
    assert_int_equal(lt_cfg_load(&def, NULL, &err), 0);
    assert_string_equal(ex.database_url, def.database_url);
    assert_string_equal(ex.api_socket, def.api_socket);
    assert_int_equal(ex.api_socket_mode, def.api_socket_mode);
    assert_int_equal(ex.api_processes, def.api_processes);
    assert_int_equal(ex.api_max_body_bytes, def.api_max_body_bytes);
    assert_int_equal(ex.worker_concurrency, def.worker_concurrency);
    assert_int_equal(ex.worker_lease_s, def.worker_lease_s);
    assert_int_equal(ex.worker_heartbeat_s, def.worker_heartbeat_s);
    assert_int_equal(ex.worker_drain_s, def.worker_drain_s);
    assert_int_equal(ex.reaper_batch_size, def.reaper_batch_size);
    assert_int_equal(ex.retention_failed_s, def.retention_failed_s);
    assert_int_equal(ex.log_level, def.log_level);
    assert_int_equal(ex.quota_units_per_window, def.quota_units_per_window);
    assert_int_equal(ex.quota_window_s, def.quota_window_s);
    assert_int_equal(ex.quota_max_active, def.quota_max_active);
    assert_int_equal(ex.ntypes, def.ntypes);
    assert_memory_equal(lt_cfg_type(&ex, "sleep"), lt_cfg_type(&def, "sleep"),
                        sizeof(struct lt_type_cfg));
    lt_cfg_free(&ex);
    lt_cfg_free(&def);
}

static void test_names(void **state)
{
    (void)state;
    assert_true(lt_cfg_name_ok("llm.chat"));
    assert_true(lt_cfg_name_ok("a-b_C9"));
    assert_false(lt_cfg_name_ok(""));
    assert_false(lt_cfg_name_ok("a b"));
    assert_false(lt_cfg_name_ok("a\"b"));
    char longname[80];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_false(lt_cfg_name_ok(longname));
    longname[LT_NAME_LEN] = '\0'; /* "lt_q_" + 58 bytes is PostgreSQL's 63-byte limit */
    assert_true(lt_cfg_name_ok(longname));
    longname[LT_NAME_LEN] = 'a';
    longname[LT_NAME_LEN + 1] = '\0';
    assert_false(lt_cfg_name_ok(longname));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_values_and_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_overrides, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_name_file_line_setting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_providers_and_handlers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_provider_and_type_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quota_and_costs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quota_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_example_matches_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names, setup, teardown),
    };
    return cmocka_run_group_tests_name("cfg", tests, NULL, NULL);
}
