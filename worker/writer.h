/*
 * writer.h -- the one place that writes how an attempt ended: completed, retry, failed,
 * cancelled, or handed back at shutdown. Each write is one conditional UPDATE
 * (`WHERE id = $1 AND attempt = $2 AND status::text = 'running'`) that appends its event in the
 * same statement, so a write that arrives after the task was rescued or cancelled
 * changes nothing, and a write retried after a reconnect cannot apply twice.
 *
 * The child pushes outcomes as tasks end and flushes the queue from its loop. A write
 * that failed because the connection went away stays queued, in order, for the flush
 * after the reconnect; any other failure is logged and dropped (the lease then lapses
 * and the reaper puts the task back). Keeping the queue here is also what lets a later
 * change batch many completions into one statement without touching the callers.
 * The writer logs each transition once it is in the database: task_completed,
 * task_retry, task_failed, task_cancelled, task_handed_back.
 */
#ifndef LT_WRK_WRITER_H
#define LT_WRK_WRITER_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>

#include "cfg.h"
#include "store.h"
#include "uuid.h"

enum lt_wrk_write_kind {
    LT_WRK_WRITE_COMPLETED,
    LT_WRK_WRITE_RETRY,
    LT_WRK_WRITE_FAILED,
    LT_WRK_WRITE_CANCELLED,
    LT_WRK_WRITE_HANDBACK,
};

struct lt_wrk_write {
    enum lt_wrk_write_kind kind;
    char id[LT_UUID_STR_LEN];
    char type[LT_NAME_MAX];
    int attempt;
    int64_t duration_ms;
    json_t *result;   /* COMPLETED: owned */
    char *error;      /* RETRY, FAILED: owned (NULL reads "failed") */
    int64_t delay_ms; /* RETRY: run_at = now() + delay */
    int exhausted;    /* FAILED: a retryable failure with no attempts left */
    struct lt_wrk_write *next;
};

struct lt_wrk_writer {
    struct lt_wrk_write *head, *tail;
    int pending;
    const char *worker_id; /* borrowed; written to metadata.worker */
    char *batch_text;      /* the parameters of the batch statement being built */
    const char *batch_params[2];
};

void lt_wrk_writer_init(struct lt_wrk_writer *w, const char *worker_id);

/* Prepares the writer's statements on a new connection. 0 ok, -1 error (*lost set
 * when the connection is gone). */
int lt_wrk_writer_prepare(PGconn *conn, int *lost);

/* A new write for one attempt (fields past attempt zeroed). NULL when out of memory. */
struct lt_wrk_write *lt_wrk_write_new(enum lt_wrk_write_kind kind, const char *id, const char *type,
                                      int attempt, int64_t duration_ms);

/* Queues a write; takes ownership. */
void lt_wrk_writer_push(struct lt_wrk_writer *w, struct lt_wrk_write *wr);

/* Writes the queue in order. Stops at the first lost connection (*lost = 1), keeping
 * that write and the rest queued. Returns the number of writes left. */
int lt_wrk_writer_flush(struct lt_wrk_writer *w, PGconn *conn, int *lost);

/* The completions at the head of the queue (at most a batch) as one statement, for a
 * caller that runs it together with another (lt_wrk_store_exec_pair). Returns how many
 * writes it covers, 0 when the head is not a completion (or out of memory). The
 * statement's parameters stay valid until lt_wrk_writer_settle. */
int lt_wrk_writer_batch(struct lt_wrk_writer *w, struct lt_wrk_stmt *st);

/* After the batch statement ran: res (its result, NULL when it did not take effect)
 * settles the n writes at the head -- each written or dropped, and logged -- or, when
 * NULL, keeps them queued for the next flush. Frees the batch's parameters. */
void lt_wrk_writer_settle(struct lt_wrk_writer *w, int n, const PGresult *res);

/* Drops everything still queued (at exit), logging each write given up. */
void lt_wrk_writer_clear(struct lt_wrk_writer *w);

#endif
