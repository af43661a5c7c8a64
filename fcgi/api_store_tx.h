/*
 * api_store_tx.h -- the store's connection and transaction helpers, shared by the files
 * that hold its statements (api_store.c, api_create.c). Internal to the store: handlers
 * use api_store.h.
 */
#ifndef LT_API_STORE_TX_H
#define LT_API_STORE_TX_H

#include <libpq-fe.h>

#include "api_store.h"

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
