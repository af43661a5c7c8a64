/*
 * test_wrk_loop.c -- the worker's event loop: timers fire in deadline order and only
 * once, cancelled timers never fire, a timer re-armed from its callback waits for the
 * next round; descriptor callbacks fire on readiness and stop after unwatch; and a
 * libcurl transfer runs to completion through the loop against an HTTP responder on a
 * loopback socket that the same loop serves.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "loop.h"

struct order {
    int seen[8];
    int n;
};

struct mark {
    struct order *order;
    int value;
};

static void on_mark(lt_wrk_loop_t *loop, void *arg)
{
    (void)loop;
    struct mark *m = arg;
    m->order->seen[m->order->n++] = m->value;
}

static void run_until(lt_wrk_loop_t *loop, const int *flag, int64_t limit_ms)
{
    int64_t end = lt_mono_ms() + limit_ms;
    while (!*flag && lt_mono_ms() < end) {
        assert_true(lt_wrk_loop_run_once(loop, 50) >= 0);
    }
}

static void test_timers_fire_in_deadline_order(void **state)
{
    (void)state;
    lt_wrk_loop_t *loop = lt_wrk_loop_new();
    assert_non_null(loop);
    struct order o = {{0}, 0};
    struct mark a = {&o, 1}, b = {&o, 2}, c = {&o, 3}, never = {&o, 99};

    assert_true(lt_wrk_loop_timer(loop, 60, on_mark, &c) > 0);
    assert_true(lt_wrk_loop_timer(loop, 20, on_mark, &a) > 0);
    uint64_t gone = lt_wrk_loop_timer(loop, 30, on_mark, &never);
    assert_true(lt_wrk_loop_timer(loop, 40, on_mark, &b) > 0);
    lt_wrk_loop_timer_cancel(loop, gone);
    lt_wrk_loop_timer_cancel(loop, 0);    /* no-op */
    lt_wrk_loop_timer_cancel(loop, 4242); /* unknown: no-op */

    int64_t start = lt_mono_ms();
    while (o.n < 3 && lt_mono_ms() - start < 2000) {
        assert_true(lt_wrk_loop_run_once(loop, -1) >= 0);
    }
    assert_int_equal(o.n, 3);
    assert_int_equal(o.seen[0], 1);
    assert_int_equal(o.seen[1], 2);
    assert_int_equal(o.seen[2], 3);
    assert_true(lt_mono_ms() - start >= 60);
    assert_int_equal(lt_wrk_loop_next_timer_ms(loop), -1);
    lt_wrk_loop_free(loop);
}

struct rearm {
    int fired;
};

static void on_rearm(lt_wrk_loop_t *loop, void *arg)
{
    struct rearm *r = arg;
    r->fired++;
    lt_wrk_loop_timer(loop, 0, on_rearm, r);
}

static void test_zero_delay_rearm_waits_a_round(void **state)
{
    (void)state;
    lt_wrk_loop_t *loop = lt_wrk_loop_new();
    struct rearm r = {0};
    lt_wrk_loop_timer(loop, 0, on_rearm, &r);
    assert_int_equal(lt_wrk_loop_run_once(loop, 0), 1);
    assert_int_equal(r.fired, 1);
    assert_int_equal(lt_wrk_loop_run_once(loop, 0), 1);
    assert_int_equal(r.fired, 2);
    lt_wrk_loop_free(loop); /* frees the pending re-armed timer */
}

struct pipe_seen {
    int reads;
    int fd;
    char last;
};

static void on_pipe(lt_wrk_loop_t *loop, int fd, int events, void *arg)
{
    (void)loop;
    struct pipe_seen *p = arg;
    assert_true(events & LT_WRK_READ);
    assert_int_equal(fd, p->fd);
    assert_int_equal(read(fd, &p->last, 1), 1);
    p->reads++;
}

static void test_fd_callbacks_and_unwatch(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    lt_wrk_loop_t *loop = lt_wrk_loop_new();
    struct pipe_seen p = {0, fds[0], 0};
    assert_int_equal(lt_wrk_loop_watch(loop, fds[0], LT_WRK_READ, on_pipe, &p), 0);

    /* Nothing written: the round times out with no callback. */
    assert_int_equal(lt_wrk_loop_run_once(loop, 10), 0);
    assert_int_equal(p.reads, 0);

    assert_int_equal(write(fds[1], "x", 1), 1);
    assert_int_equal(lt_wrk_loop_run_once(loop, 1000), 1);
    assert_int_equal(p.reads, 1);
    assert_int_equal(p.last, 'x');

    lt_wrk_loop_unwatch(loop, fds[0]);
    assert_int_equal(write(fds[1], "y", 1), 1);
    assert_int_equal(lt_wrk_loop_run_once(loop, 10), 0);
    assert_int_equal(p.reads, 1);

    lt_wrk_loop_free(loop);
    close(fds[0]);
    close(fds[1]);
}

/* ---- a curl transfer through the loop, served by the loop ---- */

struct server {
    int listen_fd;
    int conn_fd;
    char req[2048];
    size_t reqlen;
    int served;
};

