/*
 * child.c -- see child.h.
 *
 * The loop, in outline (STYLE.md): the event loop waits on the PostgreSQL socket, the
 * signal self-pipe, libcurl's sockets and the timers (poll, heartbeat, reconnect, drain,
 * each task's timeout); between rounds, tick() does the database work in a fixed order:
 * reconnect if due, take notifications, turn finished tasks into writes, heartbeat,
 * hand back after the drain period, flush the writes, claim (the completions at the head
 * of the queue and a claim share one transaction when both are due). Database statements run
 * synchronously: a child's statements are short and indexed, and one connection per
 * child keeps them in order, which the exactly-once writes rely on.
 *
 * Handlers report outcomes through the task owner's finished() callback, which only
 * marks the task; tick() acts on it. So a handler that finishes inside its own start or
 * timer callback never has its task freed under it.
 *
 * Invariants: every task in the in-flight list was claimed by this child for its
 * current attempt; it leaves the list exactly once, with a write queued (completed,
 * retry, failed, cancelled, handed back) or, when the heartbeat shows the attempt was
 * taken away, with none. While the connection is down, tasks keep running and their
 * writes wait in the writer's queue; the conditional UPDATEs make the late writes safe.
 */
#include "child.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "backoff.h"
#include "clock.h"
#include "db.h"
#include "handler.h"
#include "log.h"
#include "loop.h"
#include "provider.h"
#include "sig.h"
#include "store.h"
#include "task.h"
#include "writer.h"

/* Reconnect backoff: quick enough to notice a restarted server, slow enough not to
 * hammer one that is down. */
#define RECONNECT_MIN_MS 500
#define RECONNECT_MAX_MS 5000
/* After the drain period, how long the child keeps trying to write the hand-backs
 * before it exits anyway (the reaper rescues what it could not write). */
#define FINAL_WRITE_MS 10000
#define CANCEL_CHANNEL "lt_cancel"
#define QUEUE_CHANNEL_PREFIX "lt_q_"

struct child {
    const struct lt_cfg *cfg;
    lt_wrk_loop_t *loop;
    struct lt_wrk_task_owner owner;
    struct lt_wrk_writer writer;

    char host[256];
    int pid;
    char worker_id[300];
    char *queues;   /* text[] literal of the configured queues, from queue_turn on */
    int queue_turn; /* the queue the next claim tries first */

    PGconn *conn; /* NULL while disconnected */
    int conn_fd;
    int ever_connected;
    int64_t reconnect_ms;
    int reconnect_due;

    struct lt_wrk_task *tasks; /* in flight */
    int ninflight;
    int any_finished; /* some task in the list has its outcome */
    int trim_peak;    /* most tasks in flight at once since the heap was last trimmed */

    int want_claim; /* a queue was notified, or the poll deadline passed */
    int backlog;    /* the last claim came back full: more may be ready */
    int heartbeat_due;

    int stopping;
    int drain_over;
    int64_t drain_deadline, final_deadline;
};

/* ---- the in-flight list ---- */

static void list_add(struct child *c, struct lt_wrk_task *t)
{
    t->prev = NULL;
    t->next = c->tasks;
    if (t->next != NULL) {
        t->next->prev = t;
    }
    c->tasks = t;
    c->ninflight++;
    if (c->ninflight > c->trim_peak) {
        c->trim_peak = c->ninflight;
    }
}

static void list_remove(struct child *c, struct lt_wrk_task *t)
{
    if (t->prev != NULL) {
        t->prev->next = t->next;
    } else {
        c->tasks = t->next;
    }
    if (t->next != NULL) {
        t->next->prev = t->prev;
    }
    c->ninflight--;
}

static struct lt_wrk_task *find_task(struct child *c, const char *id)
{
    for (struct lt_wrk_task *t = c->tasks; t != NULL; t = t->next) {
        if (strcmp(t->id, id) == 0) {
            return t;
        }
    }
    return NULL;
}

static json_t *task_fields(const struct lt_wrk_task *t)
{
    return json_pack("{ss ss si}", "task_id", t->id, "type", t->type, "attempt", t->attempt);
}

/* Takes the task out of the list and frees it, with write (may be NULL) queued. */
static void retire(struct child *c, struct lt_wrk_task *t, struct lt_wrk_write *wr)
{
    lt_wrk_loop_timer_cancel(c->loop, t->timeout_timer);
    list_remove(c, t);
    if (wr != NULL) {
        lt_wrk_writer_push(&c->writer, wr);
    }
    lt_wrk_task_free(t);
}

