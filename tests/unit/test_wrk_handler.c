/*
 * test_wrk_handler.c -- the handler interface with the built-in handlers, run on a real
 * loop under a recording owner: noop completes at once with {}; sleep reports 25/50/75 %
 * then completes with slept_ms, or fails with the class asked for; a bad payload is a
 * permanent failure; an aborted sleep reports nothing and leaves no timer behind;
 * progress never goes backwards; only the first outcome counts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "handler.h"
#include "loop.h"
#include "task.h"

struct record {
    int progress[8];
    char messages[8][32];
    int nprogress;
    int finished;
};

static void rec_progress(struct lt_wrk_task *task, int pct, const char *message, void *arg)
{
    (void)task;
    struct record *r = arg;
    r->progress[r->nprogress] = pct;
    snprintf(r->messages[r->nprogress], sizeof(r->messages[0]), "%s",
             message != NULL ? message : "");
    r->nprogress++;
}

static void rec_finished(struct lt_wrk_task *task, void *arg)
{
    (void)task;
    struct record *r = arg;
    r->finished++;
}

struct fixture {
    lt_wrk_loop_t *loop;
    struct record rec;
    struct lt_wrk_task_owner owner;
};

static int setup(void **state)
{
    static struct fixture fx;
    memset(&fx, 0, sizeof(fx));
    fx.loop = lt_wrk_loop_new();
    fx.owner.loop = fx.loop;
    fx.owner.progress = rec_progress;
    fx.owner.finished = rec_finished;
    fx.owner.arg = &fx.rec;
    *state = &fx;
    return fx.loop != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    lt_wrk_loop_free(fx->loop);
    return 0;
}

static struct lt_wrk_task *start(struct fixture *fx, const char *type, const char *payload)
{
    struct lt_wrk_task *t = lt_wrk_task_new("0190c2a4-0000-7000-8000-000000000001", type, "default",
                                            json_loads(payload, 0, NULL), 1, 2, 30);
    assert_non_null(t);
    int kind = lt_cfg_handler_parse(type);
    assert_true(kind >= 0);
    const struct lt_wrk_handler *h = lt_wrk_handler_for((enum lt_handler_kind)kind);
    assert_non_null(h);
    lt_wrk_handler_start(t, h, &fx->owner);
    return t;
}

static void run_until_finished(struct fixture *fx, int64_t limit_ms)
{
    int64_t end = lt_mono_ms() + limit_ms;
    while (fx->rec.finished == 0 && lt_mono_ms() < end) {
        assert_true(lt_wrk_loop_run_once(fx->loop, 50) >= 0);
    }
}

static void test_registry(void **state)
{
    (void)state;
    assert_ptr_equal(lt_wrk_handler_for(LT_HANDLER_NOOP), &lt_wrk_handler_noop);
    assert_ptr_equal(lt_wrk_handler_for(LT_HANDLER_SLEEP), &lt_wrk_handler_sleep);
    assert_null(lt_wrk_handler_for((enum lt_handler_kind)99));
}

static void test_noop_completes_at_once(void **state)
{
    struct fixture *fx = *state;
    struct lt_wrk_task *t = start(fx, "noop", "{}");
    assert_int_equal(fx->rec.finished, 1);
    assert_int_equal(t->outcome, LT_WRK_OUTCOME_OK);
    assert_true(json_is_object(t->result) && json_object_size(t->result) == 0);
    lt_wrk_task_free(t);
}

static void test_sleep_reports_quarters_then_completes(void **state)
{
    struct fixture *fx = *state;
    int64_t t0 = lt_mono_ms();
    struct lt_wrk_task *t = start(fx, "sleep", "{\"ms\": 80}");
    assert_int_equal(fx->rec.finished, 0);
    run_until_finished(fx, 2000);
    assert_int_equal(fx->rec.finished, 1);
    assert_true(lt_mono_ms() - t0 >= 80);
    assert_int_equal(fx->rec.nprogress, 3);
    assert_int_equal(fx->rec.progress[0], 25);
    assert_int_equal(fx->rec.progress[1], 50);
    assert_int_equal(fx->rec.progress[2], 75);
    assert_string_equal(fx->rec.messages[0], "[25%] sleeping");
    assert_int_equal(t->outcome, LT_WRK_OUTCOME_OK);
    assert_int_equal(json_integer_value(json_object_get(t->result, "slept_ms")), 80);
    assert_int_equal(lt_wrk_loop_next_timer_ms(fx->loop), -1);
    lt_wrk_task_free(t);
}

static void test_sleep_fails_as_asked(void **state)
{
    struct fixture *fx = *state;
    struct lt_wrk_task *t = start(fx, "sleep", "{\"ms\": 4, \"fail\": \"retryable\"}");
    run_until_finished(fx, 2000);
    assert_int_equal(t->outcome, LT_WRK_OUTCOME_RETRYABLE);
    assert_non_null(t->error);
    lt_wrk_task_free(t);

    fx->rec.finished = 0;
    t = start(fx, "sleep", "{\"ms\": 4, \"fail\": \"permanent\"}");
    run_until_finished(fx, 2000);
    assert_int_equal(t->outcome, LT_WRK_OUTCOME_PERMANENT);
    lt_wrk_task_free(t);
}

static void test_sleep_bad_payload_is_permanent(void **state)
{
    struct fixture *fx = *state;
    const char *bad[] = {"{}", "{\"ms\": -1}", "{\"ms\": \"10\"}", "[1]",
                         "{\"ms\": 1, \"fail\": \"sometimes\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fx->rec.finished = 0;
        struct lt_wrk_task *t = start(fx, "sleep", bad[i]);
        assert_int_equal(fx->rec.finished, 1);
        assert_int_equal(t->outcome, LT_WRK_OUTCOME_PERMANENT);
        assert_non_null(strstr(t->error, "invalid payload"));
        lt_wrk_task_free(t);
    }
    assert_int_equal(lt_wrk_loop_next_timer_ms(fx->loop), -1);
}

static void test_abort_releases_and_reports_nothing(void **state)
{
    struct fixture *fx = *state;
    struct lt_wrk_task *t = start(fx, "sleep", "{\"ms\": 60000}");
    assert_true(lt_wrk_loop_next_timer_ms(fx->loop) >= 0);
    lt_wrk_handler_abort(t);
    assert_int_equal(lt_wrk_loop_next_timer_ms(fx->loop), -1);
    assert_int_equal(fx->rec.finished, 0);
    assert_true(t->aborted);
    /* A late outcome after the abort is ignored. */
    lt_wrk_task_ok(t, json_object());
    assert_int_equal(fx->rec.finished, 0);
    assert_int_equal(t->outcome, LT_WRK_OUTCOME_NONE);
    lt_wrk_task_free(t);
}

static void test_progress_monotonic_and_one_outcome(void **state)
{
    struct fixture *fx = *state;
    struct lt_wrk_task *t = lt_wrk_task_new("0190c2a4-0000-7000-8000-000000000002", "noop",
                                            "default", json_object(), 1, 0, 30);
    t->owner = &fx->owner;
    lt_wrk_task_progress(t, 40, "a");
    lt_wrk_task_progress(t, 30, "backwards");
    lt_wrk_task_progress(t, 140, "clamped");
    assert_int_equal(fx->rec.nprogress, 2);
    assert_int_equal(fx->rec.progress[0], 40);
    assert_int_equal(fx->rec.progress[1], 100);
    lt_wrk_task_permanent(t, "first");
    lt_wrk_task_ok(t, json_object());
    assert_int_equal(fx->rec.finished, 1);
    assert_int_equal(t->outcome, LT_WRK_OUTCOME_PERMANENT);
    assert_string_equal(t->error, "first");
    lt_wrk_task_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test_setup_teardown(test_noop_completes_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sleep_reports_quarters_then_completes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sleep_fails_as_asked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sleep_bad_payload_is_permanent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_releases_and_reports_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress_monotonic_and_one_outcome, setup, teardown),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests_name("wrk_handler", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
