/*
 * sig.h -- signals for the worker master and its children, the self-pipe way: the
 * handlers only set a flag and write one byte to a non-blocking pipe whose read end the
 * process's loop watches, so a signal wakes poll() and the loop acts on it outside the
 * handler. Each process (the master, then each child after fork) calls lt_wrk_sig_init
 * with the signals it wants; a child's call closes the pipe it inherited and makes its
 * own, so a signal to one process never wakes another.
 */
#ifndef LT_WRK_SIG_H
#define LT_WRK_SIG_H

/* Flags a process can ask for. */
#define LT_WRK_SIG_TERM 1 /* SIGTERM and SIGINT */
#define LT_WRK_SIG_HUP 2
#define LT_WRK_SIG_CHLD 4

/* Installs handlers for the flags in want (others get their default action, SIGHUP is
 * ignored when not wanted, SIGPIPE always ignored) and makes a fresh self-pipe.
 * 0 ok, -1 error (logged). */
int lt_wrk_sig_init(int want);

/* The read end of the self-pipe, for the loop to watch. */
int lt_wrk_sig_fd(void);

/* Empties the pipe and returns the flags raised since the last call (and clears them). */
int lt_wrk_sig_take(void);

/* Closes the pipe (at exit, and in a child before it makes its own). */
void lt_wrk_sig_close(void);

#endif