static struct lt_wrk_write *new_write(const struct lt_wrk_task *t, enum lt_wrk_write_kind kind)
{
    struct lt_wrk_write *wr =
        lt_wrk_write_new(kind, t->id, t->type, t->attempt, lt_mono_ms() - t->started_ms);
    if (wr == NULL) {
        lt_log_error("out_of_memory", task_fields(t), "cannot queue the outcome");
    }
    return wr;
}

/* ---- the database link ---- */

static void on_db_readable(lt_wrk_loop_t *loop, int fd, int events, void *arg);

static void on_reconnect_timer(lt_wrk_loop_t *loop, void *arg)
{
    (void)loop;
    struct child *c = arg;
    c->reconnect_due = 1;
}

static void schedule_reconnect(struct child *c)
{
    if (lt_wrk_loop_timer(c->loop, c->reconnect_ms, on_reconnect_timer, c) == 0) {
        c->reconnect_due = 1; /* no memory for a timer: try on the next round */
    }
    c->reconnect_ms =
        c->reconnect_ms * 2 < RECONNECT_MAX_MS ? c->reconnect_ms * 2 : RECONNECT_MAX_MS;
}

static void link_down(struct child *c)
{
    if (c->conn == NULL) {
        return;
    }
    lt_wrk_loop_unwatch(c->loop, c->conn_fd);
    PQfinish(c->conn);
    c->conn = NULL;
    c->conn_fd = -1;
    lt_log_warn(
        "db_lost",
        json_pack("{si si}", "in_flight", c->ninflight, "pending_writes", c->writer.pending),
        "database connection lost; tasks keep running, reconnecting");
    schedule_reconnect(c);
}

static int listen_queues(struct child *c, int listen, int *lost)
{
    char channel[LT_NAME_MAX + sizeof(QUEUE_CHANNEL_PREFIX)];
    for (int i = 0; i < c->cfg->worker_nqueues; i++) {
        snprintf(channel, sizeof(channel), "%s%s", QUEUE_CHANNEL_PREFIX, c->cfg->worker_queues[i]);
        if (lt_wrk_store_listen(c->conn, channel, listen, lost) < 0) {
            return -1;
        }
    }
    return 0;
}

static void link_up(struct child *c)
{
    int lost = 0;
    c->reconnect_due = 0;
    c->conn = lt_db_connect(c->cfg->database_url, c->cfg->db_connect_timeout_s, "longtask-worker");
    if (c->conn == NULL) {
        schedule_reconnect(c);
        return;
    }
    c->conn_fd = PQsocket(c->conn);
    if (lt_wrk_store_prepare(c->conn, c->cfg->db_statement_timeout_ms, &lost) < 0 ||
        lt_wrk_writer_prepare(c->conn, &lost) < 0 ||
        lt_wrk_store_worker_up(c->conn, c->worker_id, c->host, c->pid, &lost) < 0 ||
        (!c->stopping && listen_queues(c, 1, &lost) < 0) ||
        lt_wrk_store_listen(c->conn, CANCEL_CHANNEL, 1, &lost) < 0 ||
        lt_wrk_loop_watch(c->loop, c->conn_fd, LT_WRK_READ, on_db_readable, c) < 0) {
        PQfinish(c->conn);
        c->conn = NULL;
        c->conn_fd = -1;
        schedule_reconnect(c);
        return;
    }
    c->reconnect_ms = RECONNECT_MIN_MS;
    lt_log_info(
        c->ever_connected ? "db_reconnected" : "db_connected",
        json_pack("{si si}", "in_flight", c->ninflight, "pending_writes", c->writer.pending),
        "connected to PostgreSQL");
    c->ever_connected = 1;
    /* Learn at once which tasks were taken away while we were gone, and catch up on
     * notifications that were lost with the old session. */
    c->heartbeat_due = c->ninflight > 0;
    c->want_claim = 1;
}

/* ---- cancellation, loss, timeout ---- */

static void cancel_task(struct child *c, struct lt_wrk_task *t)
{
    if (t->outcome != LT_WRK_OUTCOME_NONE) {
        return; /* it finished first: that outcome is the true one */
    }
    lt_wrk_handler_abort(t);
    retire(c, t, new_write(t, LT_WRK_WRITE_CANCELLED));
}

