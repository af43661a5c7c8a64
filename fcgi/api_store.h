/*
 * api_store.h -- every SQL statement longtask-api runs, and the process's one
 * database connection.
 *
 * Each FastCGI child owns one connection, opened lazily on the first request that
 * needs it (the parent never connects, so no connection crosses a fork). When a
 * statement fails because the link is gone, the connection is dropped and the call
 * answers LT_API_STORE_DOWN (the handler answers 503); the next request connects
 * afresh. Any other failure is LT_API_STORE_ERROR (500, logged by common/db.c).
 *
 * Task bodies come from the SQL function lt_task_json() as text and are passed through
 * untouched apart from the two fields the API adds for single-task reads
 * (queue_position, eta_s), so results and payloads of any size or shape survive
 * byte for byte.
 */
#ifndef LT_API_STORE_H
#define LT_API_STORE_H

#include <libpq-fe.h>

#include "api_charge.h"
#include "api_query.h"
#include "api_validate.h"
#include "cfg.h"
#include "uuid.h"

#define LT_API_ETA_CACHE_MS 10000 /* per-type average durations are reused this long */
#define LT_API_ETA_SAMPLE 100     /* eta_s averages the type's latest completions, this many */
/* queue_position is counted no further than this: a task with more ready tasks ahead
 * shows this number, read "at least". Keeps every create and poll O(1) in the depth. */
#define LT_API_QUEUE_POSITION_MAX 100

enum lt_api_store_rc {
    LT_API_STORE_OK = 0,
    LT_API_STORE_NOT_FOUND = 1,  /* no such task for this tenant */
    LT_API_STORE_CONFLICT = 2,   /* the task's status forbids the change */
    LT_API_STORE_REPLAYED = 3,   /* Idempotency-Key seen with this body: the original task */
    LT_API_STORE_KEY_REUSED = 4, /* Idempotency-Key seen with another body (422) */
    LT_API_STORE_IN_FLIGHT = 5,  /* Idempotency-Key held by a request still running (409) */
    LT_API_STORE_QUOTA = 6,      /* the unit budget cannot pay (429) */
    LT_API_STORE_ACTIVE = 7,     /* the active-task limit is reached (429) */
    LT_API_STORE_AGAIN = 8,      /* internal: roll back, run the transaction again (slow) */
    LT_API_STORE_ERROR = -1,     /* unexpected database error (500) */
    LT_API_STORE_DOWN = -2,      /* no database (503) */
};

/* A task as a single-task endpoint shows it. */
struct lt_api_task_view {
    char *json; /* malloc'd task object with queue_position and eta_s */
    char status[16];
    int version;
};

void lt_api_task_view_free(struct lt_api_task_view *v);

/* Closes the connection (child exit). */
void lt_api_store_close(void);

/* Ready when the database answers; *version is its schema version. */
enum lt_api_store_rc lt_api_store_schema(const struct lt_cfg *cfg, int *version);

/* What a create asks for (borrowed). */
struct lt_api_create_in {
    const struct lt_api_task_spec *spec;
    long cost;
    const struct lt_api_task_spec *fallback; /* NULL: no degrade possible or allowed */
    long fallback_cost;
    const char *idem_key;  /* scoped key (api_idem.h), NULL when none */
    const char *idem_hash; /* the body's fingerprint when idem_key is set */
};

/* The Idempotency-Key check, the active-task check, the units charge (the type's cost,
 * else the fallback's), the task and its `created` event, all or nothing (one statement
 * without a key while the quota shares allow, else one transaction); the queue's NOTIFY
 * once committed. OK (created; *degraded set when the fallback was used), REPLAYED (out is the
 * original task), KEY_REUSED, IN_FLIGHT, QUOTA, ACTIVE, or a failure. ch is filled
 * for the RateLimit headers and the 429 detail. */
enum lt_api_store_rc lt_api_store_create(const struct lt_cfg *cfg, const char *tenant,
                                         const char *id, const struct lt_api_create_in *in,
                                         struct lt_api_task_view *out, struct lt_api_charge *ch,
                                         int *degraded);

/* Creates n tasks (ids[i] for specs[i], costs summed) in one transaction, charged
 * together, all or nothing; one NOTIFY per distinct queue. body: {"tasks": [...]}
 * (malloc'd) in the order given. OK, QUOTA, ACTIVE or a failure. */
enum lt_api_store_rc lt_api_store_batch(const struct lt_cfg *cfg, const char *tenant, int n,
                                        char (*ids)[LT_UUID_STR_LEN],
                                        const struct lt_api_task_spec *specs, long cost,
                                        struct lt_api_charge *ch, char **body);

/* The tenant's limits, use and live-task count, read without side effects. */
enum lt_api_store_rc lt_api_store_quota(const struct lt_cfg *cfg, const char *tenant,
                                        struct lt_api_charge *ch);

enum lt_api_store_rc lt_api_store_get(const struct lt_cfg *cfg, const char *tenant, const char *id,
                                      struct lt_api_task_view *out);

/* The task's status and version only (its ETag), one primary-key lookup: what a
 * conditional GET needs to answer 304. OK or NOT_FOUND, or a failure. */
enum lt_api_store_rc lt_api_store_etag(const struct lt_cfg *cfg, const char *tenant, const char *id,
                                       char status[16], int *version);

/* Cancels: *requested = 0 when cancelled at once, 1 when a running task was asked to
 * stop. CONFLICT when the task is already terminal. */
enum lt_api_store_rc lt_api_store_cancel(const struct lt_cfg *cfg, const char *tenant,
                                         const char *id, struct lt_api_task_view *out,
                                         int *requested);

/* Puts a failed or cancelled task back to pending, charging its cost again (QUOTA or
 * ACTIVE when the tenant cannot take it; ch filled). CONFLICT when not retryable. */
enum lt_api_store_rc lt_api_store_retry(const struct lt_cfg *cfg, const char *tenant,
                                        const char *id, struct lt_api_task_view *out,
                                        struct lt_api_charge *ch);

/* The list response body {"tasks": [...], "next_cursor": ...} (malloc'd).
 * tenant NULL: every tenant (admin). */
enum lt_api_store_rc lt_api_store_list(const struct lt_cfg *cfg, const char *tenant,
                                       const struct lt_api_list_query *q, char **body);

/* The events response body {"events": [...]} (malloc'd). */
enum lt_api_store_rc lt_api_store_events(const struct lt_cfg *cfg, const char *tenant,
                                         const char *id, char **body);

/* The stats response body (malloc'd). tenant NULL: every tenant (admin). */
enum lt_api_store_rc lt_api_store_stats(const struct lt_cfg *cfg, const char *tenant, char **body);

#endif
