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

/* What runs a type's tasks. Built-in type names use their own handler; a configured
 * type names one (an exec command, or e.g. llm.chat under its own name, queue and cost). */
enum lt_handler_kind {
    LT_HANDLER_NOOP = 0,
    LT_HANDLER_SLEEP,
    LT_HANDLER_LLM_CHAT,
    LT_HANDLER_HTTP_REQUEST,
    LT_HANDLER_EXEC,
};

/* An exec type's process. Nothing from a request ever reaches argv or env: the payload
 * goes to stdin only. */
struct lt_exec_cfg {
    char **argv; /* NULL-terminated; argv[0] is the program (absolute path) */
    int argc;
    char **env; /* NULL-terminated "NAME=value": the child's whole environment */
    int nenv;
    char *workdir;          /* the child's working directory */
    int cpu_s;              /* RLIMIT_CPU seconds, 0 = unlimited */
    int memory_mb;          /* RLIMIT_AS megabytes, 0 = unlimited */
    int kill_grace_ms;      /* SIGTERM to the group, then SIGKILL after this */
    long max_line_bytes;    /* longest stdout line kept (the result line included) */
    long stderr_tail_bytes; /* how much of stderr's end is kept for the error */
};

struct lt_type_cfg {
    char name[LT_NAME_MAX];
    char queue[LT_NAME_MAX];
    enum lt_handler_kind handler;
    int priority;        /* default priority, 0..3 */
    int max_retries;     /* retries after the first attempt */
    int timeout_s;       /* default per-attempt timeout */
    int backoff_base_ms; /* first retry's jitter ceiling */
    int backoff_max_ms;  /* cap of the ceiling */
    int cost;            /* quota units (a fixed cost; used when cost_items is "") */
    /* A cost that grows with the payload: cost_base + floor(cost_per_item x the length
     * of the payload array named cost_items), clamped to [cost_min, cost_max]. */
    int cost_base;
    double cost_per_item;
    char cost_items[LT_NAME_MAX]; /* "" = the fixed cost applies */
    int cost_min;
    int cost_max;
    char fallback[LT_NAME_MAX]; /* a cheaper configured type to degrade to; "" = none */
    struct lt_exec_cfg exec;    /* handler == LT_HANDLER_EXEC only */
};

/* An OpenAI-compatible LLM provider (POST {base_url}/chat/completions). */
struct lt_provider_cfg {
    char name[LT_NAME_MAX];
    char *base_url;    /* without the trailing /chat/completions */
    char *api_key_env; /* the environment variable holding the key */
    char *api_key;     /* resolved at load; NULL when the variable is unset */
    char *model;       /* used when a payload names none */
    int timeout_s;     /* whole call, unless the task's own timeout is shorter */
    int connect_timeout_s;
    int max_concurrent;         /* calls in flight at once, per worker child */
    char fallback[LT_NAME_MAX]; /* "" = none */
    int circuit_failures;       /* consecutive retryable failures that open the circuit */
    int circuit_cooldown_s;     /* how long an open circuit stays open */
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
    int api_max_requests; /* a process exits and is replaced after this many */
    long api_max_body_bytes;
    int api_max_json_depth;
    int api_max_wait_s;

    /* auth */
    char *jwt_secret;    /* from LONGTASK_JWT_SECRET or auth.jwt_secret_file */
    char *jwt_algorithm; /* "HS256" */
    int jwt_leeway_s;

    /* worker */
    int worker_processes; /* 0 in the file means the number of cores */
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

    /* llm: providers (never empty: "default" is made from the defaults when the file
     * names none); LONGTASK_LLM_BASE_URL / LONGTASK_LLM_API_KEY override the default one */
    struct lt_provider_cfg *providers;
    int nproviders;
    char *llm_default_provider;
    int llm_stream_write_ms; /* a streaming call's partial result is written at most this often */
    long llm_max_response_bytes;

    /* http.request */
    char **http_allow_hosts; /* NULL-terminated; "host" or "*.domain" */
    int http_nallow_hosts;
    long http_max_response_bytes;

    /* quota: the defaults of every tenant (tenant_quotas rows override them) */
    long quota_units_per_window; /* 0 = unlimited */
    int quota_window_s;          /* windows are aligned to the Unix epoch */
    int quota_max_active;        /* non-terminal tasks at once; 0 = unlimited */

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

/* The provider's configuration, or NULL. name NULL or "" = the default provider. */
const struct lt_provider_cfg *lt_cfg_provider(const struct lt_cfg *cfg, const char *name);

/* The handler kind named by s ("noop", "sleep", "llm.chat", "http.request", "exec"); -1. */
int lt_cfg_handler_parse(const char *s);

/* 1 when s is a valid type or queue name. */
int lt_cfg_name_ok(const char *s);

/* The path given by -c, else LONGTASK_CONFIG, else NULL (defaults). */
const char *lt_cfg_default_path(const char *given);

#endif
