/*
 * master.c -- see master.h.
 *
 * The children live in slots, one per configured process. When a slot's child dies the
 * slot waits before forking again: restart_min_ms after a child that lived a while,
 * then doubling up to restart_max_ms while each replacement dies young; a child that
 * lives past HEALTHY_MS resets the delay. On SIGHUP the current children are retired
 * (SIGTERM: they drain, they are not restarted) and a fresh set is forked at once with
 * the new configuration, so capacity never drops to zero during a reload.
 *
 * The loop waits on the signal self-pipe with poll(), its timeout the next restart (or
 * the kill deadline while stopping); signal handlers only raise flags.
 */
#include "master.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "clock.h"
#include "log.h"
#include "sig.h"

/* A child that lived this long was healthy: its death starts a fresh backoff. */
#define HEALTHY_MS 10000
/* While stopping, children get their drain period plus this before SIGKILL. */
#define STOP_GRACE_MS 20000

struct slot {
    pid_t pid;          /* 0: no child */
    int64_t started;    /* lt_mono_ms() at fork */
    int64_t restart_at; /* when pid is 0: fork again at this time */
    int64_t backoff_ms; /* the delay after the next young death */
};

struct master {
    struct lt_cfg *cfg;
    struct slot *slots;
    int nslots;
    pid_t *retiring; /* children replaced by a reload, draining */
    int nretiring, capretiring;
    int stopping;
    int killed;
    int64_t kill_at;
    int in_child; /* this process is a forked child: leave the master's loop */
};

/* Forks a child into slot i. Returns 0 (in the master, and in the child with
 * m->in_child set), -1 when fork failed (the slot retries later). */
static int spawn(struct master *m, int i)
{
    struct slot *s = &m->slots[i];
    pid_t pid = fork();
    if (pid < 0) {
        lt_log_error("worker_fork_failed", NULL, "fork: %s", strerror(errno));
        s->restart_at = lt_mono_ms() + s->backoff_ms;
        return -1;
    }
    if (pid == 0) {
        m->in_child = 1;
        return 0;
    }
    s->pid = pid;
    s->started = lt_mono_ms();
    lt_log_info("worker_child_started", json_pack("{si si}", "child_pid", (int)pid, "slot", i),
                "started worker child");
    return 0;
}

static int make_slots(struct master *m)
{
    m->nslots = m->cfg->worker_processes;
    m->slots = calloc((size_t)m->nslots, sizeof(*m->slots));
    if (m->slots == NULL) {
        return -1;
    }
    for (int i = 0; i < m->nslots; i++) {
        m->slots[i].backoff_ms = m->cfg->worker_restart_min_ms;
    }
    return 0;
}

static void signal_all(struct master *m, int signo)
{
    for (int i = 0; i < m->nslots; i++) {
        if (m->slots[i].pid > 0) {
            kill(m->slots[i].pid, signo);
        }
    }
    for (int i = 0; i < m->nretiring; i++) {
        kill(m->retiring[i], signo);
    }
}

static int children_left(const struct master *m)
{
    int n = m->nretiring;
    for (int i = 0; i < m->nslots; i++) {
        n += m->slots[i].pid > 0;
    }
    return n;
}

static void child_exited(struct master *m, pid_t pid, int status)
{
    json_t *f = json_pack("{si}", "child_pid", (int)pid);
    if (WIFEXITED(status)) {
        json_object_set_new(f, "exit_code", json_integer(WEXITSTATUS(status)));
    } else if (WIFSIGNALED(status)) {
        json_object_set_new(f, "signal", json_integer(WTERMSIG(status)));
    }
    for (int i = 0; i < m->nretiring; i++) {
        if (m->retiring[i] == pid) {
            m->retiring[i] = m->retiring[--m->nretiring];
            lt_log_info("worker_child_exited", f, "retired worker child exited");
            return;
        }
    }
    for (int i = 0; i < m->nslots; i++) {
        struct slot *s = &m->slots[i];
        if (s->pid != pid) {
            continue;
        }
        int64_t now = lt_mono_ms();
        int64_t delay;
        s->pid = 0;
        if (now - s->started >= HEALTHY_MS) {
            s->backoff_ms = m->cfg->worker_restart_min_ms;
        }
        delay = s->backoff_ms;
        s->backoff_ms = s->backoff_ms * 2 > m->cfg->worker_restart_max_ms
                            ? m->cfg->worker_restart_max_ms
                            : (s->backoff_ms > 0 ? s->backoff_ms * 2 : 1);
        s->restart_at = now + delay;
        json_object_set_new(f, "restart_in_ms", json_integer(m->stopping ? -1 : delay));
        lt_log(m->stopping ? LT_LOG_INFO : LT_LOG_WARN, "worker_child_exited", f,
               m->stopping ? "worker child exited" : "worker child died; restarting");
        return;
    }
    json_decref(f);
}

static void reap(struct master *m)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        child_exited(m, pid, status);
    }
}

/* SIGHUP: a new configuration, a new set of children; the old set drains. On a bad file
 * the old configuration and children stay. */
