/*
 * reaper_loop.h -- `--loop SECONDS`: a run, then a wait, until SIGTERM or SIGINT.
 *
 * The signal handlers only write a byte to a self-pipe; the wait is a poll() on it, so
 * a stop request ends the wait at once and a run in progress finishes first (its
 * batches are short transactions). A failed run is logged and the next run reconnects.
 */
#ifndef LT_REAPER_LOOP_H
#define LT_REAPER_LOOP_H

#include "cfg.h"

/* Installs the stop handlers. 0 ok, -1 error (logged). Call before any run. */
int lt_rpr_loop_signals(void);

/* 1 once SIGTERM or SIGINT arrived. */
int lt_rpr_loop_stopping(void);

/* Runs every interval_s seconds until stopped. Returns 0 (a clean stop). */
int lt_rpr_loop(const struct lt_cfg *cfg, int interval_s);

#endif