static void lose_task(struct child *c, struct lt_wrk_task *t)
{
    lt_log_warn("task_lost", task_fields(t),
                "the attempt is no longer ours (lease lapsed and rescued); stopped without "
                "writing");
    lt_wrk_handler_abort(t);
    retire(c, t, NULL);
}

static void on_task_timeout(lt_wrk_loop_t *loop, void *arg)
{
    (void)loop;
    struct lt_wrk_task *t = arg;
    struct child *c = t->owner->arg;
    char msg[64];

    t->timeout_timer = 0;
    if (t->outcome != LT_WRK_OUTCOME_NONE) {
        return;
    }
    lt_wrk_handler_abort(t);
    snprintf(msg, sizeof(msg), "timeout after %d s", t->timeout_s);
    t->outcome = LT_WRK_OUTCOME_RETRYABLE;
    t->error = strdup(msg);
    c->any_finished = 1;
}

/* ---- notifications ---- */

static void take_notifications(struct child *c)
{
    PGnotify *n;
    while (c->conn != NULL && (n = PQnotifies(c->conn)) != NULL) {
        if (strcmp(n->relname, CANCEL_CHANNEL) == 0) {
            struct lt_wrk_task *t = find_task(c, n->extra);
            if (t != NULL) {
                cancel_task(c, t);
            }
        } else if (strncmp(n->relname, QUEUE_CHANNEL_PREFIX, strlen(QUEUE_CHANNEL_PREFIX)) == 0) {
            c->want_claim = 1;
        }
        PQfreemem(n);
    }
}

static void on_db_readable(lt_wrk_loop_t *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)fd;
    (void)events;
    struct child *c = arg;
    if (!PQconsumeInput(c->conn) || PQstatus(c->conn) != CONNECTION_OK) {
        link_down(c);
        return;
    }
    take_notifications(c);
}

/* ---- handlers' reports ---- */

static void on_progress(struct lt_wrk_task *t, int pct, const char *message, void *arg)
{
    struct child *c = arg;
    int lost = 0;
    if (c->conn == NULL) {
        return; /* best effort: the next report or the outcome says more */
    }
    if (lt_wrk_store_progress(c->conn, t->id, t->attempt, pct, message, &lost) < 0 && lost) {
        link_down(c);
    }
}

/* A streaming handler's partial result: best effort like progress (the outcome's
 * write carries the final result whatever happens to these). */
static void on_partial(struct lt_wrk_task *t, json_t *result, int pct, int event, void *arg)
{
    struct child *c = arg;
    int lost = 0;
    char msg[32];
    if (c->conn == NULL) {
        return;
    }
    char *text = json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL) {
        return;
    }
    snprintf(msg, sizeof(msg), "[%d%%] streaming", pct);
    if (lt_wrk_store_partial(c->conn, t->id, t->attempt, text, pct, event, msg, &lost) < 0 &&
        lost) {
        link_down(c);
    }
    free(text);
}

static void on_finished(struct lt_wrk_task *t, void *arg)
{
    (void)t;
    struct child *c = arg;
    c->any_finished = 1;
}

/* Turns each finished task into its write: completed, retry (backoff from the type's
 * configuration) or failed. */
static void collect_finished(struct child *c)
{
    struct lt_wrk_task *next;
    c->any_finished = 0;
    for (struct lt_wrk_task *t = c->tasks; t != NULL; t = next) {
        next = t->next;
        if (t->outcome == LT_WRK_OUTCOME_NONE) {
            continue;
        }
        struct lt_wrk_write *wr = NULL;
        if (t->outcome == LT_WRK_OUTCOME_OK) {
            if ((wr = new_write(t, LT_WRK_WRITE_COMPLETED)) != NULL) {
                wr->result = t->result;
                t->result = NULL;
            }
        } else if (t->outcome == LT_WRK_OUTCOME_RETRYABLE && t->attempt <= t->max_retries) {
            const struct lt_type_cfg *tc = lt_cfg_type(c->cfg, t->type);
            if ((wr = new_write(t, LT_WRK_WRITE_RETRY)) != NULL) {
                wr->delay_ms =
                    lt_backoff_delay_ms(t->attempt, tc != NULL ? tc->backoff_base_ms : 1000,
                                        tc != NULL ? tc->backoff_max_ms : 60000, t->retry_after_ms,
                                        lt_backoff_random());
            }
        } else if ((wr = new_write(t, LT_WRK_WRITE_FAILED)) != NULL) {
            wr->exhausted = t->outcome == LT_WRK_OUTCOME_RETRYABLE;
        }
        if (wr != NULL && t->outcome != LT_WRK_OUTCOME_OK) {
            wr->error = t->error;
            t->error = NULL;
        }
        retire(c, t, wr);
    }
}

