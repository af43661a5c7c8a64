/*
 * handler_exec.c -- configured `exec` types: the type's command runs as a process of
 * its own (exec_proc.h) with the payload as JSON on stdin. It reports on stdout, one
 * JSON object per line: {"progress": n, "message": "..."} becomes a progress event,
 * {"result": ...} the result (the last one wins); stderr's tail is kept for the error.
 * Exit 0 completes (with {} when no result line came), 75 (EX_TEMPFAIL) is retryable,
 * any other exit or a signal is permanent, and so is a stdout line that is not a JSON
 * object or is longer than exec.max_line_bytes (the process is killed then).
 *
 * Everything runs on the child's loop: the pipes are non-blocking and watched, the exit
 * is seen on a pidfd (or polled without one). An abort (cancel, timeout, drain, lost
 * lease) hands the process to lt_wrk_proc_kill: SIGTERM to the group, SIGKILL after
 * exec.kill_grace_ms, reaped in the background; the task is released at once.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exec_io.h"
#include "exec_proc.h"
#include "handler.h"
#include "utf8.h"

#define EX_TEMPFAIL_CODE 75
#define EXIT_POLL_MS 50
/* Reads per readiness callback: enough to empty a pipe, bounded so one chatty process
 * cannot hold the loop. */
#define READS_PER_ROUND 16
/* After the exit: what the leader left in the pipe, bounded in case a leftover process
 * keeps writing. */
#define DRAIN_READS 256

struct exec_state {
    struct lt_wrk_task *task;
    struct lt_wrk_proc proc;
    int kill_grace_ms;
    char *in; /* the payload, then "\n" */
    size_t in_len, in_off;
    struct lt_wrk_lines out;
    struct lt_wrk_tail err;
    json_t *result;
    uint64_t poll_timer;
    char bad[512]; /* why the output broke the protocol */
};

static void state_free(struct exec_state *s)
{
    lt_wrk_lines_free(&s->out);
    lt_wrk_tail_free(&s->err);
    json_decref(s->result);
    free(s->in);
    free(s);
}

/* Ends the attempt early: the process is killed in the background. */
static void kill_and_free(struct exec_state *s)
{
    lt_wrk_loop_t *loop = lt_wrk_task_loop(s->task);
    lt_wrk_loop_timer_cancel(loop, s->poll_timer);
    lt_wrk_proc_kill(loop, &s->proc, s->kill_grace_ms);
    state_free(s);
}

/* A protocol failure: kill, release, report permanent. */
static void fail_protocol(struct exec_state *s)
{
    struct lt_wrk_task *task = s->task;
    char msg[sizeof(s->bad)];
    snprintf(msg, sizeof(msg), "%s", s->bad);
    kill_and_free(s);
    lt_wrk_task_permanent(task, msg);
}

/* ---- stdout lines ---- */

static int on_line(void *arg, char *line, size_t len)
{
    struct exec_state *s = arg;
    json_error_t jerr;
    size_t i = 0;

    while (i < len && (line[i] == ' ' || line[i] == '\t')) {
        i++;
    }
    if (i == len) {
        return 0; /* blank lines carry nothing */
    }
    json_t *v = json_loadb(line, len, JSON_DECODE_ANY, &jerr);
    if (v == NULL || !json_is_object(v)) {
        snprintf(s->bad, sizeof(s->bad), "stdout line %ld is not a JSON object: %.200s",
                 s->out.count, v == NULL ? jerr.text : "another JSON value");
        json_decref(v);
        return 1;
    }
    json_t *pct = json_object_get(v, "progress");
    json_t *msg = json_object_get(v, "message");
    json_t *res = json_object_get(v, "result");
    if (pct != NULL) {
        if (!json_is_number(pct) || !isfinite(json_number_value(pct)) ||
            (msg != NULL && !json_is_string(msg) && !json_is_null(msg))) {
            snprintf(s->bad, sizeof(s->bad),
                     "stdout line %ld: progress must be a number and message a string",
                     s->out.count);
            json_decref(v);
            return 1;
        }
        double d = json_number_value(pct);
        int p = d < 0 ? 0 : (d > 100 ? 100 : (int)d);
        lt_wrk_task_progress(s->task, p, json_is_string(msg) ? json_string_value(msg) : NULL);
    }
    if (res != NULL) {
        json_decref(s->result);
        s->result = json_incref(res);
    }
    json_decref(v);
    return 0;
}

