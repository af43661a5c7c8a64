/*
 * exec_proc.h -- the process of an exec task: started in a process group of its own
 * with exactly the configured argv, environment, working directory and limits, its
 * stdin/stdout/stderr on pipes the event loop watches, and its exit seen through a
 * pidfd (no SIGCHLD handler, which would be process-wide state the worker's other
 * children of the same program do not want).
 *
 * The leader is reaped only after the rest of its group has been killed: while it is
 * an unreaped zombie its pid cannot be reused, so signalling the group id can never
 * hit an unrelated process. When the task is over early (cancel, timeout, drain, a
 * protocol error), lt_wrk_proc_kill() takes the process over: SIGTERM to the group,
 * SIGKILL after the grace period, reaped from the loop; the task is free at once. At
 * exit every process still held is killed and reaped (an atexit backstop), so a worker
 * child never leaves a task's processes behind.
 */
#ifndef LT_WRK_EXEC_PROC_H
#define LT_WRK_EXEC_PROC_H

#include <stddef.h>
#include <sys/types.h>

#include "cfg.h"
#include "loop.h"

struct lt_wrk_proc {
    pid_t pid; /* also the process group id */
    int pidfd; /* readable once the leader exits; -1 when the kernel has no pidfds */
    int in_fd; /* our ends: non-blocking, close-on-exec; -1 once closed */
    int out_fd;
    int err_fd;
};

/* How the leader ended. */
struct lt_wrk_proc_status {
    int exited; /* 1: exit code in code; 0: killed by signal sig */
    int code;
    int sig;
};

/* Starts e's command. 0 ok; -1 with a reason in why, *retryable set when the failure
 * is the machine's (out of descriptors or processes) rather than the configuration's. */
int lt_wrk_proc_spawn(const struct lt_exec_cfg *e, struct lt_wrk_proc *p, char *why, size_t whylen,
                      int *retryable);

/* Has the leader exited? 1 yes (st filled; the leader stays a zombie), 0 not yet. */
int lt_wrk_proc_exited(const struct lt_wrk_proc *p, struct lt_wrk_proc_status *st);

/* For a leader that has exited: kills what is left of its group, reaps the leader and
 * closes every descriptor. */
void lt_wrk_proc_finish(lt_wrk_loop_t *loop, struct lt_wrk_proc *p);

/* Takes the process over (p is cleared): its pipes are closed now, the group gets
 * SIGTERM, then SIGKILL after grace_ms unless the leader is gone first; it is reaped
 * from loop. Never blocks. */
void lt_wrk_proc_kill(lt_wrk_loop_t *loop, struct lt_wrk_proc *p, int grace_ms);

/* Processes taken over by lt_wrk_proc_kill and not yet reaped. */
int lt_wrk_proc_lingering(void);

/* SIGKILLs and reaps every process still taken over, without the loop (which may be
 * gone): for exit, and for tests. */
void lt_wrk_proc_reap_all(void);

/* A short human text for a status ("exit status 3", "killed by signal 9 (Killed)"). */
void lt_wrk_proc_describe(const struct lt_wrk_proc_status *st, char *buf, size_t len);

#endif