/* ---- claim ---- */

static void start_task(struct child *c, PGresult *res, int row)
{
    json_error_t jerr;
    json_t *payload = json_loads(PQgetvalue(res, row, 2), JSON_DECODE_ANY, &jerr);
    struct lt_wrk_task *t =
        lt_wrk_task_new(PQgetvalue(res, row, 0), PQgetvalue(res, row, 1), PQgetvalue(res, row, 6),
                        payload, atoi(PQgetvalue(res, row, 3)), atoi(PQgetvalue(res, row, 4)),
                        atoi(PQgetvalue(res, row, 5)));
    if (t == NULL) {
        lt_log_error("out_of_memory", json_pack("{ss}", "task_id", PQgetvalue(res, row, 0)),
                     "cannot start a claimed task; its lease will lapse");
        return;
    }
    list_add(c, t);
    t->owner = &c->owner;
    lt_log_info("task_claimed",
                json_pack("{ss ss si ss}", "task_id", t->id, "type", t->type, "attempt", t->attempt,
                          "queue", t->queue),
                "claimed");

    t->cfg = c->cfg;
    t->type_cfg = lt_cfg_type(c->cfg, t->type);
    if (!PQgetisnull(res, row, 7)) {
        snprintf(t->prev_error, sizeof(t->prev_error), "%s", PQgetvalue(res, row, 7));
    }
    if (t->type_cfg == NULL) {
        lt_wrk_task_permanent(t, "unknown type");
        return;
    }
    const struct lt_wrk_handler *h = lt_wrk_handler_for(t->type_cfg->handler);
    if (h == NULL) {
        lt_wrk_task_permanent(t, "no handler for this type in this worker");
        return;
    }
    if (payload == NULL) {
        lt_wrk_task_permanent(t, "invalid payload: not JSON");
        return;
    }
    if (t->timeout_s > 0) {
        t->timeout_timer =
            lt_wrk_loop_timer(c->loop, (int64_t)t->timeout_s * 1000, on_task_timeout, t);
    }
    lt_wrk_handler_start(t, h, &c->owner);
}

/* The claim's queue array, starting at queue_turn. The claim takes queues in array order
 * until its batch is full, so turning the array after each claim keeps a busy queue from
 * starving the others. Queue names are [A-Za-z0-9_.-] (lt_cfg_name_ok): quoting needs no
 * escapes, and the buffer was sized for all of them at start. */
static void write_queue_literal(struct child *c)
{
    const struct lt_cfg *cfg = c->cfg;
    size_t len = 0;
    c->queues[len++] = '{';
    for (int k = 0; k < cfg->worker_nqueues; k++) {
        const char *q = cfg->worker_queues[(c->queue_turn + k) % cfg->worker_nqueues];
        size_t n = strlen(q);
        if (k > 0) {
            c->queues[len++] = ',';
        }
        c->queues[len++] = '"';
        memcpy(c->queues + len, q, n);
        len += n;
        c->queues[len++] = '"';
    }
    c->queues[len++] = '}';
    c->queues[len] = '\0';
}

/* How many tasks the next claim may take: the free slots, at most a claim batch. */
static int claim_size(const struct child *c)
{
    int free_slots = c->cfg->worker_concurrency - c->ninflight;
    return free_slots < c->cfg->worker_claim_batch ? free_slots : c->cfg->worker_claim_batch;
}

/* Starts what a claim of up to n tasks returned. */
static void take_claimed(struct child *c, PGresult *res, int n)
{
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++) {
        start_task(c, res, i);
    }
    c->backlog = rows == n;
    if (c->cfg->worker_nqueues > 1) {
        c->queue_turn = (c->queue_turn + 1) % c->cfg->worker_nqueues;
        write_queue_literal(c);
    }
}

