/*
 * api_pool.c -- see api_pool.h.
 *
 * The parent blocks its four signals and waits in ppoll() with the original mask, so a
 * signal can only arrive while it sleeps and is never lost between a flag check and
 * the wait. Children restore the mask and install their own handlers without
 * SA_RESTART; with FCGI_FAIL_ACCEPT_ON_INTR a SIGTERM breaks FCGX_Accept_r out of
 * accept() at once. A SIGTERM landing just before accept() would be missed, so the
 * parent repeats it every second while it waits; a child busy with a request only sets
 * its flag again.
 */
#include "api_pool.h"

#include <errno.h>
#include <fcgiapp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "api_charge.h"
#include "api_inflight.h"
#include "api_router.h"
#include "api_store.h"
#include "clock.h"
#include "log.h"

static volatile sig_atomic_t got_stop, got_hup, got_chld;
static volatile sig_atomic_t child_stop;

static void on_parent_signal(int sig)
{
    if (sig == SIGHUP) {
        got_hup = 1;
    } else if (sig == SIGCHLD) {
        got_chld = 1;
    } else {
        got_stop = 1;
    }
}

static void on_child_signal(int sig)
{
    (void)sig;
    child_stop = 1;
}

static int handle(int sig, void (*fn)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: blocking calls must see the signal */
    return sigaction(sig, &sa, NULL);
}

/* ---- the child ---- */

static void child_main(const struct lt_cfg *cfg, int listen_fd, const sigset_t *mask, int slot)
{
    FCGX_Request req;
    int served = 0, status = 0;

    child_stop = 0;
    lt_api_charge_set_stripe(slot);
    lt_api_inflight_set_slot(slot);
    handle(SIGTERM, on_child_signal);
    handle(SIGINT, on_child_signal);
    handle(SIGHUP, SIG_IGN);
    handle(SIGCHLD, SIG_DFL);
    handle(SIGPIPE, SIG_IGN); /* a client gone mid-answer is an error return, not death */
    /* The parent gone means nobody supervises: stop like on SIGTERM. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    sigprocmask(SIG_SETMASK, mask, NULL);
    if (getppid() == 1) {
        child_stop = 1;
    }
    if (FCGX_InitRequest(&req, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
        lt_log_error("fcgi_init_failed", NULL, "FCGX_InitRequest failed");
        _exit(1);
    }
    while (!child_stop && (cfg->api_max_requests == 0 || served < cfg->api_max_requests)) {
        int rc = FCGX_Accept_r(&req);
        if (rc < 0) {
            if (child_stop || rc == -EINTR) {
                continue;
            }
            lt_log_error("fcgi_accept_failed", json_pack("{si}", "errno", -rc),
                         "FCGX_Accept_r failed: %s", strerror(-rc));
            status = 1;
            break;
        }
        lt_api_serve(&req, cfg);
        FCGX_Finish_r(&req);
        served++;
    }
    FCGX_Free(&req, 1);
    lt_api_store_close();
    lt_log_debug("api_child_exit", json_pack("{si}", "served", served), "child exits");
#if defined(__SANITIZE_ADDRESS__)
    /* _exit skips LeakSanitizer's exit hook; a leak per request must still fail tests. */
    __lsan_do_leak_check();
#endif
    /* A forked child leaves with _exit: the parent's atexit work is not its to do. */
    _exit(status);
}

/* ---- the parent ---- */

struct slot {
    pid_t pid; /* 0: empty */
    int64_t started_ms;
    int64_t restart_at_ms; /* an empty slot is refilled from then on */
    int young_deaths;      /* in a row */
};

struct pool {
    struct lt_cfg *cfg;
    int listen_fd;
    sigset_t orig_mask;
    struct slot *slots;
    int nslots;
    pid_t *retiring; /* children of an older configuration, finishing */
    int nretiring;
};

