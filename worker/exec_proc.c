/*
 * exec_proc.c -- see exec_proc.h.
 *
 * Between fork and execve the child only makes system calls that are async-signal-safe
 * (setpgid, prctl, sigaction, fcntl, dup2, close_range/close, chdir, setrlimit,
 * sigprocmask, execve, write, _exit): the worker's allocator or logger may have been in
 * any state at the fork. Everything the child needs (argv, envp, limits) is prepared
 * before the fork. A failure before the exec is sent back on a close-on-exec status
 * pipe: end of file on it means the exec happened; a message means it did not, and why.
 * The parent reads that pipe at once, which waits only for those few system calls.
 *
 * Signals are blocked across the fork so that none of the worker's handlers (which
 * write to the worker's self-pipe) can run in the child before it restores the default
 * dispositions; the command starts with no signal blocked or ignored.
 */
#include "exec_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Without pidfds (kernels before 5.3) the exit is polled at this interval. */
#define EXIT_POLL_MS 50

enum stage { ST_SETPGID = 1, ST_FDS, ST_CHDIR, ST_RLIMIT, ST_EXEC };

struct child_msg {
    int stage;
    int err;
};

struct child_plan {
    const struct lt_exec_cfg *e;
    char *const *envp;
    int in_r, out_w, err_w, st_w;
    pid_t parent;
    int set_cpu, set_as;
    struct rlimit cpu, as;
    unsigned int max_fd; /* for the close() loop when close_range is missing */
};

static char *const empty_env[] = {NULL};

static _Noreturn void child_fail(int st_w, enum stage stage)
{
    struct child_msg m = {(int)stage, errno};
    ssize_t w = write(st_w, &m, sizeof(m));
    (void)w;
    _exit(127);
}

/* Closes every descriptor from lo up, keeping keep. */
static void close_from(unsigned int lo, int keep, unsigned int max_fd)
{
#ifdef SYS_close_range
    if (keep > (int)lo) {
        if (syscall(SYS_close_range, lo, (unsigned int)keep - 1, 0) < 0) {
            goto loop;
        }
    }
    if (syscall(SYS_close_range, (unsigned int)keep + 1, ~0U, 0) == 0) {
        return;
    }
loop:
#endif
    for (unsigned int fd = lo; fd < max_fd; fd++) {
        if ((int)fd != keep) {
            close((int)fd);
        }
    }
}

static _Noreturn void child_exec(const struct child_plan *pl)
{
    int st = pl->st_w;
    sigset_t none;

    if (setpgid(0, 0) < 0) {
        child_fail(st, ST_SETPGID);
    }
    /* If the worker child dies without killing us, the kernel does (the leader only;
     * the worker's exit path kills the group). The check closes the race with a parent
     * that died before the prctl. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != pl->parent) {
        _exit(127);
    }
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_DFL;
        sigaction(sig, &sa, NULL); /* EINVAL for SIGKILL, SIGSTOP and reserved ones */
    }
    /* Lift every descriptor above 2 first, so no dup2 below overwrites a source. */
    int in = fcntl(pl->in_r, F_DUPFD, 3), out = fcntl(pl->out_w, F_DUPFD, 3),
        err = fcntl(pl->err_w, F_DUPFD, 3);
    st = fcntl(pl->st_w, F_DUPFD_CLOEXEC, 3);
    if (st < 0) {
        st = pl->st_w;
        child_fail(st, ST_FDS);
    }
    if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) {
        child_fail(st, ST_FDS);
    }
    close_from(3, st, pl->max_fd);
    if (chdir(pl->e->workdir != NULL ? pl->e->workdir : "/") < 0) {
        child_fail(st, ST_CHDIR);
    }
    if ((pl->set_cpu && setrlimit(RLIMIT_CPU, &pl->cpu) < 0) ||
        (pl->set_as && setrlimit(RLIMIT_AS, &pl->as) < 0)) {
        child_fail(st, ST_RLIMIT);
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(pl->e->argv[0], pl->e->argv, pl->envp);
    child_fail(st, ST_EXEC);
}

/* A limit of want (soft), never above the current hard limit (which only root may
 * raise); the hard limit a little above for CPU so the process sees SIGXCPU first. */
