/*
 * test_wrk_sse.c -- the incremental SSE parser: events split at every possible byte,
 * LF / CRLF / CR line ends (a CRLF split across feeds is one line end), multi-line data
 * joined by "\n", comments and other fields ignored, an event cut by the end of the
 * stream not delivered, the size bound, and a callback that stops the parse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "sse.h"

struct got {
    char events[16][128];
    int n;
    int stop_at; /* stop when this many events arrived (0: never) */
};

static int collect(const char *data, size_t len, void *arg)
{
    struct got *g = arg;
    assert_int_equal(strlen(data), len);
    snprintf(g->events[g->n], sizeof(g->events[0]), "%s", data);
    g->n++;
    return g->stop_at > 0 && g->n >= g->stop_at ? -1 : 0;
}

/* Feeds text in pieces of step bytes (0: all at once). */
static int feed(struct lt_wrk_sse *p, const char *text, size_t step)
{
    size_t n = strlen(text);
    if (step == 0) {
        return lt_wrk_sse_feed(p, text, n);
    }
    for (size_t i = 0; i < n; i += step) {
        int rc = lt_wrk_sse_feed(p, text + i, n - i < step ? n - i : step);
        if (rc != LT_WRK_SSE_OK) {
            return rc;
        }
    }
    return LT_WRK_SSE_OK;
}

static const char stream[] = ": keep-alive\n"
                             "data: {\"a\":1}\n\n"
                             "event: chunk\r\nid: 7\r\ndata: {\"b\":2}\r\n\r\n"
                             "data:x\rdata: y\r\r"
                             "retry: 2000\n\n"
                             "data\n\n"
                             "data: [DONE]\n\n";

static void test_every_split(void **state)
{
    (void)state;
    for (size_t step = 0; step <= 7; step++) {
        struct got g = {0};
        struct lt_wrk_sse p;
        lt_wrk_sse_init(&p, 1024, collect, &g);
        assert_int_equal(feed(&p, stream, step), LT_WRK_SSE_OK);
        assert_int_equal(g.n, 5);
        assert_string_equal(g.events[0], "{\"a\":1}");
        assert_string_equal(g.events[1], "{\"b\":2}");
        assert_string_equal(g.events[2], "x\ny");
        assert_string_equal(g.events[3], ""); /* "data" alone: an empty data line */
        assert_string_equal(g.events[4], "[DONE]");
        assert_int_equal(p.events, 5);
        lt_wrk_sse_free(&p);
    }
}

static void test_crlf_split_across_feeds(void **state)
{
    (void)state;
    struct got g = {0};
    struct lt_wrk_sse p;
    lt_wrk_sse_init(&p, 1024, collect, &g);
    assert_int_equal(lt_wrk_sse_feed(&p, "data: a\r", 8), LT_WRK_SSE_OK);
    assert_int_equal(lt_wrk_sse_feed(&p, "\n", 1), LT_WRK_SSE_OK);
    assert_int_equal(g.n, 0); /* CR LF is one line end: no blank line yet */
    assert_int_equal(lt_wrk_sse_feed(&p, "\r\n", 2), LT_WRK_SSE_OK);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.events[0], "a");
    lt_wrk_sse_free(&p);
}

static void test_cut_event_not_delivered(void **state)
{
    (void)state;
    struct got g = {0};
    struct lt_wrk_sse p;
    lt_wrk_sse_init(&p, 1024, collect, &g);
    assert_int_equal(feed(&p, "data: one\n\ndata: two\n", 0), LT_WRK_SSE_OK);
    assert_int_equal(g.n, 1);
    lt_wrk_sse_free(&p);
}

static void test_size_bound(void **state)
{
    (void)state;
    struct got g = {0};
    struct lt_wrk_sse p;
    char big[200];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    lt_wrk_sse_init(&p, 64, collect, &g);
    assert_int_equal(feed(&p, "data: ", 0), LT_WRK_SSE_OK);
    assert_int_equal(feed(&p, big, 10), LT_WRK_SSE_TOO_LONG);
    /* Stays failed. */
    assert_int_equal(feed(&p, "\n\ndata: a\n\n", 0), LT_WRK_SSE_TOO_LONG);
    assert_int_equal(g.n, 0);
    lt_wrk_sse_free(&p);

    /* Many data lines add up to the bound too. */
    memset(&g, 0, sizeof(g));
    lt_wrk_sse_init(&p, 16, collect, &g);
    assert_int_equal(feed(&p, "data: 12345\ndata: 12345\ndata: 12345\n", 0), LT_WRK_SSE_TOO_LONG);
    lt_wrk_sse_free(&p);
}

static void test_callback_stops(void **state)
{
    (void)state;
    struct got g = {0};
    struct lt_wrk_sse p;
    g.stop_at = 1;
    lt_wrk_sse_init(&p, 1024, collect, &g);
    assert_int_equal(feed(&p, "data: 1\n\ndata: 2\n\n", 0), LT_WRK_SSE_STOPPED);
    assert_int_equal(g.n, 1);
    lt_wrk_sse_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_crlf_split_across_feeds),
        cmocka_unit_test(test_cut_event_not_delivered),
        cmocka_unit_test(test_size_bound),
        cmocka_unit_test(test_callback_stops),
    };
    return cmocka_run_group_tests_name("wrk_sse", tests, NULL, NULL);
}