static void claim(struct child *c)
{
    int lost = 0;
    c->want_claim = 0;
    while (c->conn != NULL) {
        int n = claim_size(c);
        if (n <= 0) {
            return; /* backlog stays as it was: claim again when a slot frees */
        }
        PGresult *res =
            lt_wrk_store_claim(c->conn, c->queues, n, c->cfg->worker_lease_s, c->worker_id, &lost);
        if (res == NULL) {
            if (lost) {
                link_down(c);
            }
            return;
        }
        take_claimed(c, res, n);
        PQclear(res);
        if (!c->backlog) {
            return;
        }
    }
}

/* The completions at the head of the write queue and the next claim in one transaction,
 * sent together: at high rates a commit is what a statement costs, and a child that
 * finished tasks usually has room to claim. Both take effect or neither; on a failure
 * that left the connection up, the separate flush and claim that follow run them again
 * one by one (and report what failed). */
static void complete_and_claim(struct child *c)
{
    int lost = 0;
    int n = claim_size(c);
    if (c->stopping || c->conn == NULL || !(c->want_claim || c->backlog) || n <= 0) {
        return;
    }
    struct lt_wrk_stmt done, claimed;
    struct lt_wrk_claim_args args;
    int nwrites = lt_wrk_writer_batch(&c->writer, &done);
    if (nwrites <= 0) {
        lt_wrk_writer_settle(&c->writer, 0, NULL);
        return;
    }
    lt_wrk_store_claim_stmt(&claimed, &args, c->queues, n, c->cfg->worker_lease_s, c->worker_id);
    if (lt_wrk_store_exec_pair(c->conn, &done, &claimed, &lost) < 0) {
        lt_wrk_writer_settle(&c->writer, 0, NULL);
        if (lost) {
            link_down(c);
        }
        return;
    }
    lt_wrk_writer_settle(&c->writer, nwrites, done.res);
    PQclear(done.res);
    c->want_claim = 0;
    take_claimed(c, claimed.res, n);
    PQclear(claimed.res);
}

/* ---- heartbeat ---- */

static void heartbeat(struct child *c)
{
    int lost = 0;
    size_t cap = 3 + (size_t)c->ninflight * LT_UUID_STR_LEN, len = 0;
    char *ids = malloc(cap);
    struct lt_wrk_task *t, *next;

    c->heartbeat_due = 0;
    if (ids == NULL) {
        return;
    }
    ids[len++] = '{';
    for (t = c->tasks; t != NULL; t = t->next) {
        len += (size_t)snprintf(ids + len, cap - len, "%s%s", t == c->tasks ? "" : ",", t->id);
        t->heartbeat_seen = 0;
    }
    ids[len++] = '}';
    ids[len] = '\0';
    PGresult *res = lt_wrk_store_heartbeat(c->conn, ids, c->worker_id, c->host, c->pid,
                                           c->cfg->worker_lease_s, &lost);
    free(ids);
    if (res == NULL) {
        if (lost) {
            link_down(c);
        }
        return;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        if ((t = find_task(c, PQgetvalue(res, i, 0))) != NULL) {
            t->heartbeat_seen = PQgetvalue(res, i, 1)[0] == 't' ? 2 : 1;
        }
    }
    PQclear(res);
    for (t = c->tasks; t != NULL; t = next) {
        next = t->next;
        if (t->heartbeat_seen == 0) {
            lose_task(c, t);
        } else if (t->heartbeat_seen == 2) {
            cancel_task(c, t);
        }
    }
}

/* ---- timers ---- */

static void on_poll_timer(lt_wrk_loop_t *loop, void *arg)
{
    struct child *c = arg;
    c->want_claim = 1;
    lt_wrk_loop_timer(loop, c->cfg->worker_poll_ms, on_poll_timer, c);
}

static void on_heartbeat_timer(lt_wrk_loop_t *loop, void *arg)
{
    struct child *c = arg;
    c->heartbeat_due = 1;
    lt_wrk_loop_timer(loop, (int64_t)c->cfg->worker_heartbeat_s * 1000, on_heartbeat_timer, c);
}

static void on_drain_timer(lt_wrk_loop_t *loop, void *arg)
{
    (void)loop;
    struct child *c = arg;
    c->drain_over = 1;
}

