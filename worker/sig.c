/*
 * sig.c -- see sig.h.
 */
#include "sig.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static volatile sig_atomic_t raised;
static int pipe_fds[2] = {-1, -1};

static void on_signal(int signo)
{
    int saved = errno;
    if (signo == SIGTERM || signo == SIGINT) {
        raised |= LT_WRK_SIG_TERM;
    } else if (signo == SIGHUP) {
        raised |= LT_WRK_SIG_HUP;
    } else if (signo == SIGCHLD) {
        raised |= LT_WRK_SIG_CHLD;
    }
    if (pipe_fds[1] >= 0) {
        char b = 1;
        ssize_t w = write(pipe_fds[1], &b, 1); /* a full pipe already wakes the loop */
        (void)w;
    }
    errno = saved;
}

static int set_handler(int signo, void (*fn)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = fn == on_signal ? SA_RESTART : 0;
    return sigaction(signo, &sa, NULL);
}

void lt_wrk_sig_close(void)
{
    for (int i = 0; i < 2; i++) {
        if (pipe_fds[i] >= 0) {
            close(pipe_fds[i]);
            pipe_fds[i] = -1;
        }
    }
}

int lt_wrk_sig_init(int want)
{
    lt_wrk_sig_close();
    if (pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC) < 0) {
        lt_log_error("signal_setup_failed", NULL, "pipe2: %s", strerror(errno));
        return -1;
    }
    void (*term)(int) = (want & LT_WRK_SIG_TERM) ? on_signal : SIG_DFL;
    void (*hup)(int) = (want & LT_WRK_SIG_HUP) ? on_signal : SIG_IGN;
    void (*chld)(int) = (want & LT_WRK_SIG_CHLD) ? on_signal : SIG_DFL;
    if (set_handler(SIGTERM, term) < 0 || set_handler(SIGINT, term) < 0 ||
        set_handler(SIGHUP, hup) < 0 || set_handler(SIGCHLD, chld) < 0 ||
        set_handler(SIGPIPE, SIG_IGN) < 0) {
        lt_log_error("signal_setup_failed", NULL, "sigaction: %s", strerror(errno));
        return -1;
    }
    /* A signal that arrived before this call (say SIGTERM between fork and here) is kept:
     * the new pipe gets its byte so the loop sees it. */
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    raised &= want;
    if (raised != 0) {
        char b = 1;
        ssize_t w = write(pipe_fds[1], &b, 1);
        (void)w;
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    return 0;
}

int lt_wrk_sig_fd(void)
{
    return pipe_fds[0];
}

int lt_wrk_sig_take(void)
{
    char buf[64];
    while (pipe_fds[0] >= 0 && read(pipe_fds[0], buf, sizeof(buf)) > 0) {
    }
    /* Block the signals for the read-and-clear so none is lost between the two. */
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    int r = raised;
    raised = 0;
    sigprocmask(SIG_SETMASK, &old, NULL);
    return r;
}
