/*
 * loop.c -- see loop.h.
 *
 * Watches and timers live in small unsorted arrays: a child has a few tens of each, so
 * a linear scan per round costs less than keeping a heap or a tree correct while
 * callbacks add and remove entries under the iteration. Every watch carries a
 * generation number taken when it was made; a round only dispatches an event to the
 * watch whose generation it polled, so a descriptor unwatched (and perhaps reused) by an
 * earlier callback in the same round gets nothing stale. Timers that callbacks add
 * during a round wait for the next one (ids grow, and a round only fires ids it saw),
 * which keeps a zero-delay re-arm from spinning inside one round.
 */
#include "loop.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

struct watch {
    int fd;
    int mask;
    uint64_t gen;
    lt_wrk_fd_fn fn;
    void *arg;
};

struct timer {
    uint64_t id;
    int64_t deadline; /* lt_mono_ms() */
    lt_wrk_timer_fn fn;
    void *arg;
};

struct transfer {
    CURL *easy;
    lt_wrk_transfer_fn done;
    void *arg;
    struct transfer *prev, *next; /* every transfer in progress, for lt_wrk_loop_free */
};

struct lt_wrk_loop {
    struct watch *watches;
    int nwatches, capwatches;
    struct timer *timers;
    int ntimers, captimers;
    uint64_t next_gen;
    uint64_t next_timer_id;

    struct pollfd *pfds; /* per-round scratch, parallel to gens */
    uint64_t *gens;
    int cappfds;

    CURLM *multi;
    uint64_t curl_timer;
    int ntransfers;
    struct transfer *transfers;
};

static int grow(void **arr, int *cap, int need, size_t elem)
{
    if (need <= *cap) {
        return 0;
    }
    int ncap = *cap > 0 ? *cap * 2 : 16;
    while (ncap < need) {
        ncap *= 2;
    }
    void *p = realloc(*arr, (size_t)ncap * elem);
    if (p == NULL) {
        return -1;
    }
    *arr = p;
    *cap = ncap;
    return 0;
}

static struct watch *find_watch(lt_wrk_loop_t *loop, int fd)
{
    for (int i = 0; i < loop->nwatches; i++) {
        if (loop->watches[i].fd == fd) {
            return &loop->watches[i];
        }
    }
    return NULL;
}

int lt_wrk_loop_watch(lt_wrk_loop_t *loop, int fd, int mask, lt_wrk_fd_fn fn, void *arg)
{
    struct watch *w = find_watch(loop, fd);
    if (w == NULL) {
        if (grow((void **)&loop->watches, &loop->capwatches, loop->nwatches + 1,
                 sizeof(*loop->watches)) < 0) {
            return -1;
        }
        w = &loop->watches[loop->nwatches++];
    }
    w->fd = fd;
    w->mask = mask;
    w->gen = ++loop->next_gen;
    w->fn = fn;
    w->arg = arg;
    return 0;
}

void lt_wrk_loop_unwatch(lt_wrk_loop_t *loop, int fd)
{
    struct watch *w = find_watch(loop, fd);
    if (w != NULL) {
        *w = loop->watches[--loop->nwatches];
    }
}

uint64_t lt_wrk_loop_timer(lt_wrk_loop_t *loop, int64_t delay_ms, lt_wrk_timer_fn fn, void *arg)
{
    if (grow((void **)&loop->timers, &loop->captimers, loop->ntimers + 1, sizeof(*loop->timers)) <
        0) {
        return 0;
    }
    struct timer *t = &loop->timers[loop->ntimers++];
    t->id = ++loop->next_timer_id;
    t->deadline = lt_mono_ms() + (delay_ms > 0 ? delay_ms : 0);
    t->fn = fn;
    t->arg = arg;
    return t->id;
}

void lt_wrk_loop_timer_cancel(lt_wrk_loop_t *loop, uint64_t id)
{
    for (int i = 0; id != 0 && i < loop->ntimers; i++) {
        if (loop->timers[i].id == id) {
            loop->timers[i] = loop->timers[--loop->ntimers];
            return;
        }
    }
}

int64_t lt_wrk_loop_next_timer_ms(const lt_wrk_loop_t *loop)
{
    if (loop->ntimers == 0) {
        return -1;
    }
    int64_t first = loop->timers[0].deadline;
    for (int i = 1; i < loop->ntimers; i++) {
        if (loop->timers[i].deadline < first) {
            first = loop->timers[i].deadline;
        }
    }
    int64_t left = first - lt_mono_ms();
    return left > 0 ? left : 0;
}

