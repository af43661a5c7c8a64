/*
 * api_inflight.h -- which API processes have a single create in flight right now, in one
 * page shared by all of them.
 *
 * Why: a create's wake-up NOTIFY can go inside the create's own transaction or in a
 * transaction of its own right after it (api_create.c). Inside, the idle workers are
 * signalled at the commit itself, before the answer travels back through the API and
 * nginx to compete with them for the CPU: about 0.3 ms sooner a pickup on an idle
 * service. But PostgreSQL holds one cluster-wide lock from a notifying transaction's
 * pre-commit through its commit record's flush, so notifying creates that overlap commit
 * one at a time. A create therefore notifies inside only when no other API process has a
 * create in flight. Batches are not marked: their wake-up is always a transaction of its
 * own, which a single create notifying inside delays by at most one flush.
 *
 * Each process owns one byte, set while its create runs. It is a hint and nothing more:
 * two creates that start together may both see the other idle (the later one then waits
 * for one flush), a byte shared by a retiring process and its successor after a reload
 * may read wrong either way, and a byte left set by a process that died is cleared when
 * its slot's next process starts. Every case costs at most a flush of latency, never a
 * task or a wake-up. Without the page (not set up, or no memory), every create takes the
 * separate wake-up. One difference remains between the two: a notification queue that is
 * full (8 GB, only behind a listening session stuck in a transaction) fails a create that
 * notifies inside it, where the separate wake-up would fail alone and be logged.
 */
#ifndef LT_API_INFLIGHT_H
#define LT_API_INFLIGHT_H

#define LT_API_INFLIGHT_SLOTS 256 /* api.processes' maximum */

/* The pool's parent, once, before it forks: maps the page. 0, or -1 (logged). */
int lt_api_inflight_init(void);

/* A child, at its start: its byte is slot's (modulo the slots), cleared. */
void lt_api_inflight_set_slot(int slot);

/* Marks this process's create in flight. Returns 1 when no other process has one (the
 * create may notify inside its transaction), else 0 (also without the page). */
int lt_api_inflight_enter(void);

/* This process's create is over. */
void lt_api_inflight_leave(void);

#endif