/* Feeds stdout bytes; 0 ok, -1 when the protocol broke (s->bad says why). */
static int take_lines(struct exec_state *s, const char *buf, size_t n, int eof)
{
    int rc = n > 0 ? lt_wrk_lines_feed(&s->out, buf, n, on_line, s) : 0;
    if (rc == 0 && eof) {
        rc = lt_wrk_lines_finish(&s->out, on_line, s);
    }
    if (rc == LT_WRK_LINES_TOO_LONG) {
        snprintf(s->bad, sizeof(s->bad),
                 "stdout line %ld is longer than %zu bytes (max_line_bytes)", s->out.count + 1,
                 s->out.max);
    } else if (rc == -1) {
        snprintf(s->bad, sizeof(s->bad), "out of memory reading stdout");
    }
    return rc == 0 ? 0 : -1;
}

/* Reads what fd has (at most READS_PER_ROUND reads, or all when drain). Returns 1 at
 * end of file (fd closed), 0 when it would block, -1 when stdout broke the protocol. */
static int read_pipe(struct exec_state *s, int *fd, int is_out, int drain)
{
    char buf[16384];
    lt_wrk_loop_t *loop = lt_wrk_task_loop(s->task);
    for (int i = 0; i < (drain ? DRAIN_READS : READS_PER_ROUND); i++) {
        ssize_t r = read(*fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        }
        if (r <= 0) {
            lt_wrk_loop_unwatch(loop, *fd);
            close(*fd);
            *fd = -1;
            return (is_out && take_lines(s, NULL, 0, 1) < 0) ? -1 : 1;
        }
        if (is_out) {
            if (take_lines(s, buf, (size_t)r, 0) < 0) {
                return -1;
            }
        } else {
            lt_wrk_tail_add(&s->err, buf, (size_t)r);
        }
    }
    return 0;
}

static void on_stdout(lt_wrk_loop_t *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)fd;
    (void)events;
    struct exec_state *s = arg;
    if (read_pipe(s, &s->proc.out_fd, 1, 0) < 0) {
        fail_protocol(s);
    }
}

static void on_stderr(lt_wrk_loop_t *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)fd;
    (void)events;
    struct exec_state *s = arg;
    read_pipe(s, &s->proc.err_fd, 0, 0);
}

/* ---- stdin ---- */

static void close_stdin(struct exec_state *s)
{
    if (s->proc.in_fd >= 0) {
        lt_wrk_loop_unwatch(lt_wrk_task_loop(s->task), s->proc.in_fd);
        close(s->proc.in_fd);
        s->proc.in_fd = -1;
    }
}

/* write() that turns a closed reader into EPIPE without a SIGPIPE, whatever this
 * process does with that signal: SIGPIPE is blocked for the call and one it raised is
 * taken from the pending set before the old mask returns. */
static ssize_t write_nosigpipe(int fd, const char *buf, size_t n)
{
    sigset_t pipe_set, old, pending;
    struct timespec zero = {0, 0};
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigemptyset(&pending);
    sigprocmask(SIG_BLOCK, &pipe_set, &old);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    ssize_t w = write(fd, buf, n);
    int saved = errno;
    if (w < 0 && errno == EPIPE && !was_pending) {
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return w;
}

static void on_stdin(lt_wrk_loop_t *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)events;
    struct exec_state *s = arg;
    while (s->in_off < s->in_len) {
        ssize_t w = write_nosigpipe(fd, s->in + s->in_off, s->in_len - s->in_off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (w < 0) {
            break; /* EPIPE: it does not read its stdin; its exit status will tell */
        }
        s->in_off += (size_t)w;
    }
    close_stdin(s);
}

/* ---- the exit ---- */

static void finish(struct exec_state *s, const struct lt_wrk_proc_status *st)
{
    struct lt_wrk_task *task = s->task;
    lt_wrk_loop_t *loop = lt_wrk_task_loop(task);

    /* What the leader wrote before it exited is in the pipes: take it all. */
    if (s->proc.out_fd >= 0 && read_pipe(s, &s->proc.out_fd, 1, 1) < 0) {
        fail_protocol(s);
        return;
    }
    if (s->proc.out_fd >= 0 && take_lines(s, NULL, 0, 1) < 0) {
        fail_protocol(s); /* a last line without newline */
        return;
    }
    if (s->proc.err_fd >= 0) {
        read_pipe(s, &s->proc.err_fd, 0, 1);
    }
    lt_wrk_loop_timer_cancel(loop, s->poll_timer);
    s->poll_timer = 0;
    lt_wrk_proc_finish(loop, &s->proc);

    if (st->exited && st->code == 0) {
        json_t *result = s->result;
        s->result = NULL;
        state_free(s);
        lt_wrk_task_ok(task, result);
        return;
    }
    /* "exit status 3: <stderr tail>": the tail is already bounded by stderr_tail_bytes. */
    char how[96];
    char *tail = lt_wrk_tail_text(&s->err);
    lt_wrk_proc_describe(st, how, sizeof(how));
    if (st->exited && st->code == EX_TEMPFAIL_CODE) {
        snprintf(how + strlen(how), sizeof(how) - strlen(how), " (temporary failure)");
    }
    size_t len = strlen(how) + (tail != NULL ? strlen(tail) : 0) + 3;
    char *msg = malloc(len);
    if (msg != NULL) {
        snprintf(msg, len, "%s%s%s", how, tail != NULL && tail[0] != '\0' ? ": " : "",
                 tail != NULL ? tail : "");
    }
    free(tail);
    int retry = st->exited && st->code == EX_TEMPFAIL_CODE;
    state_free(s);
    if (retry) {
        lt_wrk_task_retryable(task, msg != NULL ? msg : how, 0);
    } else {
        lt_wrk_task_permanent(task, msg != NULL ? msg : how);
    }
    free(msg);
}

static void check_exit(struct exec_state *s)
{
    struct lt_wrk_proc_status st;
    if (lt_wrk_proc_exited(&s->proc, &st)) {
        finish(s, &st);
    }
}

static void on_exit_fd(lt_wrk_loop_t *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)fd;
    (void)events;
    check_exit(arg);
}