static void plan_limit(int resource, rlim_t want, rlim_t hard_extra, struct rlimit *out)
{
    struct rlimit cur;
    if (getrlimit(resource, &cur) < 0) {
        cur.rlim_max = RLIM_INFINITY;
    }
    out->rlim_cur = want;
    out->rlim_max = want + hard_extra;
    if (cur.rlim_max != RLIM_INFINITY) {
        if (out->rlim_max > cur.rlim_max) {
            out->rlim_max = cur.rlim_max;
        }
        if (out->rlim_cur > cur.rlim_max) {
            out->rlim_cur = cur.rlim_max;
        }
    }
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static const char *stage_text(int stage)
{
    switch (stage) {
    case ST_SETPGID:
        return "start a process group";
    case ST_FDS:
        return "set up the standard descriptors";
    case ST_CHDIR:
        return "change to the working directory";
    case ST_RLIMIT:
        return "set the resource limits";
    default:
        return "execute the command";
    }
}

int lt_wrk_proc_spawn(const struct lt_exec_cfg *e, struct lt_wrk_proc *p, char *why, size_t whylen,
                      int *retryable)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, st[2] = {-1, -1};
    struct child_plan pl;
    struct rlimit nofile;
    sigset_t all, old;

    p->pid = -1;
    p->pidfd = p->in_fd = p->out_fd = p->err_fd = -1;
    *retryable = 0;
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
        pipe2(st, O_CLOEXEC) < 0) {
        snprintf(why, whylen, "cannot create pipes: %s", strerror(errno));
        *retryable = 1;
        goto fail;
    }
    memset(&pl, 0, sizeof(pl));
    pl.e = e;
    pl.envp = e->env != NULL ? e->env : empty_env;
    pl.in_r = in[0];
    pl.out_w = out[1];
    pl.err_w = err[1];
    pl.st_w = st[1];
    pl.parent = getpid();
    pl.max_fd = getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY &&
                        nofile.rlim_cur < 1048576
                    ? (unsigned int)nofile.rlim_cur
                    : 65536;
    if (e->cpu_s > 0) {
        pl.set_cpu = 1;
        plan_limit(RLIMIT_CPU, (rlim_t)e->cpu_s, 1, &pl.cpu);
    }
    if (e->memory_mb > 0) {
        pl.set_as = 1;
        plan_limit(RLIMIT_AS, (rlim_t)e->memory_mb * 1024 * 1024, 0, &pl.as);
    }

    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid_t pid = fork();
    if (pid == 0) {
        child_exec(&pl);
    }
    int fork_errno = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        snprintf(why, whylen, "cannot fork: %s", strerror(fork_errno));
        *retryable = 1;
        goto fail;
    }
    /* Also here, so the group exists before we might signal it, whoever runs first;
     * EACCES once the child has exec'd is fine (it did it itself). */
    setpgid(pid, pid);
    close_fd(&in[0]);
    close_fd(&out[1]);
    close_fd(&err[1]);
    close_fd(&st[1]);

    struct child_msg m;
    ssize_t r;
    do {
        r = read(st[0], &m, sizeof(m));
    } while (r < 0 && errno == EINTR);
    close_fd(&st[0]);
    if (r == (ssize_t)sizeof(m)) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        snprintf(why, whylen, "cannot %s (%s): %s", stage_text(m.stage),
                 m.stage == ST_CHDIR ? (e->workdir != NULL ? e->workdir : "/") : e->argv[0],
                 strerror(m.err));
        *retryable = m.err == EAGAIN || m.err == ENOMEM || m.err == EMFILE || m.err == ENFILE;
        goto fail;
    }

    p->pid = pid;
#ifdef SYS_pidfd_open
    p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0); /* always close-on-exec */
#endif
    p->in_fd = in[1];
    p->out_fd = out[0];
    p->err_fd = err[0];
    fcntl(p->in_fd, F_SETFL, fcntl(p->in_fd, F_GETFL) | O_NONBLOCK);
    fcntl(p->out_fd, F_SETFL, fcntl(p->out_fd, F_GETFL) | O_NONBLOCK);
    fcntl(p->err_fd, F_SETFL, fcntl(p->err_fd, F_GETFL) | O_NONBLOCK);
    return 0;

fail:
    for (int i = 0; i < 2; i++) {
        close_fd(&in[i]);
        close_fd(&out[i]);
        close_fd(&err[i]);
        close_fd(&st[i]);
    }
    return -1;
}

int lt_wrk_proc_exited(const struct lt_wrk_proc *p, struct lt_wrk_proc_status *st)
{
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    memset(st, 0, sizeof(*st));
    if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
        /* Only ECHILD (reaped by someone else): report it as gone. */
        st->exited = 0;
        st->sig = SIGKILL;
        return 1;
    }
    if (si.si_pid == 0) {
        return 0;
    }
    if (si.si_code == CLD_EXITED) {
        st->exited = 1;
        st->code = si.si_status;
    } else {
        st->sig = si.si_status;
    }
    return 1;
}

static void reap(pid_t pid, int block)
{
    int status;
    while (waitpid(pid, &status, block ? 0 : WNOHANG) < 0 && errno == EINTR) {
    }
}

static void close_watched(lt_wrk_loop_t *loop, int *fd)
{
    if (*fd >= 0) {
        if (loop != NULL) {
            lt_wrk_loop_unwatch(loop, *fd);
        }
        close_fd(fd);
    }
}

