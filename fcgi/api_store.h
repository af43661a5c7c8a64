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

#include "api_query.h"
#include "api_validate.h"
#include "cfg.h"

#define LT_API_ETA_CACHE_MS 10000 /* per-type average durations are reused this long */

enum lt_api_store_rc {
    LT_API_STORE_OK = 0,
    LT_API_STORE_NOT_FOUND = 1, /* no such task for this tenant */
    LT_API_STORE_CONFLICT = 2,  /* the task's status forbids the change */
    LT_API_STORE_ERROR = -1,    /* unexpected database error (500) */
    LT_API_STORE_DOWN = -2,     /* no database (503) */
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

/* Inserts the task, its `created` event and the queue's NOTIFY in one transaction. */
enum lt_api_store_rc lt_api_store_create(const struct lt_cfg *cfg, const char *tenant,
                                         const char *id, const struct lt_api_task_spec *spec,
                                         struct lt_api_task_view *out);

enum lt_api_store_rc lt_api_store_get(const struct lt_cfg *cfg, const char *tenant, const char *id,
                                      struct lt_api_task_view *out);

/* Cancels: *requested = 0 when cancelled at once, 1 when a running task was asked to
 * stop. CONFLICT when the task is already terminal. */
enum lt_api_store_rc lt_api_store_cancel(const struct lt_cfg *cfg, const char *tenant,
                                         const char *id, struct lt_api_task_view *out,
                                         int *requested);

/* Puts a failed or cancelled task back to pending. CONFLICT otherwise. */
enum lt_api_store_rc lt_api_store_retry(const struct lt_cfg *cfg, const char *tenant,
                                        const char *id, struct lt_api_task_view *out);

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
