/*
 * log.c -- the JSON line logger. Lines are assembled in memory and written with one
 * write(2) so lines from the many processes sharing stderr never interleave.
 *
 * The pid is asked for once per process: getpid(2) is a real system call, and the
 * processes that log most fork from one that logged already, so a fork handler clears
 * the cached value in the child.
 */
#include "log.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"

static const char *log_program = "longtask";
static enum lt_log_level log_min = LT_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

static pid_t log_pid;
static int atfork_set;

/* Lines gathered while held; a write never exceeds PIPE_BUF. */
static char held[PIPE_BUF];
static size_t held_len;
static int holding;

static void forget_pid(void)
{
    log_pid = 0;
    held_len = 0; /* the parent writes what it gathered, not the child too */
    holding = 0;
}

static pid_t pid_of_process(void)
{
    if (!atfork_set) {
        atfork_set = pthread_atfork(NULL, NULL, forget_pid) == 0;
    }
    if (log_pid == 0) {
        log_pid = getpid();
    }
    return log_pid;
}

static void write_all(const char *buf, size_t n)
{
    ssize_t w = write(STDERR_FILENO, buf, n);
    (void)w; /* nowhere to report a failure to log */
}

static void flush_held(void)
{
    if (held_len > 0) {
        write_all(held, held_len);
        held_len = 0;
    }
}

void lt_log_hold(void)
{
    holding = 1;
}

void lt_log_release(void)
{
    flush_held();
    holding = 0;
}

void lt_log_init(const char *program, enum lt_log_level min_level)
{
    log_program = program;
    log_min = min_level;
}

void lt_log_set_level(enum lt_log_level min_level)
{
    log_min = min_level;
}

int lt_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

void lt_log(enum lt_log_level level, const char *event, json_t *fields, const char *fmt, ...)
{
    char ts[LT_TS_LEN];
    char msg[1024];
    va_list ap;
    json_t *line = NULL;
    char *text = NULL;

    if (level < log_min) {
        goto out;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    lt_ts_format(ts, lt_wall_ms());
    line = json_object();
    if (line == NULL) {
        goto out;
    }
    json_object_set_new(line, "ts", json_string(ts));
    json_object_set_new(line, "level", json_string(level_names[level]));
    json_object_set_new(line, "program", json_string(log_program));
    json_object_set_new(line, "pid", json_integer(pid_of_process()));
    json_object_set_new(line, "event", json_string(event));
    json_object_set_new(line, "msg", json_string(msg));
    if (fields != NULL && json_is_object(fields)) {
        json_object_update_missing(line, fields);
    }
    text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    if (text != NULL) {
        size_t n = strlen(text);
        text[n] = '\n'; /* the NUL's byte becomes the newline: one write */
        n++;
        if (holding && n <= sizeof(held)) {
            if (held_len + n > sizeof(held)) {
                flush_held();
            }
            memcpy(held + held_len, text, n);
            held_len += n;
            if (level >= LT_LOG_WARN) {
                flush_held();
            }
        } else {
            flush_held();
            write_all(text, n);
        }
    }
out:
    free(text);
    json_decref(line);
    json_decref(fields);
}