void lt_wrk_proc_finish(lt_wrk_loop_t *loop, struct lt_wrk_proc *p)
{
    if (p->pid > 0) {
        kill(-p->pid, SIGKILL); /* what the leader left running */
        reap(p->pid, 1);        /* a zombie already: no wait */
        p->pid = -1;
    }
    close_watched(loop, &p->in_fd);
    close_watched(loop, &p->out_fd);
    close_watched(loop, &p->err_fd);
    close_watched(loop, &p->pidfd);
}

/* ---- processes taken over ---- */

struct taken {
    pid_t pid;
    int pidfd;
    uint64_t grace_timer, poll_timer;
    lt_wrk_loop_t *loop;
    struct taken *prev, *next;
};

static struct taken *lingering;
static int nlingering;
static int atexit_set;

static void linger_unlink(struct taken *l)
{
    if (l->prev != NULL) {
        l->prev->next = l->next;
    } else {
        lingering = l->next;
    }
    if (l->next != NULL) {
        l->next->prev = l->prev;
    }
    nlingering--;
}

/* The leader is gone: kill the rest of the group, reap, forget. */
static void linger_done(struct taken *l)
{
    kill(-l->pid, SIGKILL);
    reap(l->pid, 1);
    lt_wrk_loop_timer_cancel(l->loop, l->grace_timer);
    lt_wrk_loop_timer_cancel(l->loop, l->poll_timer);
    close_watched(l->loop, &l->pidfd);
    linger_unlink(l);
    free(l);
}

static int leader_gone(pid_t pid)
{
    struct lt_wrk_proc p = {.pid = pid};
    struct lt_wrk_proc_status st;
    return lt_wrk_proc_exited(&p, &st);
}

static void on_linger_exit(lt_wrk_loop_t *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)fd;
    (void)events;
    struct taken *l = arg;
    if (leader_gone(l->pid)) {
        linger_done(l);
    }
}

static void on_linger_poll(lt_wrk_loop_t *loop, void *arg)
{
    struct taken *l = arg;
    l->poll_timer = 0;
    if (leader_gone(l->pid)) {
        linger_done(l);
        return;
    }
    l->poll_timer = lt_wrk_loop_timer(loop, EXIT_POLL_MS, on_linger_poll, l);
}

static void on_linger_grace(lt_wrk_loop_t *loop, void *arg)
{
    (void)loop;
    struct taken *l = arg;
    l->grace_timer = 0;
    kill(-l->pid, SIGKILL);
}

void lt_wrk_proc_kill(lt_wrk_loop_t *loop, struct lt_wrk_proc *p, int grace_ms)
{
    close_watched(loop, &p->in_fd);
    close_watched(loop, &p->out_fd);
    close_watched(loop, &p->err_fd);
    if (p->pid <= 0) {
        close_watched(loop, &p->pidfd);
        return;
    }
    kill(-p->pid, grace_ms > 0 ? SIGTERM : SIGKILL);
    if (!atexit_set && atexit(lt_wrk_proc_reap_all) == 0) {
        atexit_set = 1;
    }
    struct taken *l = calloc(1, sizeof(*l));
    if (l == NULL || !atexit_set) {
        /* No way to wait in the background: end it now. */
        free(l);
        kill(-p->pid, SIGKILL);
        reap(p->pid, 1);
        close_watched(loop, &p->pidfd);
        p->pid = -1;
        return;
    }
    l->pid = p->pid;
    l->pidfd = p->pidfd;
    l->loop = loop;
    l->next = lingering;
    if (l->next != NULL) {
        l->next->prev = l;
    }
    lingering = l;
    nlingering++;
    p->pid = -1;
    p->pidfd = -1;
    if (grace_ms > 0) {
        l->grace_timer = lt_wrk_loop_timer(loop, grace_ms, on_linger_grace, l);
        if (l->grace_timer == 0) {
            kill(-l->pid, SIGKILL);
        }
    }
    if (l->pidfd < 0 || lt_wrk_loop_watch(loop, l->pidfd, LT_WRK_READ, on_linger_exit, l) < 0) {
        l->poll_timer = lt_wrk_loop_timer(loop, EXIT_POLL_MS, on_linger_poll, l);
    }
}

int lt_wrk_proc_lingering(void)
{
    return nlingering;
}

void lt_wrk_proc_reap_all(void)
{
    while (lingering != NULL) {
        struct taken *l = lingering;
        kill(-l->pid, SIGKILL);
        reap(l->pid, 1);
        close_fd(&l->pidfd); /* the loop is gone or will not run again */
        linger_unlink(l);
        free(l);
    }
}

void lt_wrk_proc_describe(const struct lt_wrk_proc_status *st, char *buf, size_t len)
{
    if (st->exited) {
        snprintf(buf, len, "exit status %d", st->code);
    } else {
        snprintf(buf, len, "killed by signal %d (%s)", st->sig, strsignal(st->sig));
    }
}