struct fetch {
    int done;
    CURLcode result;
    long status;
    char body[64];
    size_t bodylen;
};

static void on_client(lt_wrk_loop_t *loop, int fd, int events, void *arg)
{
    (void)events;
    struct server *s = arg;
    ssize_t n = read(fd, s->req + s->reqlen, sizeof(s->req) - 1 - s->reqlen);
    if (n > 0) {
        s->reqlen += (size_t)n;
        s->req[s->reqlen] = '\0';
    }
    if (n <= 0 || strstr(s->req, "\r\n\r\n") != NULL) {
        static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                                   "Connection: close\r\n\r\nhello";
        if (n > 0) {
            assert_int_equal(write(fd, resp, sizeof(resp) - 1), (ssize_t)(sizeof(resp) - 1));
            s->served = 1;
        }
        lt_wrk_loop_unwatch(loop, fd);
        close(fd);
        s->conn_fd = -1;
    }
}

static void on_accept(lt_wrk_loop_t *loop, int fd, int events, void *arg)
{
    (void)events;
    struct server *s = arg;
    s->conn_fd = accept(fd, NULL, NULL);
    assert_true(s->conn_fd >= 0);
    assert_int_equal(lt_wrk_loop_watch(loop, s->conn_fd, LT_WRK_READ, on_client, s), 0);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct fetch *f = userdata;
    size_t n = size * nmemb;
    size_t room = sizeof(f->body) - 1 - f->bodylen;
    memcpy(f->body + f->bodylen, ptr, n < room ? n : room);
    f->bodylen += n < room ? n : room;
    f->body[f->bodylen] = '\0';
    return n;
}

static void on_fetched(lt_wrk_loop_t *loop, CURL *easy, CURLcode result, void *arg)
{
    (void)loop;
    struct fetch *f = arg;
    f->result = result;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &f->status);
    curl_easy_cleanup(easy);
    f->done = 1;
}

static void test_curl_transfer_driven_by_loop(void **state)
{
    (void)state;
    struct sockaddr_in addr;
    socklen_t alen = sizeof(addr);
    char url[64];
    struct server s = {.listen_fd = -1, .conn_fd = -1};
    struct fetch f = {0};

    assert_int_equal(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
    lt_wrk_loop_t *loop = lt_wrk_loop_new();
    assert_non_null(loop);

    s.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s.listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(s.listen_fd, 4), 0);
    assert_int_equal(getsockname(s.listen_fd, (struct sockaddr *)&addr, &alen), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", ntohs(addr.sin_port));
    assert_int_equal(lt_wrk_loop_watch(loop, s.listen_fd, LT_WRK_READ, on_accept, &s), 0);

    CURL *easy = curl_easy_init();
    assert_non_null(easy);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &f);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 5000L);
    assert_int_equal(lt_wrk_loop_transfer_add(loop, easy, on_fetched, &f), 0);
    assert_int_equal(lt_wrk_loop_transfers(loop), 1);

    run_until(loop, &f.done, 5000);
    assert_true(f.done);
    assert_int_equal(f.result, CURLE_OK);
    assert_int_equal(f.status, 200);
    assert_string_equal(f.body, "hello");
    assert_true(s.served);
    assert_int_equal(lt_wrk_loop_transfers(loop), 0);

    /* A transfer aborted by its owner gives the handle back without a callback. */
    struct fetch g = {0};
    CURL *easy2 = curl_easy_init();
    curl_easy_setopt(easy2, CURLOPT_URL, url);
    curl_easy_setopt(easy2, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy2, CURLOPT_WRITEDATA, &g);
    assert_int_equal(lt_wrk_loop_transfer_add(loop, easy2, on_fetched, &g), 0);
    assert_int_equal(lt_wrk_loop_run_once(loop, 20) >= 0, 1);
    lt_wrk_loop_transfer_remove(loop, easy2);
    curl_easy_cleanup(easy2);
    assert_int_equal(lt_wrk_loop_transfers(loop), 0);
    for (int i = 0; i < 5; i++) {
        lt_wrk_loop_run_once(loop, 10);
    }
    assert_false(g.done);

    /* A transfer still running when the loop is freed is cleaned up by it. */
    CURL *easy3 = curl_easy_init();
    curl_easy_setopt(easy3, CURLOPT_URL, url);
    assert_int_equal(lt_wrk_loop_transfer_add(loop, easy3, on_fetched, &g), 0);

    if (s.conn_fd >= 0) {
        lt_wrk_loop_unwatch(loop, s.conn_fd);
        close(s.conn_fd);
    }
    lt_wrk_loop_unwatch(loop, s.listen_fd);
    close(s.listen_fd);
    lt_wrk_loop_free(loop);
    curl_global_cleanup();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timers_fire_in_deadline_order),
        cmocka_unit_test(test_zero_delay_rearm_waits_a_round),
        cmocka_unit_test(test_fd_callbacks_and_unwatch),
        cmocka_unit_test(test_curl_transfer_driven_by_loop),
    };
    return cmocka_run_group_tests_name("wrk_loop", tests, NULL, NULL);
}
