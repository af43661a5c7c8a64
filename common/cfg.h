/*
 * cfg.h -- the one configuration file shared by longtask-api, longtask-worker and
 * longtask-reaper (libconfig syntax; deploy/longtask.conf.example documents every
 * setting and its default).
 *
 * lt_cfg_load() reads the file, applies the environment overrides
 * (LONGTASK_DATABASE_URL, LONGTASK_JWT_SECRET, LONGTASK_LLM_BASE_URL,
 * LONGTASK_LLM_API_KEY), checks every setting's type and range, refuses unknown
 * settings (a typo must not silently fall back to a default), and fills a struct lt_cfg
 * the caller owns and frees with lt_cfg_free(). On failure the message names the file,
 * the line and the setting. Nothing else in the programs reads the file or the
 * environment for configuration.
 */
#ifndef LT_CFG_H
#define LT_CFG_H

#include <stddef.h>

#include "err.h"

#define LT_NAME_MAX 64 /* buffer size for type and queue names */
/* Longest type or queue name: "lt_q_" + a queue name must fit PostgreSQL's 63-byte
 * channel names. */
#define LT_NAME_LEN 58
#define LT_MAX_QUEUES 32

struct lt_type_cfg {
    char name[LT_NAME_MAX];
    char queue[LT_NAME_MAX];
    int priority;         /* default priority, 0..3 */
    int max_retries;      /* retries after the first attempt */
    int timeout_s;        /* default per-attempt timeout */
    int backoff_base_ms;  /* first retry's jitter ceiling */
    int backoff_max_ms;   /* cap of the ceiling */
    int cost;             /* quota units */
};

struct lt_cfg {
    char *path;

    /* database */
    char *database_url;
    int db_connect_timeout_s;
    int db_statement_timeout_ms;

    /* api */
    char *api_socket;
    int api_socket_mode;
    int api_processes;
    int api_backlog;
    int api_max_requests;   /* a process exits and is replaced after this many */
    long api_max_body_bytes;
    int api_max_json_depth;
    int api_max_wait_s;

    /* auth */
    char *jwt_secret;       /* from LONGTASK_JWT_SECRET or auth.jwt_secret_file */
    char *jwt_algorithm;    /* "HS256" */
    int jwt_leeway_s;

    /* worker */
    int worker_processes;   /* 0 in the file means the number of cores */
    int worker_concurrency;
    char *worker_queues[LT_MAX_QUEUES];
    int worker_nqueues;
    int worker_poll_ms;
    int worker_lease_s;
    int worker_heartbeat_s; /* 0 in the file means lease/3 */
    int worker_drain_s;
    int worker_claim_batch;
    int worker_restart_min_ms;
    int worker_restart_max_ms;

    /* reaper */
    int reaper_batch_size;
    int reaper_time_box_s;
    int reaper_worker_dead_s;
    char *reaper_metrics_file; /* "" = none */

    /* retention (seconds after completed_at) */
    int retention_completed_s;
    int retention_failed_s;
    int retention_cancelled_s;

    /* llm (later issues extend this; the overrides are read now) */
    char *llm_base_url;
    char *llm_api_key;

    /* log */
    int log_level;

    /* types: the built-in noop and sleep always exist; the file may override them */
    struct lt_type_cfg *types;
    int ntypes;
};

/* Loads path (NULL: defaults only, overrides still applied). Returns 0 or -1 + err. */
int lt_cfg_load(struct lt_cfg *cfg, const char *path, struct lt_err *err);
void lt_cfg_free(struct lt_cfg *cfg);

/* The type's configuration, or NULL when the type is unknown. Borrowed. */
const struct lt_type_cfg *lt_cfg_type(const struct lt_cfg *cfg, const char *name);

/* 1 when s is a valid type or queue name. */
int lt_cfg_name_ok(const char *s);

/* The path given by -c, else LONGTASK_CONFIG, else NULL (defaults). */
const char *lt_cfg_default_path(const char *given);

#endif