static int spawn(struct pool *p, struct slot *s)
{
    pid_t pid = fork();
    if (pid < 0) {
        lt_log_error("fork_failed", NULL, "cannot fork a child: %s", strerror(errno));
        s->restart_at_ms = lt_mono_ms() + LT_API_RESTART_MAX_MS;
        return -1;
    }
    if (pid == 0) {
        int fd = p->listen_fd;
        const struct lt_cfg *cfg = p->cfg;
        sigset_t mask = p->orig_mask;
        int slot = (int)(s - p->slots);
        free(p->slots);
        free(p->retiring);
        child_main(cfg, fd, &mask, slot);
    }
    s->pid = pid;
    s->started_ms = lt_mono_ms();
    return 0;
}

static void spawn_due(struct pool *p)
{
    int64_t now = lt_mono_ms();
    for (int i = 0; i < p->nslots; i++) {
        if (p->slots[i].pid == 0 && p->slots[i].restart_at_ms <= now) {
            spawn(p, &p->slots[i]);
        }
    }
}

static int64_t next_deadline(const struct pool *p, int64_t fallback_ms)
{
    int64_t at = lt_mono_ms() + fallback_ms;
    for (int i = 0; i < p->nslots; i++) {
        if (p->slots[i].pid == 0 && p->slots[i].restart_at_ms < at) {
            at = p->slots[i].restart_at_ms;
        }
    }
    return at;
}

static void wait_until(const struct pool *p, int64_t at_ms)
{
    int64_t ms = at_ms - lt_mono_ms();
    struct timespec ts = {0, 0};
    if (ms > 0) {
        ts.tv_sec = ms / 1000;
        ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    }
    ppoll(NULL, 0, &ts, &p->orig_mask); /* returns early on any handled signal */
}

static void note_exit(pid_t pid, int wstatus, struct slot *s)
{
    int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
    int sig = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
    lt_log(code == 0 ? LT_LOG_INFO : LT_LOG_WARN, "api_child_exited",
           json_pack("{si si si}", "child_pid", (int)pid, "exit_code", code, "signal", sig),
           "child exited");
    if (s == NULL) {
        return;
    }
    int64_t now = lt_mono_ms();
    /* A clean exit is a retirement after max_requests: replace at once. */
    if (code != 0 && now - s->started_ms < LT_API_YOUNG_MS) {
        int64_t pause = LT_API_RESTART_MIN_MS;
        for (int i = 1; i < s->young_deaths && pause < LT_API_RESTART_MAX_MS; i++) {
            pause *= 2;
        }
        s->young_deaths++;
        s->restart_at_ms = now + (pause < LT_API_RESTART_MAX_MS ? pause : LT_API_RESTART_MAX_MS);
    } else {
        s->young_deaths = 0;
        s->restart_at_ms = now;
    }
    s->pid = 0;
}

static void reap(struct pool *p)
{
    int wstatus;
    pid_t pid;

    got_chld = 0;
    while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
        struct slot *s = NULL;
        for (int i = 0; i < p->nslots; i++) {
            if (p->slots[i].pid == pid) {
                s = &p->slots[i];
            }
        }
        for (int i = 0; i < p->nretiring; i++) {
            if (p->retiring[i] == pid) {
                p->retiring[i] = p->retiring[--p->nretiring];
                break;
            }
        }
        note_exit(pid, wstatus, s);
    }
}

static int live_children(const struct pool *p)
{
    int n = p->nretiring;
    for (int i = 0; i < p->nslots; i++) {
        n += p->slots[i].pid != 0;
    }
    return n;
}

static void signal_all(const struct pool *p, int sig)
{
    for (int i = 0; i < p->nslots; i++) {
        if (p->slots[i].pid != 0) {
            kill(p->slots[i].pid, sig);
        }
    }
    for (int i = 0; i < p->nretiring; i++) {
        kill(p->retiring[i], sig);
    }
}