static void reload(struct master *m)
{
    struct lt_cfg fresh;
    struct lt_err err;
    if (lt_cfg_load(&fresh, m->cfg->path, &err) < 0) {
        lt_log_error("config_reload_failed", NULL, "%s (keeping the running configuration)",
                     err.msg);
        return;
    }
    int need = m->nretiring + m->nslots;
    if (need > m->capretiring) {
        pid_t *p = realloc(m->retiring, (size_t)need * sizeof(*p));
        if (p == NULL) {
            lt_cfg_free(&fresh);
            lt_log_error("config_reload_failed", NULL, "out of memory");
            return;
        }
        m->retiring = p;
        m->capretiring = need;
    }
    for (int i = 0; i < m->nslots; i++) {
        if (m->slots[i].pid > 0) {
            kill(m->slots[i].pid, SIGTERM);
            m->retiring[m->nretiring++] = m->slots[i].pid;
        }
    }
    free(m->slots);
    m->slots = NULL;
    lt_cfg_free(m->cfg);
    *m->cfg = fresh;
    lt_log_set_level((enum lt_log_level)m->cfg->log_level);
    if (make_slots(m) < 0) {
        m->nslots = 0;
        lt_log_error("config_reload_failed", NULL, "out of memory");
        return;
    }
    lt_log_info("config_reloaded",
                json_pack("{si si}", "processes", m->nslots, "retiring", m->nretiring),
                "configuration reloaded; replacing worker children");
    for (int i = 0; i < m->nslots && !m->in_child; i++) {
        spawn(m, i);
    }
}

static int64_t next_wait_ms(const struct master *m)
{
    int64_t now = lt_mono_ms(), wait = -1;
    if (m->stopping) {
        return m->killed ? -1 : (m->kill_at > now ? m->kill_at - now : 0);
    }
    for (int i = 0; i < m->nslots; i++) {
        if (m->slots[i].pid == 0) {
            int64_t w = m->slots[i].restart_at > now ? m->slots[i].restart_at - now : 0;
            wait = wait < 0 || w < wait ? w : wait;
        }
    }
    return wait;
}

static void begin_stop(struct master *m)
{
    m->stopping = 1;
    m->kill_at = lt_mono_ms() + (int64_t)m->cfg->worker_drain_s * 1000 + STOP_GRACE_MS;
    lt_log_info("worker_master_stopping", json_pack("{si}", "children", children_left(m)),
                "stopping: children drain");
    signal_all(m, SIGTERM);
}

int lt_wrk_master_run(struct lt_cfg *cfg)
{
    struct master m;
    int rc = 1;

    memset(&m, 0, sizeof(m));
    m.cfg = cfg;
    if (lt_wrk_sig_init(LT_WRK_SIG_TERM | LT_WRK_SIG_HUP | LT_WRK_SIG_CHLD) < 0 ||
        make_slots(&m) < 0) {
        goto out;
    }
    lt_log_info("worker_master_started", json_pack("{si}", "processes", m.nslots),
                "worker master started");
    for (int i = 0; i < m.nslots && !m.in_child; i++) {
        spawn(&m, i);
    }
    while (!m.in_child) {
        struct pollfd pfd = {.fd = lt_wrk_sig_fd(), .events = POLLIN, .revents = 0};
        int64_t wait = next_wait_ms(&m);
        if (poll(&pfd, 1, wait < 0 ? -1 : (wait > 60000 ? 60000 : (int)wait)) < 0 &&
            errno != EINTR) {
            lt_log_error("worker_master_poll_failed", NULL, "poll: %s", strerror(errno));
            signal_all(&m, SIGTERM);
            goto out;
        }
        int flags = lt_wrk_sig_take();
        reap(&m);
        if ((flags & LT_WRK_SIG_TERM) && !m.stopping) {
            begin_stop(&m);
        }
        if ((flags & LT_WRK_SIG_HUP) && !m.stopping) {
            reload(&m);
            continue;
        }
        if (m.stopping) {
            if (children_left(&m) == 0) {
                break;
            }
            if (!m.killed && lt_mono_ms() >= m.kill_at) {
                lt_log_error("worker_master_kill", json_pack("{si}", "children", children_left(&m)),
                             "children did not drain in time; killing them");
                signal_all(&m, SIGKILL);
                m.killed = 1;
            }
            continue;
        }
        int64_t now = lt_mono_ms();
        for (int i = 0; i < m.nslots && !m.in_child; i++) {
            if (m.slots[i].pid == 0 && m.slots[i].restart_at <= now) {
                spawn(&m, i);
            }
        }
    }
    if (m.in_child) {
        /* The child keeps nothing of the master but the configuration. */
        free(m.slots);
        free(m.retiring);
        m.slots = NULL;
        m.retiring = NULL;
        return lt_wrk_child_run(cfg);
    }
    lt_log_info("worker_master_stopped", NULL, "all worker children stopped");
    rc = 0;
out:
    free(m.slots);
    free(m.retiring);
    lt_wrk_sig_close();
    return rc;
}
