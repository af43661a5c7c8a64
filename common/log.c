/*
 * log.c -- the JSON line logger. Lines are assembled in memory and written with one
 * write(2) so lines from the many processes sharing stderr never interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"

static const char *log_program = "longtask";
static enum lt_log_level log_min = LT_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

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
    json_object_set_new(line, "pid", json_integer(getpid()));
    json_object_set_new(line, "event", json_string(event));
    json_object_set_new(line, "msg", json_string(msg));
    if (fields != NULL && json_is_object(fields)) {
        json_object_update_missing(line, fields);
    }
    text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    if (text != NULL) {
        size_t n = strlen(text);
        text[n] = '\n'; /* the NUL's byte becomes the newline: one write */
        ssize_t w = write(STDERR_FILENO, text, n + 1);
        (void)w;
    }
out:
    free(text);
    json_decref(line);
    json_decref(fields);
}
