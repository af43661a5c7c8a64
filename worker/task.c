/*
 * task.c -- see task.h.
 */
#include "task.h"

#include <stdio.h>
#include <stdlib.h>

#include "clock.h"

struct lt_wrk_task *lt_wrk_task_new(const char *id, const char *type, const char *queue,
                                    json_t *payload, int attempt, int max_retries, int timeout_s)
{
    struct lt_wrk_task *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        json_decref(payload);
        return NULL;
    }
    snprintf(t->id, sizeof(t->id), "%s", id);
    snprintf(t->type, sizeof(t->type), "%s", type);
    snprintf(t->queue, sizeof(t->queue), "%s", queue);
    t->payload = payload;
    t->attempt = attempt;
    t->max_retries = max_retries;
    t->timeout_s = timeout_s;
    t->started_ms = lt_mono_ms();
    return t;
}

void lt_wrk_task_free(struct lt_wrk_task *task)
{
    if (task == NULL) {
        return;
    }
    json_decref(task->payload);
    json_decref(task->result);
    free(task->error);
    free(task);
}