/* ---- libcurl multi integration ---- */

static void unlink_transfer(lt_wrk_loop_t *loop, struct transfer *tr)
{
    if (tr->prev != NULL) {
        tr->prev->next = tr->next;
    } else {
        loop->transfers = tr->next;
    }
    if (tr->next != NULL) {
        tr->next->prev = tr->prev;
    }
    loop->ntransfers--;
}

static void collect_transfers(lt_wrk_loop_t *loop)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(loop->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result;
        struct transfer *tr = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&tr);
        curl_multi_remove_handle(loop->multi, easy);
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        if (tr != NULL) {
            struct transfer copy = *tr;
            unlink_transfer(loop, tr);
            free(tr);
            copy.done(loop, easy, result, copy.arg);
        }
    }
}

static void on_curl_fd(lt_wrk_loop_t *loop, int fd, int events, void *arg)
{
    (void)arg;
    int running = 0;
    int ev = ((events & LT_WRK_READ) ? CURL_CSELECT_IN : 0) |
             ((events & LT_WRK_WRITE) ? CURL_CSELECT_OUT : 0);
    curl_multi_socket_action(loop->multi, fd, ev, &running);
    collect_transfers(loop);
}

static void on_curl_timeout(lt_wrk_loop_t *loop, void *arg)
{
    (void)arg;
    int running = 0;
    loop->curl_timer = 0;
    curl_multi_socket_action(loop->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    collect_transfers(loop);
}

/* CURLMOPT_SOCKETFUNCTION: libcurl tells which sockets to watch for what. */
static int curl_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    (void)socketp;
    lt_wrk_loop_t *loop = userp;
    if (what == CURL_POLL_REMOVE) {
        lt_wrk_loop_unwatch(loop, s);
        return 0;
    }
    int mask = (what == CURL_POLL_IN || what == CURL_POLL_INOUT ? LT_WRK_READ : 0) |
               (what == CURL_POLL_OUT || what == CURL_POLL_INOUT ? LT_WRK_WRITE : 0);
    return lt_wrk_loop_watch(loop, s, mask, on_curl_fd, NULL) == 0 ? 0 : -1;
}

/* CURLMOPT_TIMERFUNCTION: one timer for the whole multi; -1 removes it. Never calls
 * curl_multi_socket_action itself (libcurl forbids it here): a loop timer does. */
static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    lt_wrk_loop_t *loop = userp;
    lt_wrk_loop_timer_cancel(loop, loop->curl_timer);
    loop->curl_timer = 0;
    if (timeout_ms >= 0) {
        loop->curl_timer = lt_wrk_loop_timer(loop, timeout_ms, on_curl_timeout, NULL);
        if (loop->curl_timer == 0) {
            return -1;
        }
    }
    return 0;
}

int lt_wrk_loop_transfer_add(lt_wrk_loop_t *loop, CURL *easy, lt_wrk_transfer_fn done, void *arg)
{
    struct transfer *tr = malloc(sizeof(*tr));
    if (tr == NULL) {
        return -1;
    }
    tr->easy = easy;
    tr->done = done;
    tr->arg = arg;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)tr);
    if (curl_multi_add_handle(loop->multi, easy) != CURLM_OK) {
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        free(tr);
        return -1;
    }
    tr->prev = NULL;
    tr->next = loop->transfers;
    if (tr->next != NULL) {
        tr->next->prev = tr;
    }
    loop->transfers = tr;
    loop->ntransfers++;
    return 0;
}

void lt_wrk_loop_transfer_remove(lt_wrk_loop_t *loop, CURL *easy)
{
    struct transfer *tr = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&tr);
    if (tr == NULL) {
        return; /* not ours, or already finished */
    }
    curl_multi_remove_handle(loop->multi, easy);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    unlink_transfer(loop, tr);
    free(tr);
}

int lt_wrk_loop_transfers(const lt_wrk_loop_t *loop)
{
    return loop->ntransfers;
}

/* ---- lifecycle and the round ---- */

