/*
 * handler.h -- what a task type's implementation looks like, and the registry that maps
 * type names to implementations.
 *
 * A handler is started with a claimed attempt (struct lt_wrk_task: id, type, payload,
 * attempt, timeout) and works asynchronously on the task owner's event loop
 * (lt_wrk_task_loop): timers, descriptors, curl transfers. While it runs it may report
 * progress (lt_wrk_task_progress: 0..100 and a message; a report below the last one in
 * this attempt is dropped). It ends with exactly one outcome:
 *
 *   lt_wrk_task_ok(task, result)               completed with a result (stolen)
 *   lt_wrk_task_retryable(task, error, ms)     failed, may succeed later; ms is the
 *                                              server's Retry-After (0: none)
 *   lt_wrk_task_permanent(task, error)         failed, retrying cannot help
 *
 * The outcome may be reported from inside start (an invalid payload, a task that is
 * done at once). Before reporting it the handler releases everything it holds (timers,
 * transfers, processes, its state): after the call it must not touch the task again.
 *
 * abort() is the owner stopping the attempt (cancel, timeout, drain, the lease taken
 * away): the handler releases everything at once and reports nothing. It is only called
 * on a task that has not reported an outcome.
 */
#ifndef LT_WRK_HANDLER_H
#define LT_WRK_HANDLER_H

#include <jansson.h>
#include <stdint.h>

#include "loop.h"
#include "task.h"

struct lt_wrk_handler {
    const char *type;
    void (*start)(struct lt_wrk_task *task);
    void (*abort)(struct lt_wrk_task *task);
};

/* The built-in handlers (handler_noop.c, handler_sleep.c). */
extern const struct lt_wrk_handler lt_wrk_handler_noop;
extern const struct lt_wrk_handler lt_wrk_handler_sleep;
/* llm.chat (handler_llm.c). */
extern const struct lt_wrk_handler lt_wrk_handler_llm;
/* http.request (handler_http.c) and configured exec types (handler_exec.c). */
extern const struct lt_wrk_handler lt_wrk_handler_http;
extern const struct lt_wrk_handler lt_wrk_handler_exec;

/* The handler of a kind (a type's configured handler), NULL when none is registered. */
const struct lt_wrk_handler *lt_wrk_handler_for(enum lt_handler_kind kind);

/* Starts task with handler under owner. The outcome may already be set on return. */
void lt_wrk_handler_start(struct lt_wrk_task *task, const struct lt_wrk_handler *handler,
                          const struct lt_wrk_task_owner *owner);

/* Owner side: stops a running attempt (handler->abort); no-op once an outcome is set. */
void lt_wrk_handler_abort(struct lt_wrk_task *task);

/* ---- for handlers ---- */

/* The loop the handler runs on. Borrowed. */
lt_wrk_loop_t *lt_wrk_task_loop(const struct lt_wrk_task *task);

/* Progress 0..100 (clamped) with an optional message (may be NULL). */
void lt_wrk_task_progress(struct lt_wrk_task *task, int pct, const char *message);

/* A partial result while running (borrowed; e.g. a streaming reply so far), written in
 * place of the task's result with progress pct (clamped, never backwards). Unlike a
 * progress report it records an event only when the progress moved by
 * LT_WRK_PARTIAL_EVENT_STEP since the last event, so it can be called often. */
#define LT_WRK_PARTIAL_EVENT_STEP 10
void lt_wrk_task_partial(struct lt_wrk_task *task, json_t *partial_result, int pct);

/* Outcomes; only the first one counts. result: stolen (NULL means {}). */
void lt_wrk_task_ok(struct lt_wrk_task *task, json_t *result);
void lt_wrk_task_retryable(struct lt_wrk_task *task, const char *error, int64_t retry_after_ms);
void lt_wrk_task_permanent(struct lt_wrk_task *task, const char *error);

#endif