static void on_signal(lt_wrk_loop_t *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)fd;
    (void)events;
    struct child *c = arg;
    int lost = 0;
    if (!(lt_wrk_sig_take() & LT_WRK_SIG_TERM) || c->stopping) {
        return;
    }
    c->stopping = 1;
    c->drain_deadline = lt_mono_ms() + (int64_t)c->cfg->worker_drain_s * 1000;
    c->final_deadline = c->drain_deadline + FINAL_WRITE_MS;
    lt_wrk_loop_timer(c->loop, (int64_t)c->cfg->worker_drain_s * 1000, on_drain_timer, c);
    lt_wrk_loop_timer(c->loop, (int64_t)c->cfg->worker_drain_s * 1000 + FINAL_WRITE_MS,
                      on_drain_timer, c); /* wakes the loop for the final deadline */
    lt_log_info("worker_draining",
                json_pack("{si si}", "in_flight", c->ninflight, "drain_s", c->cfg->worker_drain_s),
                "stopping: no new claims, draining");
    if (c->conn != NULL && listen_queues(c, 0, &lost) < 0 && lost) {
        link_down(c);
    }
}

/* After the drain period: every task still running is aborted and handed back. */
static void hand_back_all(struct child *c)
{
    struct lt_wrk_task *next;
    for (struct lt_wrk_task *t = c->tasks; t != NULL; t = next) {
        next = t->next;
        if (t->outcome == LT_WRK_OUTCOME_NONE) {
            lt_wrk_handler_abort(t);
            retire(c, t, new_write(t, LT_WRK_WRITE_HANDBACK));
        }
    }
}

/* ---- memory between bursts ---- */

/* A burst of this many tasks at once grows the heap by about a MiB (an LLM call holds
 * ~30 KiB: libcurl's transfer buffers and its connection) -- worth giving back. */
#define TRIM_MIN_PEAK 32

/* Gives the free pages of the heap back to the kernel once a burst is over. The heap
 * grows to the burst's working set; afterwards almost all of it is free, but glibc only
 * returns the top of the heap on its own, and long-lived blocks (kept connections, the
 * grown timer table) sit above the holes. Each later burst lays out its blocks
 * differently and touches pages of those holes that earlier ones had not, so RSS crept
 * up burst after burst towards the heap's full size (bench/llm_concurrency.py, 500
 * calls a child: 14.7 MiB peak in the first burst, 20.1 MiB by the tenth, then flat)
 * while the bytes in use stayed flat at 1.4 MiB -- not a leak, but it reads like one
 * and keeps memory the child no longer uses. malloc_trim(0) madvises every free page
 * away. It costs ~15 ms after a 500-call burst (~0.7 ms on a heap already trimmed), so
 * it runs only on the way to idle after a burst of TRIM_MIN_PEAK or more, where at
 * worst it delays the next claim by that much; a trickle of single tasks reuses the
 * same few pages and has little to give back. */
static void release_idle_memory(struct child *c)
{
    c->trim_peak = 0;
#ifdef __GLIBC__
    int64_t t0 = lt_mono_ms();
    int released = malloc_trim(0);
    lt_log_debug(
        "heap_trimmed",
        json_pack("{sb sI}", "released", released, "duration_ms", (json_int_t)(lt_mono_ms() - t0)),
        "idle after a burst: free heap pages given back");
#endif
}

/* ---- the loop ---- */

/* The database work between two rounds; returns 1 when the child is done. */
static int tick(struct child *c)
{
    int lost = 0;
    if (c->conn == NULL && c->reconnect_due) {
        link_up(c);
    }
    take_notifications(c);
    if (c->any_finished) {
        collect_finished(c);
    }
    if (c->heartbeat_due && c->conn != NULL) {
        heartbeat(c);
    }
    if (c->stopping && c->drain_over) {
        collect_finished(c);
        hand_back_all(c);
    }
    if (c->writer.pending > 0) {
        complete_and_claim(c);
    }
    if (c->writer.pending > 0 && c->conn != NULL &&
        lt_wrk_writer_flush(&c->writer, c->conn, &lost) > 0 && lost) {
        link_down(c);
    }
    if (!c->stopping && c->conn != NULL && (c->want_claim || c->backlog)) {
        claim(c);
    }
    if (c->trim_peak >= TRIM_MIN_PEAK && c->ninflight == 0 && c->writer.pending == 0) {
        release_idle_memory(c);
    }
    if (c->stopping && c->ninflight == 0 && c->writer.pending == 0) {
        return 1;
    }
    if (c->stopping && lt_mono_ms() >= c->final_deadline) {
        lt_log_error(
            "worker_drain_incomplete",
            json_pack("{si si}", "in_flight", c->ninflight, "pending_writes", c->writer.pending),
            "exiting with work not handed back; the reaper will rescue it");
        return 1;
    }
    return 0;
}