/* SIGHUP: a new configuration, and new children carrying it. The socket stays. */
static void reload(struct pool *p)
{
    struct lt_cfg fresh;
    struct lt_err err;

    got_hup = 0;
    if (lt_cfg_load(&fresh, p->cfg->path, &err) < 0) {
        lt_log_error("config_reload_failed", NULL, "keeping the old configuration: %s", err.msg);
        return;
    }
    if (fresh.jwt_secret == NULL || fresh.jwt_secret[0] == '\0') {
        lt_log_error("config_reload_failed", NULL, "keeping the old configuration: no JWT secret");
        lt_cfg_free(&fresh);
        return;
    }
    if (strcmp(fresh.api_socket, p->cfg->api_socket) != 0) {
        lt_log_warn("config_reload_socket", NULL,
                    "api.socket changed; the new path takes effect only on restart");
    }
    pid_t *retiring = realloc(p->retiring, sizeof(pid_t) * (size_t)(p->nretiring + p->nslots));
    struct slot *slots = calloc((size_t)fresh.api_processes, sizeof(*slots));
    if (slots == NULL || (retiring == NULL && p->nretiring + p->nslots > 0)) {
        lt_log_error("config_reload_failed", NULL, "out of memory");
        free(slots);
        if (retiring != NULL) {
            p->retiring = retiring;
        }
        lt_cfg_free(&fresh);
        return;
    }
    p->retiring = retiring;
    for (int i = 0; i < p->nslots; i++) {
        if (p->slots[i].pid != 0) {
            kill(p->slots[i].pid, SIGTERM);
            p->retiring[p->nretiring++] = p->slots[i].pid;
        }
    }
    free(p->slots);
    p->slots = slots;
    p->nslots = fresh.api_processes;
    lt_cfg_free(p->cfg);
    *p->cfg = fresh;
    lt_log_set_level(p->cfg->log_level >= 0 ? (enum lt_log_level)p->cfg->log_level : LT_LOG_INFO);
    lt_log_info("config_reloaded", json_pack("{si}", "processes", p->nslots),
                "configuration reloaded; replacing children");
}

static void stop_children(struct pool *p)
{
    int64_t deadline = lt_mono_ms() + LT_API_STOP_GRACE_MS;
    int killed = 0;

    signal_all(p, SIGTERM);
    reap(p);
    while (live_children(p) > 0) {
        if (!killed && lt_mono_ms() >= deadline) {
            lt_log_warn("api_children_killed", json_pack("{si}", "children", live_children(p)),
                        "children still busy after the grace period; killing them");
            signal_all(p, SIGKILL);
            killed = 1;
        }
        wait_until(p, lt_mono_ms() + 1000);
        reap(p);
        if (!killed && live_children(p) > 0) {
            signal_all(p, SIGTERM); /* one may have been between its check and accept() */
        }
    }
}

int lt_api_pool_run(struct lt_cfg *cfg, int listen_fd)
{
    struct pool p = {cfg, listen_fd, {{0}}, NULL, 0, NULL, 0};
    sigset_t block;
    int rc = 0;

    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &block, &p.orig_mask) < 0 || handle(SIGTERM, on_parent_signal) < 0 ||
        handle(SIGINT, on_parent_signal) < 0 || handle(SIGHUP, on_parent_signal) < 0 ||
        handle(SIGCHLD, on_parent_signal) < 0 || handle(SIGPIPE, SIG_IGN) < 0) {
        lt_log_error("signal_setup_failed", NULL, "cannot install signal handlers");
        return -1;
    }
    (void)lt_api_inflight_init(); /* without it, creates just take the separate wake-up */
    p.nslots = cfg->api_processes;
    p.slots = calloc((size_t)p.nslots, sizeof(*p.slots));
    if (p.slots == NULL) {
        rc = -1;
        goto out;
    }
    lt_log_info("api_started",
                json_pack("{si ss}", "processes", p.nslots, "socket", cfg->api_socket), "serving");
    while (!got_stop) {
        if (got_chld) {
            reap(&p);
        }
        if (got_hup) {
            reload(&p);
        }
        spawn_due(&p);
        if (!got_stop && !got_chld && !got_hup) {
            wait_until(&p, next_deadline(&p, 60000));
        }
    }
    lt_log_info("api_stopping", json_pack("{si}", "children", live_children(&p)),
                "stopping: children finish their requests");
    stop_children(&p);
out:
    free(p.slots);
    free(p.retiring);
    sigprocmask(SIG_SETMASK, &p.orig_mask, NULL);
    return rc;
}
