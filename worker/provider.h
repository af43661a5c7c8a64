/*
 * provider.h -- what one worker child knows about each LLM provider between calls: how
 * many calls are in flight (the max_concurrent cap, with a FIFO of calls waiting for a
 * slot) and the circuit breaker (DESIGN.md, "Providers").
 *
 * The state is per child, as the configuration promises ("calls in flight at once, per
 * worker child"): a child is one process with one event loop, so the state is a plain
 * table keyed by provider name, created on first use, with no locking.
 *
 * Cap: lt_wrk_provider_acquire() either grants a slot at once or queues the caller's
 * waiter; lt_wrk_provider_release() hands a freed slot to the oldest waiter by calling
 * its ready() (synchronously, from inside release), so a slot is never idle while
 * someone waits. A waiter leaving early (cancel, timeout, drain) calls
 * lt_wrk_provider_unwait().
 *
 * Circuit: `circuit_failures` consecutive retryable failures open the circuit for
 * `circuit_cooldown_s`. While open, lt_wrk_provider_admit() refuses and says how long
 * is left. When the cool-down is over the next admitted call is the one trial
 * (half-open): its success closes the circuit, its failure opens it again for a full
 * cool-down; other calls are refused meanwhile. Transitions are logged as
 * llm_circuit_open / llm_circuit_closed.
 */
#ifndef LT_WRK_PROVIDER_H
#define LT_WRK_PROVIDER_H

#include <stdint.h>

#include "cfg.h"

/* A call waiting for a slot; embedded in the caller's state, which must outlive the
 * wait (or unwait first). */
struct lt_wrk_provider_waiter {
    void (*ready)(void *arg); /* the slot is now held by the waiter */
    void *arg;
    struct lt_wrk_provider_waiter *prev, *next;
    int queued;
};

enum lt_wrk_admit {
    LT_WRK_ADMIT_CLOSED = 0, /* go ahead */
    LT_WRK_ADMIT_TRIAL,      /* go ahead as the half-open trial: report its end */
    LT_WRK_ADMIT_OPEN,       /* refused: the circuit is open */
};

/* How a call ended, for the circuit. */
enum lt_wrk_call_end {
    LT_WRK_CALL_OK,        /* the provider answered (success or a permanent 4xx) */
    LT_WRK_CALL_FAILED,    /* a retryable failure */
    LT_WRK_CALL_ABANDONED, /* we stopped it (cancel, task timeout, drain): no verdict */
};

/* Asks the circuit of p whether a new call may go now (now_ms: lt_mono_ms()). On
 * LT_WRK_ADMIT_OPEN, *wait_ms is the time left before a call may be tried. */
enum lt_wrk_admit lt_wrk_provider_admit(const struct lt_provider_cfg *p, int64_t now_ms,
                                        int64_t *wait_ms);

/* Reports how an admitted call ended (trial: it was admitted as LT_WRK_ADMIT_TRIAL). */
void lt_wrk_provider_report(const struct lt_provider_cfg *p, int trial, enum lt_wrk_call_end end,
                            int64_t now_ms);

/* Takes a slot of p: 1 granted now, 0 queued (w->ready fires when granted), -1 out of
 * memory. */
int lt_wrk_provider_acquire(const struct lt_provider_cfg *p, struct lt_wrk_provider_waiter *w);

/* Gives a slot back; the oldest waiter, if any, gets it (its ready() runs now). */
void lt_wrk_provider_release(const struct lt_provider_cfg *p);

/* Takes a queued waiter out of the queue (no-op when it is not queued). */
void lt_wrk_provider_unwait(const struct lt_provider_cfg *p, struct lt_wrk_provider_waiter *w);

/* Calls in flight to p, and calls waiting for a slot (for tests and logs). */
int lt_wrk_provider_in_flight(const struct lt_provider_cfg *p);
int lt_wrk_provider_waiting(const struct lt_provider_cfg *p);

/* Forgets every provider's state (at a child's exit, and between unit tests). */
void lt_wrk_provider_reset(void);

#endif
