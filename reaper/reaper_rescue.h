/*
 * reaper_rescue.h -- puts back tasks whose worker was lost.
 *
 * A running task whose lease_until has passed lost its worker (a live worker renews
 * the lease every heartbeat, however long the task itself runs). Per the contract:
 *   attempt <= max_retries  -> retry, run_at now(), event `rescued`;
 *   attempts spent          -> failed, completed_at, metadata.retry_exhausted, event
 *                              `failed`; error "worker lost (lease expired)" either way;
 *   cancel requested        -> cancelled (the client asked; nobody is left to run it).
 * Each batch is one statement, hence one transaction: the UPDATE, the event INSERT and
 * the NOTIFY of the queues that got work back (delivered at commit). A worker that comes back late
 * cannot undo this: its finishing UPDATE requires status running and its attempt.
 */
#ifndef LT_REAPER_RESCUE_H
#define LT_REAPER_RESCUE_H

#include <stdint.h>

#include <libpq-fe.h>

#include "reaper_summary.h"

/* Rescues in batches of batch_size until none is left or lt_mono_ms() passes
 * deadline_ms (then sets s->time_boxed). Adds to s. 0 ok, -1 error (logged). */
int lt_rpr_rescue(PGconn *conn, int batch_size, int64_t deadline_ms, struct lt_rpr_summary *s);

#endif