lt_wrk_loop_t *lt_wrk_loop_new(void)
{
    lt_wrk_loop_t *loop = calloc(1, sizeof(*loop));
    if (loop == NULL) {
        goto fail;
    }
    loop->multi = curl_multi_init();
    if (loop->multi == NULL) {
        goto fail;
    }
    if (curl_multi_setopt(loop->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb) != CURLM_OK ||
        curl_multi_setopt(loop->multi, CURLMOPT_SOCKETDATA, loop) != CURLM_OK ||
        curl_multi_setopt(loop->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb) != CURLM_OK ||
        curl_multi_setopt(loop->multi, CURLMOPT_TIMERDATA, loop) != CURLM_OK) {
        goto fail;
    }
    return loop;
fail:
    lt_log_error("loop_init_failed", NULL, "cannot create the event loop");
    lt_wrk_loop_free(loop);
    return NULL;
}

void lt_wrk_loop_free(lt_wrk_loop_t *loop)
{
    if (loop == NULL) {
        return;
    }
    if (loop->multi != NULL) {
        while (loop->transfers != NULL) {
            CURL *easy = loop->transfers->easy;
            lt_wrk_loop_transfer_remove(loop, easy);
            curl_easy_cleanup(easy);
        }
        curl_multi_cleanup(loop->multi);
    }
    free(loop->watches);
    free(loop->timers);
    free(loop->pfds);
    free(loop->gens);
    free(loop);
}

static int fire_timers(lt_wrk_loop_t *loop)
{
    uint64_t seen = loop->next_timer_id; /* timers added by callbacks wait a round */
    int64_t now = lt_mono_ms();
    int fired = 0;
    for (;;) {
        int best = -1;
        for (int i = 0; i < loop->ntimers; i++) {
            const struct timer *t = &loop->timers[i];
            if (t->id <= seen && t->deadline <= now &&
                (best < 0 || t->deadline < loop->timers[best].deadline)) {
                best = i;
            }
        }
        if (best < 0) {
            return fired;
        }
        struct timer t = loop->timers[best];
        loop->timers[best] = loop->timers[--loop->ntimers];
        t.fn(loop, t.arg);
        fired++;
    }
}

int lt_wrk_loop_run_once(lt_wrk_loop_t *loop, int64_t max_wait_ms)
{
    int64_t wait = lt_wrk_loop_next_timer_ms(loop);
    if (max_wait_ms >= 0 && (wait < 0 || max_wait_ms < wait)) {
        wait = max_wait_ms;
    }
    if (grow((void **)&loop->pfds, &loop->cappfds, loop->nwatches + 1, sizeof(*loop->pfds)) < 0) {
        return -1;
    }
    /* gens grows in step with pfds: same capacity. */
    uint64_t *g = realloc(loop->gens, (size_t)loop->cappfds * sizeof(*g));
    if (g == NULL) {
        return -1;
    }
    loop->gens = g;
    int n = loop->nwatches;
    for (int i = 0; i < n; i++) {
        const struct watch *w = &loop->watches[i];
        loop->pfds[i].fd = w->fd;
        loop->pfds[i].events = (short)(((w->mask & LT_WRK_READ) ? POLLIN : 0) |
                                       ((w->mask & LT_WRK_WRITE) ? POLLOUT : 0));
        loop->pfds[i].revents = 0;
        loop->gens[i] = w->gen;
    }
    int timeout = wait < 0 ? -1 : (wait > 3600000 ? 3600000 : (int)wait);
    int ready = poll(loop->pfds, (nfds_t)n, timeout);
    if (ready < 0) {
        return errno == EINTR ? 0 : -1;
    }
    int ran = 0;
    for (int i = 0; i < n && ready > 0; i++) {
        short re = loop->pfds[i].revents;
        if (re == 0) {
            continue;
        }
        ready--;
        struct watch *w = find_watch(loop, loop->pfds[i].fd);
        if (w == NULL || w->gen != loop->gens[i]) {
            continue; /* unwatched or replaced by an earlier callback this round */
        }
        int ev = ((re & POLLIN) ? LT_WRK_READ : 0) | ((re & POLLOUT) ? LT_WRK_WRITE : 0);
        if (re & (POLLERR | POLLHUP | POLLNVAL)) {
            ev |= w->mask;
        }
        w->fn(loop, w->fd, ev, w->arg);
        ran++;
    }
    return ran + fire_timers(loop);
}
