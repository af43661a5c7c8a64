/*
 * reaper_loop.c -- see reaper_loop.h.
 */
#include "reaper_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "reaper_run.h"

static volatile sig_atomic_t stop_requested;
static int wake_pipe[2] = {-1, -1};

static void on_stop(int signo)
{
    int saved = errno;
    (void)signo;
    stop_requested = 1;
    if (wake_pipe[1] >= 0) {
        ssize_t w = write(wake_pipe[1], "x", 1);
        (void)w;
    }
    errno = saved;
}

int lt_rpr_loop_signals(void)
{
    struct sigaction sa;

    if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        lt_log_error("reaper_failed", NULL, "pipe2: %s", strerror(errno));
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0) {
        lt_log_error("reaper_failed", NULL, "sigaction: %s", strerror(errno));
        return -1;
    }
    sa.sa_handler = SIG_IGN;
    (void)sigaction(SIGPIPE, &sa, NULL);
    return 0;
}

int lt_rpr_loop_stopping(void)
{
    return stop_requested != 0;
}

/* Waits until deadline (monotonic ms) or a stop request. */
static void wait_until(int64_t deadline)
{
    while (!stop_requested) {
        int64_t left = deadline - lt_mono_ms();
        if (left <= 0) {
            return;
        }
        struct pollfd p = {.fd = wake_pipe[0], .events = POLLIN};
        (void)poll(&p, 1, left > 60000 ? 60000 : (int)left);
    }
}

int lt_rpr_loop(const struct lt_cfg *cfg, int interval_s)
{
    PGconn *conn = NULL;

    lt_log_info("reaper_started", json_pack("{si}", "interval_s", interval_s), "running every %d s",
                interval_s);
    while (!stop_requested) {
        /* Runs start on a fixed cadence; a slow run is followed by the next at once. */
        int64_t next = lt_mono_ms() + (int64_t)interval_s * 1000;
        (void)lt_rpr_run(cfg, &conn);
        wait_until(next);
    }
    PQfinish(conn);
    lt_log_info("reaper_stopped", NULL, "stop requested; exiting");
    return 0;
}
