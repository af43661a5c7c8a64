/*
 * exec_io.h -- the two readers of an exec process's output, kept apart from the
 * descriptors so they can be tested on plain bytes:
 *
 *   lines: stdout split into lines ("\n", an optional "\r" before it dropped), each
 *          handed to a callback; a line longer than the limit stops the reader (the
 *          protocol is one JSON object per line, and a runaway line must not grow the
 *          worker's memory without bound).
 *   tail:  the last N bytes of stderr, for the error message of a failed run.
 */
#ifndef LT_WRK_EXEC_IO_H
#define LT_WRK_EXEC_IO_H

#include <stddef.h>

/* A line without its newline, NUL-terminated (the reader's buffer: valid during the
 * call). Returns 0 to go on, anything else to stop (the feed returns it). */
typedef int (*lt_wrk_line_fn)(void *arg, char *line, size_t len);

struct lt_wrk_lines {
    char *buf;
    size_t len, cap;
    size_t max; /* longest line accepted, newline excluded */
    long count; /* lines handed out so far */
};

#define LT_WRK_LINES_TOO_LONG (-2)

void lt_wrk_lines_init(struct lt_wrk_lines *lb, size_t max);
void lt_wrk_lines_free(struct lt_wrk_lines *lb);

/* Feeds n bytes. 0 when all went through; fn's non-zero result when fn stopped;
 * LT_WRK_LINES_TOO_LONG when a line passed max; -1 out of memory. After a non-zero
 * return the reader must not be fed again. */
int lt_wrk_lines_feed(struct lt_wrk_lines *lb, const char *data, size_t n, lt_wrk_line_fn fn,
                      void *arg);

/* End of input: hands out the last line if it had no newline. Same returns. */
int lt_wrk_lines_finish(struct lt_wrk_lines *lb, lt_wrk_line_fn fn, void *arg);

struct lt_wrk_tail {
    char *buf;
    size_t len, cap;
    int cut; /* earlier bytes were dropped */
};

/* cap 0 keeps nothing. -1 out of memory. */
int lt_wrk_tail_init(struct lt_wrk_tail *t, size_t cap);
void lt_wrk_tail_free(struct lt_wrk_tail *t);
void lt_wrk_tail_add(struct lt_wrk_tail *t, const char *data, size_t n);

/* The tail as clean text (utf8.h), surrounding whitespace trimmed, "..." in front when
 * it was cut; malloc'd, NULL when out of memory. */
char *lt_wrk_tail_text(const struct lt_wrk_tail *t);

#endif
