/*
 * provider.c -- see provider.h. A child talks to a handful of providers, so the table is
 * a small array searched by name; entries are never removed while the child runs (a
 * waiter may point into one), only all at once by lt_wrk_provider_reset().
 */
#include "provider.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

enum circuit { CIRCUIT_CLOSED, CIRCUIT_OPEN, CIRCUIT_HALF_OPEN };

struct pstate {
    char name[LT_NAME_MAX];
    int in_flight;
    int nwaiting;
    struct lt_wrk_provider_waiter *head, *tail;
    int failures; /* consecutive retryable failures */
    enum circuit circuit;
    int64_t open_until; /* lt_mono_ms(), CIRCUIT_OPEN */
    int trial_running;  /* CIRCUIT_HALF_OPEN: the one trial call is out */
};

static struct pstate **table;
static int ntable;

/* While a trial call is out, other calls are told to come back after this long. */
#define TRIAL_WAIT_MS 1000

static struct pstate *find(const struct lt_provider_cfg *p, int create)
{
    for (int i = 0; i < ntable; i++) {
        if (strcmp(table[i]->name, p->name) == 0) {
            return table[i];
        }
    }
    if (!create) {
        return NULL;
    }
    struct pstate **t = realloc(table, sizeof(*t) * (size_t)(ntable + 1));
    if (t == NULL) {
        return NULL;
    }
    table = t;
    struct pstate *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    memcpy(s->name, p->name, sizeof(s->name));
    table[ntable++] = s;
    return s;
}

enum lt_wrk_admit lt_wrk_provider_admit(const struct lt_provider_cfg *p, int64_t now_ms,
                                        int64_t *wait_ms)
{
    struct pstate *s = find(p, 1);
    *wait_ms = 0;
    if (s == NULL || s->circuit == CIRCUIT_CLOSED) {
        return LT_WRK_ADMIT_CLOSED; /* no memory for state: no breaker, not no calls */
    }
    if (s->circuit == CIRCUIT_OPEN && now_ms < s->open_until) {
        *wait_ms = s->open_until - now_ms;
        return LT_WRK_ADMIT_OPEN;
    }
    if (s->circuit == CIRCUIT_HALF_OPEN && s->trial_running) {
        *wait_ms = TRIAL_WAIT_MS;
        return LT_WRK_ADMIT_OPEN;
    }
    s->circuit = CIRCUIT_HALF_OPEN;
    s->trial_running = 1;
    return LT_WRK_ADMIT_TRIAL;
}

static void open_circuit(const struct lt_provider_cfg *p, struct pstate *s, int64_t now_ms,
                         int trial)
{
    s->circuit = CIRCUIT_OPEN;
    s->open_until = now_ms + (int64_t)p->circuit_cooldown_s * 1000;
    s->trial_running = 0;
    lt_log_warn("llm_circuit_open",
                json_pack("{ss si si sb}", "provider", p->name, "failures", s->failures,
                          "cooldown_s", p->circuit_cooldown_s, "trial", trial),
                "provider %s circuit open for %d s after %d consecutive failures", p->name,
                p->circuit_cooldown_s, s->failures);
}

void lt_wrk_provider_report(const struct lt_provider_cfg *p, int trial, enum lt_wrk_call_end end,
                            int64_t now_ms)
{
    struct pstate *s = find(p, 0);
    if (s == NULL) {
        return;
    }
    if (end == LT_WRK_CALL_ABANDONED) {
        if (trial && s->circuit == CIRCUIT_HALF_OPEN) {
            s->trial_running = 0; /* no verdict: the next call is the trial */
        }
        return;
    }
    if (end == LT_WRK_CALL_OK) {
        s->failures = 0;
        if (s->circuit != CIRCUIT_CLOSED && (trial || s->circuit == CIRCUIT_HALF_OPEN)) {
            s->circuit = CIRCUIT_CLOSED;
            s->trial_running = 0;
            lt_log_info("llm_circuit_closed", json_pack("{ss}", "provider", p->name),
                        "provider %s circuit closed: the trial call succeeded", p->name);
        }
        return;
    }
    s->failures++;
    if (trial && s->circuit == CIRCUIT_HALF_OPEN) {
        open_circuit(p, s, now_ms, 1);
    } else if (s->circuit == CIRCUIT_CLOSED && s->failures >= p->circuit_failures) {
        open_circuit(p, s, now_ms, 0);
    }
}

int lt_wrk_provider_acquire(const struct lt_provider_cfg *p, struct lt_wrk_provider_waiter *w)
{
    struct pstate *s = find(p, 1);
    if (s == NULL) {
        return -1;
    }
    if (s->in_flight < p->max_concurrent && s->head == NULL) {
        s->in_flight++;
        return 1;
    }
    w->next = NULL;
    w->prev = s->tail;
    if (s->tail != NULL) {
        s->tail->next = w;
    } else {
        s->head = w;
    }
    s->tail = w;
    w->queued = 1;
    s->nwaiting++;
    return 0;
}

static void unlink_waiter(struct pstate *s, struct lt_wrk_provider_waiter *w)
{
    if (w->prev != NULL) {
        w->prev->next = w->next;
    } else {
        s->head = w->next;
    }
    if (w->next != NULL) {
        w->next->prev = w->prev;
    } else {
        s->tail = w->prev;
    }
    w->prev = w->next = NULL;
    w->queued = 0;
    s->nwaiting--;
}

void lt_wrk_provider_release(const struct lt_provider_cfg *p)
{
    struct pstate *s = find(p, 0);
    if (s == NULL || s->in_flight <= 0) {
        return;
    }
    s->in_flight--;
    /* Hand slots on while there are some: a waiter whose ready() fails at once gives its
     * slot back through a nested release, which continues the hand-over itself. */
    if (s->head != NULL && s->in_flight < p->max_concurrent) {
        struct lt_wrk_provider_waiter *w = s->head;
        unlink_waiter(s, w);
        s->in_flight++;
        w->ready(w->arg);
    }
}

void lt_wrk_provider_unwait(const struct lt_provider_cfg *p, struct lt_wrk_provider_waiter *w)
{
    struct pstate *s = find(p, 0);
    if (s != NULL && w->queued) {
        unlink_waiter(s, w);
    }
}

int lt_wrk_provider_in_flight(const struct lt_provider_cfg *p)
{
    struct pstate *s = find(p, 0);
    return s != NULL ? s->in_flight : 0;
}

int lt_wrk_provider_waiting(const struct lt_provider_cfg *p)
{
    struct pstate *s = find(p, 0);
    return s != NULL ? s->nwaiting : 0;
}

void lt_wrk_provider_reset(void)
{
    for (int i = 0; i < ntable; i++) {
        free(table[i]);
    }
    free(table);
    table = NULL;
    ntable = 0;
}
