/*
 * handler_sleep.c -- the `sleep` type: {"ms": n, "fail": "retryable"|"permanent"|null}.
 * Waits n ms on a loop timer, reporting progress at each quarter ("[25%] sleeping"),
 * then completes with {"slept_ms": n} or fails with the class asked for. It holds
 * nothing but one timer, which makes it the reference for cancellation, timeouts,
 * drains and retries in the tests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handler.h"

/* A sleep is a test tool: a day is more than any test needs and keeps ms * 3 in range. */
#define SLEEP_MAX_MS 86400000LL

enum sleep_fail { FAIL_NONE, FAIL_RETRYABLE, FAIL_PERMANENT };

struct sleep_state {
    int64_t ms;
    enum sleep_fail fail;
    int quarter; /* quarters elapsed, 0..4 */
    uint64_t timer;
};

static void on_quarter(lt_wrk_loop_t *loop, void *arg);

static int64_t quarter_delay(const struct sleep_state *s)
{
    /* Deltas between the marks, so the four add up to exactly ms. */
    return s->ms * (s->quarter + 1) / 4 - s->ms * s->quarter / 4;
}

static void on_quarter(lt_wrk_loop_t *loop, void *arg)
{
    struct lt_wrk_task *task = arg;
    struct sleep_state *s = task->state;
    char msg[32];

    s->timer = 0;
    s->quarter++;
    if (s->quarter < 4) {
        snprintf(msg, sizeof(msg), "[%d%%] sleeping", s->quarter * 25);
        lt_wrk_task_progress(task, s->quarter * 25, msg);
        s->timer = lt_wrk_loop_timer(loop, quarter_delay(s), on_quarter, task);
        if (s->timer == 0) {
            free(s);
            lt_wrk_task_retryable(task, "out of memory", 0);
        }
        return;
    }
    int64_t ms = s->ms;
    enum sleep_fail f = s->fail;
    free(s);
    if (f == FAIL_RETRYABLE) {
        lt_wrk_task_retryable(task, "sleep failed as asked (retryable)", 0);
    } else if (f == FAIL_PERMANENT) {
        lt_wrk_task_permanent(task, "sleep failed as asked (permanent)");
    } else {
        lt_wrk_task_ok(task, json_pack("{sI}", "slept_ms", (json_int_t)ms));
    }
}

static void sleep_start(struct lt_wrk_task *task)
{
    json_t *ms = json_object_get(task->payload, "ms");
    json_t *fail = json_object_get(task->payload, "fail");
    enum sleep_fail f = FAIL_NONE;

    if (!json_is_integer(ms) || json_integer_value(ms) < 0 ||
        json_integer_value(ms) > SLEEP_MAX_MS) {
        lt_wrk_task_permanent(task, "invalid payload: ms must be an integer 0..86400000");
        return;
    }
    if (json_is_string(fail) && strcmp(json_string_value(fail), "retryable") == 0) {
        f = FAIL_RETRYABLE;
    } else if (json_is_string(fail) && strcmp(json_string_value(fail), "permanent") == 0) {
        f = FAIL_PERMANENT;
    } else if (fail != NULL && !json_is_null(fail)) {
        lt_wrk_task_permanent(task, "invalid payload: fail must be retryable, permanent or null");
        return;
    }
    struct sleep_state *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        lt_wrk_task_retryable(task, "out of memory", 0);
        return;
    }
    s->ms = (int64_t)json_integer_value(ms);
    s->fail = f;
    task->state = s;
    s->timer = lt_wrk_loop_timer(lt_wrk_task_loop(task), quarter_delay(s), on_quarter, task);
    if (s->timer == 0) {
        free(s);
        lt_wrk_task_retryable(task, "out of memory", 0);
    }
}

static void sleep_abort(struct lt_wrk_task *task)
{
    struct sleep_state *s = task->state;
    if (s != NULL) {
        lt_wrk_loop_timer_cancel(lt_wrk_task_loop(task), s->timer);
        free(s);
    }
}

const struct lt_wrk_handler lt_wrk_handler_sleep = {"sleep", sleep_start, sleep_abort};
