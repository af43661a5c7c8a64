/*
 * sse.h -- an incremental parser for Server-Sent Events (the WHATWG event-stream format)
 * as OpenAI-compatible providers stream chat completions: `data: {...}` lines, a blank
 * line ending each event, `: comments`, lines ended by LF, CRLF or CR.
 *
 * Feed it bytes exactly as the network delivers them (a line, an event or a CRLF may be
 * split anywhere); it calls back once per complete event that carried data, with the
 * event's data lines joined by "\n" (the spec's rule), NUL-terminated. Fields other
 * than data (event, id, retry) are read and ignored: a chat stream does not use them.
 * An event cut off by the end of the stream is never delivered (also the spec's rule),
 * which is what lets the caller tell a cut stream from a finished one.
 *
 * Bounded: one event's data may not exceed max_event bytes (the line being assembled
 * included), so a provider cannot make the worker buffer without limit.
 */
#ifndef LT_WRK_SSE_H
#define LT_WRK_SSE_H

#include <stddef.h>

/* One event's data (len bytes, NUL-terminated; borrowed for the call). Returns 0 to go
 * on, -1 to stop the parse (lt_wrk_sse_feed then returns LT_WRK_SSE_STOPPED). */
typedef int (*lt_wrk_sse_fn)(const char *data, size_t len, void *arg);

enum lt_wrk_sse_rc {
    LT_WRK_SSE_OK = 0,
    LT_WRK_SSE_STOPPED = -1,  /* the callback asked to stop */
    LT_WRK_SSE_TOO_LONG = -2, /* an event or line over max_event */
    LT_WRK_SSE_NOMEM = -3,
};

struct lt_wrk_sse {
    lt_wrk_sse_fn fn;
    void *arg;
    size_t max_event;
    char *line; /* the line being assembled */
    size_t line_len, line_cap;
    char *data; /* the event's data so far */
    size_t data_len, data_cap;
    int has_data;  /* a data field was seen in this event */
    int after_cr;  /* the last byte was CR: an LF next belongs to the same line end */
    int failed;    /* a previous feed failed: further input is ignored */
    size_t events; /* events delivered so far */
};

/* Prepares p; nothing is allocated until the first byte. */
void lt_wrk_sse_init(struct lt_wrk_sse *p, size_t max_event, lt_wrk_sse_fn fn, void *arg);

/* Parses n more bytes. Returns LT_WRK_SSE_OK or the first failure; after a failure the
 * parser stays failed. */
int lt_wrk_sse_feed(struct lt_wrk_sse *p, const char *buf, size_t n);

/* Frees the buffers (p can be initialised again). */
void lt_wrk_sse_free(struct lt_wrk_sse *p);

#endif