static int urgent(const struct child *c)
{
    int free_slots = c->cfg->worker_concurrency - c->ninflight;
    return c->any_finished || (c->conn == NULL && c->reconnect_due) ||
           (c->conn != NULL && c->writer.pending > 0 && !c->stopping) ||
           (c->conn != NULL && !c->stopping && c->backlog && free_slots > 0);
}

static int child_init(struct child *c, const struct lt_cfg *cfg)
{
    size_t cap = 3;
    memset(c, 0, sizeof(*c));
    c->cfg = cfg;
    c->conn_fd = -1;
    c->reconnect_ms = RECONNECT_MIN_MS;
    c->pid = (int)getpid();
    if (gethostname(c->host, sizeof(c->host)) < 0) {
        snprintf(c->host, sizeof(c->host), "localhost");
    }
    c->host[sizeof(c->host) - 1] = '\0';
    snprintf(c->worker_id, sizeof(c->worker_id), "%s:%d", c->host, c->pid);
    for (int i = 0; i < cfg->worker_nqueues; i++) {
        cap += strlen(cfg->worker_queues[i]) + 3;
    }
    if ((c->queues = malloc(cap)) == NULL) {
        return -1;
    }
    write_queue_literal(c);
    lt_wrk_writer_init(&c->writer, c->worker_id);
    if ((c->loop = lt_wrk_loop_new()) == NULL) {
        return -1;
    }
    c->owner.loop = c->loop;
    c->owner.progress = on_progress;
    c->owner.finished = on_finished;
    c->owner.partial = on_partial;
    c->owner.arg = c;
    if (lt_wrk_sig_init(LT_WRK_SIG_TERM) < 0 ||
        lt_wrk_loop_watch(c->loop, lt_wrk_sig_fd(), LT_WRK_READ, on_signal, c) < 0 ||
        lt_wrk_loop_timer(c->loop, cfg->worker_poll_ms, on_poll_timer, c) == 0 ||
        lt_wrk_loop_timer(c->loop, (int64_t)cfg->worker_heartbeat_s * 1000, on_heartbeat_timer,
                          c) == 0) {
        return -1;
    }
    return 0;
}

static void child_cleanup(struct child *c)
{
    int lost = 0;
    while (c->tasks != NULL) {
        struct lt_wrk_task *t = c->tasks;
        lt_wrk_handler_abort(t);
        retire(c, t, NULL);
    }
    lt_wrk_writer_clear(&c->writer);
    if (c->conn != NULL) {
        lt_wrk_store_worker_dead(c->conn, c->worker_id, &lost);
        lt_wrk_loop_unwatch(c->loop, c->conn_fd);
        PQfinish(c->conn);
    }
    lt_wrk_loop_free(c->loop);
    lt_wrk_provider_reset();
    lt_wrk_sig_close();
    free(c->queues);
}

int lt_wrk_child_run(const struct lt_cfg *cfg)
{
    struct child c;
    int rc = 1;

    if (child_init(&c, cfg) < 0) {
        lt_log_error("worker_start_failed", NULL, "cannot set up the worker child");
        goto out;
    }
    lt_log_info("worker_started",
                json_pack("{ss si}", "worker", c.worker_id, "concurrency", cfg->worker_concurrency),
                "worker child started");
    link_up(&c);
    for (;;) {
        lt_log_hold(); /* a tick logs a line per task claimed and written */
        int done = tick(&c);
        lt_log_release();
        if (done) {
            break;
        }
        if (lt_wrk_loop_run_once(c.loop, urgent(&c) ? 0 : -1) < 0) {
            lt_log_error("loop_failed", NULL, "poll failed");
            break;
        }
    }
    lt_log_info("worker_stopped", json_pack("{ss}", "worker", c.worker_id), "worker child stopped");
    rc = 0;
out:
    child_cleanup(&c);
    return rc;
}
