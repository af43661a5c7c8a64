/*
 * task.h -- one claimed attempt of a task while this child holds it: what the claim
 * returned (read-only for handlers), the handler's private state, the outcome once the
 * handler reports it, and the owner's bookkeeping (timeout timer, list links).
 *
 * The owner is whoever runs tasks: the worker child, or a unit test. It receives a
 * handler's progress reports and its single outcome through struct lt_wrk_task_owner.
 * The outcome callback only records: it may run inside the handler's start or timer
 * callback, so the owner acts on it (writes, frees the task) later, from its own loop.
 */
#ifndef LT_WRK_TASK_H
#define LT_WRK_TASK_H

#include <jansson.h>
#include <stdint.h>

#include "cfg.h"
#include "loop.h"
#include "uuid.h"

struct lt_wrk_task;
struct lt_wrk_handler;

struct lt_wrk_task_owner {
    lt_wrk_loop_t *loop;
    /* A progress report that passed the checks (0..100, not below the last one). */
    void (*progress)(struct lt_wrk_task *task, int pct, const char *message, void *arg);
    /* The handler's outcome is in task->outcome/result/error/retry_after_ms. */
    void (*finished)(struct lt_wrk_task *task, void *arg);
    /* A partial result (borrowed) and progress of a running attempt (lt_wrk_task_partial);
     * event: the progress moved enough since the last event to record one. May be NULL. */
    void (*partial)(struct lt_wrk_task *task, json_t *result, int pct, int event, void *arg);
    void *arg;
};

enum lt_wrk_outcome_kind {
    LT_WRK_OUTCOME_NONE = 0,
    LT_WRK_OUTCOME_OK,
    LT_WRK_OUTCOME_RETRYABLE,
    LT_WRK_OUTCOME_PERMANENT,
};

struct lt_wrk_task {
    /* The attempt as claimed. */
    char id[LT_UUID_STR_LEN];
    char type[LT_NAME_MAX];
    char queue[LT_NAME_MAX];
    json_t *payload; /* owned by the task */
    int attempt;     /* this attempt's number, 1 = first */
    int max_retries;
    int timeout_s;
    const struct lt_cfg *cfg;           /* borrowed: the child's configuration */
    const struct lt_type_cfg *type_cfg; /* borrowed: this task's type in cfg */
    /* The start of the error the previous attempt left (truncated; "" when none), so a
     * handler can tell a failure that repeats (llm.chat: a malformed answer twice). */
    char prev_error[96];

    /* The handler running it and its private state (the handler's to free). */
    const struct lt_wrk_handler *handler;
    void *state;
    int progress;       /* last progress accepted in this attempt */
    int event_progress; /* progress of the last event recorded in this attempt */

    /* The outcome: set once, by lt_wrk_task_ok / _retryable / _permanent. */
    enum lt_wrk_outcome_kind outcome;
    json_t *result;         /* OK: owned by the task */
    char *error;            /* RETRYABLE / PERMANENT */
    int64_t retry_after_ms; /* RETRYABLE: the server's own minimum, 0 when none */
    int aborted;            /* aborted by the owner: no outcome will follow */

    /* The owner's. */
    const struct lt_wrk_task_owner *owner;
    int64_t started_ms; /* lt_mono_ms() at claim */
    uint64_t timeout_timer;
    int heartbeat_seen; /* 0 missing from the heartbeat, 1 renewed, 2 cancel requested */
    struct lt_wrk_task *prev, *next;
};

/* A new task; payload is stolen (even on failure). NULL when out of memory. */
struct lt_wrk_task *lt_wrk_task_new(const char *id, const char *type, const char *queue,
                                    json_t *payload, int attempt, int max_retries, int timeout_s);

/* Frees the task and what it owns. The handler must be finished or aborted. */
void lt_wrk_task_free(struct lt_wrk_task *task);

#endif
