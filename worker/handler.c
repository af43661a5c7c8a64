/*
 * handler.c -- the registry of handlers and the reporting half of the handler interface
 * (see handler.h). The checks that keep the promises of API.md live here, once, rather
 * than in every handler: progress never decreases within an attempt, one outcome only.
 */
#include "handler.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Indexed by enum lt_handler_kind: a configured type runs the handler it names. */
/* clang-format off */
static const struct lt_wrk_handler *const registry[] = {
    [LT_HANDLER_NOOP] = &lt_wrk_handler_noop,
    [LT_HANDLER_SLEEP] = &lt_wrk_handler_sleep,
    [LT_HANDLER_LLM_CHAT] = &lt_wrk_handler_llm,
    [LT_HANDLER_HTTP_REQUEST] = &lt_wrk_handler_http,
    [LT_HANDLER_EXEC] = &lt_wrk_handler_exec,
};
/* clang-format on */

const struct lt_wrk_handler *lt_wrk_handler_for(enum lt_handler_kind kind)
{
    if ((size_t)kind >= sizeof(registry) / sizeof(registry[0])) {
        return NULL;
    }
    return registry[kind];
}

void lt_wrk_handler_start(struct lt_wrk_task *task, const struct lt_wrk_handler *handler,
                          const struct lt_wrk_task_owner *owner)
{
    task->handler = handler;
    task->owner = owner;
    handler->start(task);
}

void lt_wrk_handler_abort(struct lt_wrk_task *task)
{
    if (task->outcome != LT_WRK_OUTCOME_NONE || task->aborted) {
        return;
    }
    task->aborted = 1;
    if (task->handler != NULL && task->handler->abort != NULL) {
        task->handler->abort(task);
    }
    task->state = NULL;
}

lt_wrk_loop_t *lt_wrk_task_loop(const struct lt_wrk_task *task)
{
    return task->owner->loop;
}

void lt_wrk_task_progress(struct lt_wrk_task *task, int pct, const char *message)
{
    if (task->outcome != LT_WRK_OUTCOME_NONE || task->aborted) {
        return;
    }
    pct = pct < 0 ? 0 : (pct > 100 ? 100 : pct);
    if (pct < task->progress) {
        return; /* never backwards within an attempt */
    }
    task->progress = pct;
    task->event_progress = pct;
    if (task->owner->progress != NULL) {
        task->owner->progress(task, pct, message, task->owner->arg);
    }
}

void lt_wrk_task_partial(struct lt_wrk_task *task, json_t *partial_result, int pct)
{
    if (task->outcome != LT_WRK_OUTCOME_NONE || task->aborted) {
        return;
    }
    pct = pct < 0 ? 0 : (pct > 100 ? 100 : pct);
    if (pct < task->progress) {
        pct = task->progress; /* the result still goes; the progress never goes back */
    }
    int event = pct >= task->event_progress + LT_WRK_PARTIAL_EVENT_STEP;
    task->progress = pct;
    if (event) {
        task->event_progress = pct;
    }
    if (task->owner->partial != NULL) {
        task->owner->partial(task, partial_result, pct, event, task->owner->arg);
    }
}

/* 0 when this is the task's first outcome, -1 (logged) when one was already given. */
static int first_outcome(struct lt_wrk_task *task)
{
    if (task->aborted) {
        return -1; /* an abort raced with the handler's own end: the abort wins */
    }
    if (task->outcome != LT_WRK_OUTCOME_NONE) {
        lt_log_error("handler_double_outcome",
                     json_pack("{ss ss si}", "task_id", task->id, "type", task->type, "attempt",
                               task->attempt),
                     "a handler reported a second outcome; ignored");
        return -1;
    }
    task->state = NULL;
    return 0;
}

void lt_wrk_task_ok(struct lt_wrk_task *task, json_t *result)
{
    if (first_outcome(task) < 0) {
        json_decref(result);
        return;
    }
    task->outcome = LT_WRK_OUTCOME_OK;
    task->result = result != NULL ? result : json_object();
    task->owner->finished(task, task->owner->arg);
}

static void fail(struct lt_wrk_task *task, enum lt_wrk_outcome_kind kind, const char *error,
                 int64_t retry_after_ms)
{
    if (first_outcome(task) < 0) {
        return;
    }
    task->outcome = kind;
    task->error = strdup(error != NULL && error[0] != '\0' ? error : "failed");
    task->retry_after_ms = retry_after_ms > 0 ? retry_after_ms : 0;
    task->owner->finished(task, task->owner->arg);
}

void lt_wrk_task_retryable(struct lt_wrk_task *task, const char *error, int64_t retry_after_ms)
{
    fail(task, LT_WRK_OUTCOME_RETRYABLE, error, retry_after_ms);
}

void lt_wrk_task_permanent(struct lt_wrk_task *task, const char *error)
{
    fail(task, LT_WRK_OUTCOME_PERMANENT, error, 0);
}
