/*
 * handler_noop.c -- the `noop` type: completes at once with {}. For health checks and
 * for measuring the queue itself (claim, write, events) without any work in between.
 */
#include "handler.h"

static void noop_start(struct lt_wrk_task *task)
{
    lt_wrk_task_ok(task, json_object());
}

static void noop_abort(struct lt_wrk_task *task)
{
    (void)task; /* never running: it finishes inside start */
}

const struct lt_wrk_handler lt_wrk_handler_noop = {"noop", noop_start, noop_abort};
