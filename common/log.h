/*
 * log.h -- one JSON object per line on stderr.
 *
 * Every line carries ts (RFC 3339 UTC, ms), level, program, pid, event (a stable
 * snake_case name operators grep for) and msg, then the caller's fields. Fields are
 * given as a jansson object whose reference the logger steals, so call sites stay one
 * line:  lt_log_info("task_claimed", json_pack("{ss}", "task_id", id), "claimed");
 * Never pass secrets, tokens or whole payloads.
 */
#ifndef LT_LOG_H
#define LT_LOG_H

#include <jansson.h>

enum lt_log_level { LT_LOG_DEBUG = 0, LT_LOG_INFO, LT_LOG_WARN, LT_LOG_ERROR };

/* Sets the program name stamped on every line and the lowest level written. */
void lt_log_init(const char *program, enum lt_log_level min_level);
void lt_log_set_level(enum lt_log_level min_level);

/* Parses "debug", "info", "warn", "error"; -1 when unknown. */
int lt_log_level_parse(const char *name);

/* Writes one line. fields: NULL or an object, stolen (decref'd) in every case. */
void lt_log(enum lt_log_level level, const char *event, json_t *fields, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Between hold and release, lines are gathered and written several at a time (whole
 * lines, at most PIPE_BUF bytes a write, so they still never interleave with another
 * process's): a worker child logs two lines per task, and at thousands of tasks a
 * second one write(2) per line was a measurable share of its CPU. Warnings and errors
 * are written at once, with what was gathered before them. Release writes the rest. */
void lt_log_hold(void);
void lt_log_release(void);

#define lt_log_debug(ev, f, ...) lt_log(LT_LOG_DEBUG, ev, f, __VA_ARGS__)
#define lt_log_info(ev, f, ...) lt_log(LT_LOG_INFO, ev, f, __VA_ARGS__)
#define lt_log_warn(ev, f, ...) lt_log(LT_LOG_WARN, ev, f, __VA_ARGS__)
#define lt_log_error(ev, f, ...) lt_log(LT_LOG_ERROR, ev, f, __VA_ARGS__)

#endif
