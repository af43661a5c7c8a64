/*
 * sse.c -- see sse.h. Bytes go into the current line until a line end; a complete line
 * is interpreted at once (so only the current line and the current event's data are
 * ever held). The CR-then-LF case is the one subtlety: a CRLF split across two feeds
 * must end one line, not two, so after_cr survives between calls.
 */
#include "sse.h"

#include <stdlib.h>
#include <string.h>

void lt_wrk_sse_init(struct lt_wrk_sse *p, size_t max_event, lt_wrk_sse_fn fn, void *arg)
{
    memset(p, 0, sizeof(*p));
    p->fn = fn;
    p->arg = arg;
    p->max_event = max_event;
}

void lt_wrk_sse_free(struct lt_wrk_sse *p)
{
    free(p->line);
    free(p->data);
    p->line = p->data = NULL;
    p->line_len = p->line_cap = p->data_len = p->data_cap = 0;
}

/* Makes room for need bytes plus a NUL in *buf. 0 ok, an LT_WRK_SSE_* failure. */
static int reserve(char **buf, size_t *cap, size_t need, size_t max)
{
    if (need > max) {
        return LT_WRK_SSE_TOO_LONG;
    }
    if (need + 1 <= *cap) {
        return LT_WRK_SSE_OK;
    }
    size_t ncap = *cap > 0 ? *cap : 256;
    while (ncap < need + 1) {
        ncap *= 2;
    }
    char *b = realloc(*buf, ncap);
    if (b == NULL) {
        return LT_WRK_SSE_NOMEM;
    }
    *buf = b;
    *cap = ncap;
    return LT_WRK_SSE_OK;
}

static int dispatch(struct lt_wrk_sse *p)
{
    if (!p->has_data) {
        return LT_WRK_SSE_OK; /* an event without data is not delivered */
    }
    int rc = reserve(&p->data, &p->data_cap, p->data_len, p->max_event);
    if (rc != LT_WRK_SSE_OK) {
        return rc;
    }
    p->data[p->data_len] = '\0';
    size_t len = p->data_len;
    p->data_len = 0;
    p->has_data = 0;
    p->events++;
    return p->fn(p->data, len, p->arg) == 0 ? LT_WRK_SSE_OK : LT_WRK_SSE_STOPPED;
}

/* One complete line (without its line end). */
static int take_line(struct lt_wrk_sse *p, const char *line, size_t len)
{
    if (len == 0) {
        return dispatch(p);
    }
    if (line[0] == ':') {
        return LT_WRK_SSE_OK; /* a comment, e.g. a keep-alive */
    }
    const char *colon = memchr(line, ':', len);
    size_t flen = colon != NULL ? (size_t)(colon - line) : len;
    if (flen != 4 || memcmp(line, "data", 4) != 0) {
        return LT_WRK_SSE_OK; /* event, id, retry and unknown fields: not used here */
    }
    const char *value = colon != NULL ? colon + 1 : line + len;
    size_t vlen = (size_t)(line + len - value);
    if (vlen > 0 && value[0] == ' ') {
        value++;
        vlen--;
    }
    size_t sep = p->has_data ? 1 : 0;
    int rc = reserve(&p->data, &p->data_cap, p->data_len + sep + vlen, p->max_event);
    if (rc != LT_WRK_SSE_OK) {
        return rc;
    }
    if (sep) {
        p->data[p->data_len++] = '\n';
    }
    memcpy(p->data + p->data_len, value, vlen);
    p->data_len += vlen;
    p->has_data = 1;
    return LT_WRK_SSE_OK;
}

int lt_wrk_sse_feed(struct lt_wrk_sse *p, const char *buf, size_t n)
{
    size_t i = 0;
    int rc = LT_WRK_SSE_OK;

    if (p->failed) {
        return p->failed;
    }
    while (i < n) {
        if (p->after_cr) {
            p->after_cr = 0;
            if (buf[i] == '\n') {
                i++; /* the LF of a CRLF whose CR ended the line already */
                continue;
            }
        }
        /* The next line end in what is left. */
        size_t j = i;
        while (j < n && buf[j] != '\n' && buf[j] != '\r') {
            j++;
        }
        size_t piece = j - i;
        if (p->line_len == 0 && j < n) {
            rc = take_line(p, buf + i, piece); /* a whole line in this buffer: no copy */
        } else {
            rc = reserve(&p->line, &p->line_cap, p->line_len + piece, p->max_event);
            if (rc == LT_WRK_SSE_OK) {
                memcpy(p->line + p->line_len, buf + i, piece);
                p->line_len += piece;
                if (j < n) {
                    size_t len = p->line_len;
                    p->line_len = 0;
                    rc = take_line(p, p->line, len);
                }
            }
        }
        if (rc != LT_WRK_SSE_OK) {
            p->failed = rc;
            return rc;
        }
        if (j < n) {
            p->after_cr = buf[j] == '\r';
            j++;
        }
        i = j;
    }
    return LT_WRK_SSE_OK;
}