static void on_exit_poll(lt_wrk_loop_t *loop, void *arg)
{
    struct exec_state *s = arg;
    s->poll_timer = lt_wrk_loop_timer(loop, EXIT_POLL_MS, on_exit_poll, s);
    check_exit(s);
}

/* ---- start and abort ---- */

static void exec_start(struct lt_wrk_task *task)
{
    const struct lt_exec_cfg *e = task->type_cfg != NULL ? &task->type_cfg->exec : NULL;
    char why[512];
    int retryable = 0;

    if (e == NULL || e->argv == NULL) {
        lt_wrk_task_permanent(task, "this type has no command configured");
        return;
    }
    if (!json_is_object(task->payload)) {
        lt_wrk_task_permanent(task, "invalid payload: must be a JSON object");
        return;
    }
    struct exec_state *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        lt_wrk_task_retryable(task, "out of memory", 0);
        return;
    }
    s->task = task;
    s->kill_grace_ms = e->kill_grace_ms;
    s->proc.pid = -1;
    s->proc.pidfd = s->proc.in_fd = s->proc.out_fd = s->proc.err_fd = -1;
    lt_wrk_lines_init(&s->out, (size_t)e->max_line_bytes);
    char *text = json_dumps(task->payload, JSON_COMPACT);
    if (text == NULL || lt_wrk_tail_init(&s->err, (size_t)e->stderr_tail_bytes) < 0 ||
        (s->in = malloc(strlen(text) + 2)) == NULL) {
        free(text);
        state_free(s);
        lt_wrk_task_retryable(task, "out of memory", 0);
        return;
    }
    s->in_len = (size_t)snprintf(s->in, strlen(text) + 2, "%s\n", text);
    free(text);

    if (lt_wrk_proc_spawn(e, &s->proc, why, sizeof(why), &retryable) < 0) {
        state_free(s);
        if (retryable) {
            lt_wrk_task_retryable(task, why, 0);
        } else {
            lt_wrk_task_permanent(task, why);
        }
        return;
    }
    task->state = s;
    lt_wrk_loop_t *loop = lt_wrk_task_loop(task);
    if (lt_wrk_loop_watch(loop, s->proc.in_fd, LT_WRK_WRITE, on_stdin, s) < 0 ||
        lt_wrk_loop_watch(loop, s->proc.out_fd, LT_WRK_READ, on_stdout, s) < 0 ||
        lt_wrk_loop_watch(loop, s->proc.err_fd, LT_WRK_READ, on_stderr, s) < 0 ||
        (s->proc.pidfd >= 0 &&
         lt_wrk_loop_watch(loop, s->proc.pidfd, LT_WRK_READ, on_exit_fd, s) < 0) ||
        (s->proc.pidfd < 0 &&
         (s->poll_timer = lt_wrk_loop_timer(loop, EXIT_POLL_MS, on_exit_poll, s)) == 0)) {
        kill_and_free(s);
        lt_wrk_task_retryable(task, "out of memory", 0);
    }
}

static void exec_abort(struct lt_wrk_task *task)
{
    struct exec_state *s = task->state;
    if (s != NULL) {
        kill_and_free(s);
    }
}

const struct lt_wrk_handler lt_wrk_handler_exec = {"exec", exec_start, exec_abort};
