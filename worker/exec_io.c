/*
 * exec_io.c -- see exec_io.h.
 */
#include "exec_io.h"

#include <stdlib.h>
#include <string.h>

#include "utf8.h"

void lt_wrk_lines_init(struct lt_wrk_lines *lb, size_t max)
{
    memset(lb, 0, sizeof(*lb));
    lb->max = max;
}

void lt_wrk_lines_free(struct lt_wrk_lines *lb)
{
    free(lb->buf);
    memset(lb, 0, sizeof(*lb));
}

/* Room for len + n bytes and a NUL; the buffer grows with the lines, never past max. */
static int reserve(struct lt_wrk_lines *lb, size_t n)
{
    size_t need = lb->len + n + 1;
    if (need <= lb->cap) {
        return 0;
    }
    size_t ncap = lb->cap > 0 ? lb->cap : 4096;
    while (ncap < need) {
        ncap *= 2;
    }
    char *p = realloc(lb->buf, ncap);
    if (p == NULL) {
        return -1;
    }
    lb->buf = p;
    lb->cap = ncap;
    return 0;
}

static int emit(struct lt_wrk_lines *lb, lt_wrk_line_fn fn, void *arg)
{
    size_t len = lb->len;
    if (len > 0 && lb->buf[len - 1] == '\r') {
        len--;
    }
    if (len > lb->max) {
        return LT_WRK_LINES_TOO_LONG;
    }
    lb->buf[len] = '\0';
    lb->len = 0;
    lb->count++;
    return fn(arg, lb->buf, len);
}

int lt_wrk_lines_feed(struct lt_wrk_lines *lb, const char *data, size_t n, lt_wrk_line_fn fn,
                      void *arg)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t take = nl != NULL ? (size_t)(nl - data) : n;
        /* "+ 1": room for a "\r" before the newline, which emit() drops and checks. */
        if (lb->len + take > lb->max + 1) {
            return LT_WRK_LINES_TOO_LONG;
        }
        if (reserve(lb, take) < 0) {
            return -1;
        }
        memcpy(lb->buf + lb->len, data, take);
        lb->len += take;
        if (nl == NULL) {
            return 0;
        }
        int rc = emit(lb, fn, arg);
        if (rc != 0) {
            return rc;
        }
        data += take + 1;
        n -= take + 1;
    }
    return 0;
}

int lt_wrk_lines_finish(struct lt_wrk_lines *lb, lt_wrk_line_fn fn, void *arg)
{
    if (lb->len == 0) {
        return 0;
    }
    if (reserve(lb, 0) < 0) {
        return -1;
    }
    return emit(lb, fn, arg);
}

int lt_wrk_tail_init(struct lt_wrk_tail *t, size_t cap)
{
    memset(t, 0, sizeof(*t));
    t->cap = cap;
    if (cap > 0 && (t->buf = malloc(cap)) == NULL) {
        return -1;
    }
    return 0;
}

void lt_wrk_tail_free(struct lt_wrk_tail *t)
{
    free(t->buf);
    memset(t, 0, sizeof(*t));
}

void lt_wrk_tail_add(struct lt_wrk_tail *t, const char *data, size_t n)
{
    if (n == 0) {
        return;
    }
    if (t->cap == 0) {
        t->cut = 1;
        return;
    }
    if (n >= t->cap) {
        t->cut |= n > t->cap || t->len > 0;
        memcpy(t->buf, data + (n - t->cap), t->cap);
        t->len = t->cap;
        return;
    }
    if (t->len + n > t->cap) {
        size_t drop = t->len + n - t->cap;
        memmove(t->buf, t->buf + drop, t->len - drop);
        t->len -= drop;
        t->cut = 1;
    }
    memcpy(t->buf + t->len, data, n);
    t->len += n;
}

static int is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

char *lt_wrk_tail_text(const struct lt_wrk_tail *t)
{
    size_t a = 0, b = t->len;
    while (a < b && is_space(t->buf[a])) {
        a++;
    }
    while (b > a && is_space(t->buf[b - 1])) {
        b--;
    }
    size_t len = 0;
    char *clean = lt_wrk_utf8_clean(t->buf != NULL ? t->buf + a : "", b - a, &len);
    if (clean == NULL || !t->cut || len == 0) {
        return clean;
    }
    char *out = malloc(len + 4);
    if (out != NULL) {
        memcpy(out, "...", 3);
        memcpy(out + 3, clean, len + 1);
    }
    free(clean);
    return out;
}
