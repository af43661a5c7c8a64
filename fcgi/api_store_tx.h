/*
 * api_store_tx.h -- the store's connection and transaction helpers, shared by the files
 * that hold its statements (api_store.c, api_create.c). Internal to the store: handlers
 * use api_store.h.
 */
#ifndef LT_API_STORE_TX_H
#define LT_API_STORE_TX_H

#include <libpq-fe.h>

#include "api_store.h"

/* queue_position: the ready tasks the claim would take before the task whose queue,
 * priority, run_at and id are the SQL expressions Q, P, R, I -- counted no further than
 * LT_API_QUEUE_POSITION_MAX (api_store.h), so a poll costs O(min(position, that)), never
 * O(queue depth). Each branch is one range of tasks_claim_idx (queue, priority, run_at
 * <= now(), and for the task's own priority (run_at, id) before its own), higher
 * priorities first; a branch for a priority not above P is switched off by its constant
 * test. Every branch is ordered as the index and limited, so its cheapest plan is a walk
 * of the index that stops at the cap whatever the statistics say (a bitmap scan, which
 * the planner otherwise picks for a generic plan, reads every matching entry), and the
 * outer LIMIT stops the Append as soon as the cap is reached. */
#define LT_API_SQL_READY(Q)                                                                        \
    "(SELECT 1 FROM tasks a WHERE a.queue = " Q " AND a.status IN ('pending', 'retry')"
#define LT_API_SQL_READY_END                                                                       \
    " ORDER BY a.run_at, a.id LIMIT " LT_API_STR(LT_API_QUEUE_POSITION_MAX) ")"
#define LT_API_SQL_QUEUE_POSITION(Q, P, R, I)                                                      \
    "(SELECT count(*) FROM (\n"                                                                    \
    "   " LT_API_SQL_READY(                                                                        \
        Q) " AND " P " < 3 AND a.priority = 3 AND a.run_at <= now()" LT_API_SQL_READY_END "\n"     \
           "   UNION ALL\n"                                                                        \
           "   " LT_API_SQL_READY(                                                                 \
               Q) " AND " P " < 2 AND a.priority = 2 AND a.run_at <= now()" LT_API_SQL_READY_END   \
                  "\n"                                                                             \
                  "   UNION ALL\n"                                                                 \
                  "   " LT_API_SQL_READY(                                                          \
                      Q) " AND " P                                                                 \
                         " < 1 AND a.priority = 1 AND a.run_at <= now()" LT_API_SQL_READY_END "\n" \
                         "   UNION ALL\n"                                                          \
                         "   " LT_API_SQL_READY(                                                   \
                             Q) " AND a.priority = " P " AND a.run_at <= now()\n"                  \
                                "      AND (a.run_at, a.id) < (" R ", " I ")" LT_API_SQL_READY_END \
                                "\n"                                                               \
                                "   LIMIT " LT_API_STR(LT_API_QUEUE_POSITION_MAX) ") ahead)"
#define LT_API_STR_(x) #x
#define LT_API_STR(x) LT_API_STR_(x)

/* The columns a single-task view is built from, in this order: lt_task_json text,
 * status, version, type, progress, queue_position (NULL when not waiting), seconds
 * until run_at, seconds since started_at. */
enum lt_api_view_col {
    LT_API_VIEW_JSON = 0,
    LT_API_VIEW_STATUS,
    LT_API_VIEW_VERSION,
    LT_API_VIEW_TYPE,
    LT_API_VIEW_PROGRESS,
    LT_API_VIEW_POSITION,
    LT_API_VIEW_WAIT_S,
    LT_API_VIEW_ELAPSED_S,
};

/* Builds out from row 0 of res (columns as above): the object with queue_position and
 * eta_s added. OK, or a failure. */
enum lt_api_store_rc lt_api_store_view_from(PGresult *res, struct lt_api_task_view *out);

/* The process's connection, opened when missing; NULL when the database is unreachable. */
PGconn *lt_api_store_conn(const struct lt_cfg *cfg);

/* Classifies the last failure (DOWN drops the connection, else ERROR). */
enum lt_api_store_rc lt_api_store_failed(void);

/* Commits when rc is OK, else rolls back and frees out; returns the final rc. */
enum lt_api_store_rc lt_api_store_finish(enum lt_api_store_rc rc, struct lt_api_task_view *out);

/* Reads the single-task view of id into out. */
enum lt_api_store_rc lt_api_store_read_view(const char *tenant, const char *id,
                                            struct lt_api_task_view *out);

#endif
