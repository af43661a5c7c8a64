/*
 * cfg.c -- see cfg.h.
 *
 * A table lists every scalar setting: its path, kind, default and range. Loading
 * walks the table (so defaults and checks live in one place), then the lists that do
 * not fit a table (worker.queues, types), then refuses any setting in the file the
 * table does not know.
 */
#include "cfg.h"

#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg_read.h"
#include "cfg_types.h"
#include "log.h"

enum kind { K_INT, K_LONG, K_STR };

struct setting {
    const char *path;
    enum kind kind;
    size_t offset;
    long long def_int;
    const char *def_str;
    long long min, max;
};

#define OFF(f) offsetof(struct lt_cfg, f)

static const struct setting settings[] = {
    {"database.url", K_STR, OFF(database_url), 0, "postgresql:///longtask", 0, 0},
    {"database.connect_timeout_s", K_INT, OFF(db_connect_timeout_s), 5, NULL, 1, 300},
    {"database.statement_timeout_ms", K_INT, OFF(db_statement_timeout_ms), 30000, NULL, 0, 3600000},
    {"api.socket", K_STR, OFF(api_socket), 0, "/run/longtask/api.sock", 0, 0},
    {"api.socket_mode", K_STR, 0, 0, "0660", 0, 0}, /* octal text, read below */
    {"api.processes", K_INT, OFF(api_processes), 4, NULL, 1, 256},
    {"api.backlog", K_INT, OFF(api_backlog), 256, NULL, 1, 65535},
    {"api.max_requests", K_INT, OFF(api_max_requests), 10000, NULL, 0, 100000000},
    {"api.max_body_bytes", K_LONG, OFF(api_max_body_bytes), 1048576, NULL, 1024, 67108864},
    {"api.max_json_depth", K_INT, OFF(api_max_json_depth), 32, NULL, 2, 1024},
    {"api.max_wait_s", K_INT, OFF(api_max_wait_s), 60, NULL, 0, 3600},
    {"auth.algorithm", K_STR, OFF(jwt_algorithm), 0, "HS256", 0, 0},
    {"auth.jwt_secret_file", K_STR, 0, 0, "", 0, 0}, /* read below, not stored */
    {"auth.leeway_s", K_INT, OFF(jwt_leeway_s), 30, NULL, 0, 3600},
    {"worker.processes", K_INT, OFF(worker_processes), 0, NULL, 0, 1024},
    {"worker.concurrency", K_INT, OFF(worker_concurrency), 100, NULL, 1, 10000},
    {"worker.poll_interval_ms", K_INT, OFF(worker_poll_ms), 1000, NULL, 10, 600000},
    {"worker.lease_s", K_INT, OFF(worker_lease_s), 60, NULL, 2, 86400},
    {"worker.heartbeat_s", K_INT, OFF(worker_heartbeat_s), 0, NULL, 0, 86400},
    {"worker.drain_s", K_INT, OFF(worker_drain_s), 30, NULL, 0, 86400},
    {"worker.claim_batch", K_INT, OFF(worker_claim_batch), 100, NULL, 1, 1000},
    {"worker.restart_min_ms", K_INT, OFF(worker_restart_min_ms), 100, NULL, 0, 600000},
    {"worker.restart_max_ms", K_INT, OFF(worker_restart_max_ms), 30000, NULL, 0, 3600000},
    {"reaper.batch_size", K_INT, OFF(reaper_batch_size), 5000, NULL, 1, 1000000},
    {"reaper.time_box_s", K_INT, OFF(reaper_time_box_s), 20, NULL, 1, 3600},
    {"reaper.worker_dead_s", K_INT, OFF(reaper_worker_dead_s), 60, NULL, 1, 86400},
    {"reaper.metrics_file", K_STR, OFF(reaper_metrics_file), 0, "", 0, 0},
    {"retention.completed_s", K_INT, OFF(retention_completed_s), 604800, NULL, 0, 315360000},
    {"retention.failed_s", K_INT, OFF(retention_failed_s), 2592000, NULL, 0, 315360000},
    {"retention.cancelled_s", K_INT, OFF(retention_cancelled_s), 604800, NULL, 0, 315360000},
    {"llm.default_provider", K_STR, OFF(llm_default_provider), 0, "", 0, 0},
    {"llm.stream_write_ms", K_INT, OFF(llm_stream_write_ms), 1000, NULL, 100, 60000},
    {"llm.max_response_bytes", K_LONG, OFF(llm_max_response_bytes), 4194304, NULL, 1024, 268435456},
    {"http.max_response_bytes", K_LONG, OFF(http_max_response_bytes), 1048576, NULL, 0, 268435456},
    {"quota.units_per_window", K_LONG, OFF(quota_units_per_window), 1000000, NULL, 0,
     1000000000000LL},
    {"quota.window_s", K_INT, OFF(quota_window_s), 86400, NULL, 1, 31622400},
    {"quota.max_active", K_INT, OFF(quota_max_active), 10000, NULL, 0, 100000000},
    {"log.level", K_STR, 0, 0, "info", 0, 0}, /* read below */
};

/* Groups that may appear at the top level, beyond those named in the table. */
static const char *const list_settings[] = {"worker.queues", "types", "providers",
                                            "http.allow_hosts"};

int lt_cfg_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > LT_NAME_LEN) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-')) {
            return 0;
        }
    }
    return 1;
}

static int set_str(char **dst, const char *v)
{
    char *copy = strdup(v);
    if (copy == NULL) {
        return -1;
    }
    free(*dst);
    *dst = copy;
    return 0;
}

static int read_scalars(struct lt_cfg *cfg, config_t *c, const char *file, struct lt_err *err,
                        const char **secret_file, const char **level)
{
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
        const struct setting *d = &settings[i];
        config_setting_t *s = c != NULL ? config_lookup(c, d->path) : NULL;
        char *base = (char *)cfg + d->offset;

        if (d->kind == K_STR) {
            const char *v = d->def_str;
            if (s != NULL) {
                if (config_setting_type(s) != CONFIG_TYPE_STRING) {
                    return lt_cfg_where(err, file, s, d->path, "must be a string");
                }
                v = config_setting_get_string(s);
            }
            if (strcmp(d->path, "auth.jwt_secret_file") == 0) {
                *secret_file = v;
            } else if (strcmp(d->path, "api.socket_mode") == 0) {
                /* libconfig has no octal literals: 0660 would read as decimal 660. */
                char *end = NULL;
                long mode = strtol(v, &end, 8);
                if (v[0] == '\0' || *end != '\0' || mode < 0 || mode > 0777) {
                    return lt_cfg_where(err, file, s, d->path,
                                        "must be an octal mode such as \"0660\"");
                }
                cfg->api_socket_mode = (int)mode;
            } else if (strcmp(d->path, "log.level") == 0) {
                if (lt_log_level_parse(v) < 0) {
                    return lt_cfg_where(err, file, s, d->path,
                                        "must be debug, info, warn or error");
                }
                *level = v;
            } else if (set_str((char **)base, v) < 0) {
                return lt_err_set(err, "out of memory");
            }
            continue;
        }
        long long v = d->def_int;
        if (s != NULL) {
            int t = config_setting_type(s);
            if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
                return lt_cfg_where(err, file, s, d->path, "must be an integer");
            }
            v = config_setting_get_int64(s);
            if (v < d->min || v > d->max) {
                char what[128];
                snprintf(what, sizeof(what), "must be between %lld and %lld (got %lld)", d->min,
                         d->max, v);
                return lt_cfg_where(err, file, s, d->path, what);
            }
        }
        if (d->kind == K_INT) {
            *(int *)base = (int)v;
        } else {
            *(long *)base = (long)v;
        }
    }
    return 0;
}

static int read_queues(struct lt_cfg *cfg, config_t *c, const char *file, struct lt_err *err)
{
    config_setting_t *s = c != NULL ? config_lookup(c, "worker.queues") : NULL;
    if (s == NULL) {
        cfg->worker_queues[0] = strdup("default");
        cfg->worker_nqueues = cfg->worker_queues[0] != NULL ? 1 : 0;
        return cfg->worker_nqueues == 1 ? 0 : lt_err_set(err, "out of memory");
    }
    if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
        return lt_cfg_where(err, file, s, "worker.queues", "must be an array of queue names");
    }
    int n = config_setting_length(s);
    if (n < 1 || n > LT_MAX_QUEUES) {
        return lt_cfg_where(err, file, s, "worker.queues", "must name 1 to 32 queues");
    }
    for (int i = 0; i < n; i++) {
        const char *q = config_setting_get_string_elem(s, i);
        if (q == NULL || !lt_cfg_name_ok(q)) {
            return lt_cfg_where(err, file, s, "worker.queues",
                                "each queue name must be 1-58 characters of [A-Za-z0-9_.-]");
        }
        cfg->worker_queues[i] = strdup(q);
        if (cfg->worker_queues[i] == NULL) {
            return lt_err_set(err, "out of memory");
        }
        cfg->worker_nqueues = i + 1;
    }
    return 0;
}

/* Refuses settings the program does not know: a misspelt name must not pass silently. */
static int check_unknown(config_setting_t *group, const char *prefix, const char *file,
                         struct lt_err *err)
{
    for (int i = 0; i < config_setting_length(group); i++) {
        config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        char path[256];
        int known = 0;
        snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "",
                 config_setting_name(s));
        for (size_t j = 0; j < sizeof(list_settings) / sizeof(list_settings[0]); j++) {
            known |= strcmp(path, list_settings[j]) == 0;
        }
        if (known) {
            continue;
        }
        if (config_setting_is_group(s)) {
            size_t n = strlen(path);
            for (size_t j = 0; j < sizeof(settings) / sizeof(settings[0]); j++) {
                known |= strncmp(settings[j].path, path, n) == 0 && settings[j].path[n] == '.';
            }
            if (!known) {
                return lt_cfg_where(err, file, s, path, "unknown section");
            }
            if (check_unknown(s, path, file, err) < 0) {
                return -1;
            }
            continue;
        }
        for (size_t j = 0; j < sizeof(settings) / sizeof(settings[0]); j++) {
            known |= strcmp(settings[j].path, path) == 0;
        }
        if (!known) {
            return lt_cfg_where(err, file, s, path, "unknown setting");
        }
    }
    return 0;
}

static int read_secret_file(struct lt_cfg *cfg, const char *path, struct lt_err *err)
{
    char buf[4096];
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return lt_err_set(err, "auth.jwt_secret_file '%s': %s", path, strerror(errno));
    }
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        n--;
    }
    buf[n] = '\0';
    return set_str(&cfg->jwt_secret, buf) < 0 ? lt_err_set(err, "out of memory") : 0;
}

static int apply_env(struct lt_cfg *cfg, struct lt_err *err)
{
    const char *v;
    if ((v = getenv("LONGTASK_DATABASE_URL")) != NULL && v[0] != '\0' &&
        set_str(&cfg->database_url, v) < 0) {
        return lt_err_set(err, "out of memory");
    }
    if ((v = getenv("LONGTASK_JWT_SECRET")) != NULL && v[0] != '\0' &&
        set_str(&cfg->jwt_secret, v) < 0) {
        return lt_err_set(err, "out of memory");
    }
    return 0;
}

/* http.allow_hosts: exact host names or "*.domain" (any subdomain of domain). */
static int read_allow_hosts(struct lt_cfg *cfg, config_t *c, const char *file, struct lt_err *err)
{
    config_setting_t *g = c != NULL ? config_lookup(c, "http") : NULL;
    struct lt_cfg_ctx x = {file, "http"};
    if (g != NULL && lt_cfg_member_strv(&x, g, "allow_hosts", 0, 1024, &cfg->http_allow_hosts,
                                        &cfg->http_nallow_hosts, err) < 0) {
        return -1;
    }
    if (cfg->http_allow_hosts == NULL) {
        cfg->http_allow_hosts = calloc(1, sizeof(char *));
        if (cfg->http_allow_hosts == NULL) {
            return lt_err_set(err, "out of memory");
        }
    }
    for (int i = 0; i < cfg->http_nallow_hosts; i++) {
        const char *h = cfg->http_allow_hosts[i];
        if (h[0] == '\0' || strchr(h, '/') != NULL || strchr(h + (h[0] == '*'), '*') != NULL ||
            (h[0] == '*' && h[1] != '.')) {
            return lt_cfg_where(err, file, config_setting_get_member(g, "allow_hosts"),
                                "http.allow_hosts", "each entry must be a host name or *.domain");
        }
    }
    return 0;
}

int lt_cfg_load(struct lt_cfg *cfg, const char *path, struct lt_err *err)
{
    config_t c;
    config_t *cp = NULL;
    const char *secret_file = "", *level = "info";
    int rc = -1;

    memset(cfg, 0, sizeof(*cfg));
    config_init(&c);
    if (path != NULL) {
        cfg->path = strdup(path);
        if (cfg->path == NULL) {
            lt_err_set(err, "out of memory");
            goto out;
        }
        if (config_read_file(&c, path) != CONFIG_TRUE) {
            if (config_error_type(&c) == CONFIG_ERR_FILE_IO) {
                lt_err_set(err, "%s: cannot read: %s", path, strerror(errno));
            } else {
                lt_err_set(err, "%s:%d: %s", config_error_file(&c) ? config_error_file(&c) : path,
                           config_error_line(&c), config_error_text(&c));
            }
            goto out;
        }
        cp = &c;
        if (check_unknown(config_root_setting(&c), "", path, err) < 0) {
            goto out;
        }
    }
    if (read_scalars(cfg, cp, path, err, &secret_file, &level) < 0 ||
        read_queues(cfg, cp, path, err) < 0 || lt_cfg_read_types(cfg, cp, path, err) < 0 ||
        lt_cfg_read_providers(cfg, cp, path, err) < 0 || read_allow_hosts(cfg, cp, path, err) < 0) {
        goto out;
    }
    cfg->log_level = lt_log_level_parse(level);
    if (secret_file[0] != '\0' && read_secret_file(cfg, secret_file, err) < 0) {
        goto out;
    }
    if (apply_env(cfg, err) < 0) {
        goto out;
    }
    if (strcmp(cfg->jwt_algorithm, "HS256") != 0) {
        lt_err_set(err, "%s: setting 'auth.algorithm': only HS256 is supported",
                   path != NULL ? path : "(defaults)");
        goto out;
    }
    if (cfg->worker_processes == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->worker_processes = n > 0 ? (int)n : 1;
    }
    if (cfg->worker_heartbeat_s == 0) {
        cfg->worker_heartbeat_s = cfg->worker_lease_s / 3 > 0 ? cfg->worker_lease_s / 3 : 1;
    }
    if (cfg->worker_heartbeat_s >= cfg->worker_lease_s) {
        lt_err_set(err, "%s: setting 'worker.heartbeat_s': must be below worker.lease_s",
                   path != NULL ? path : "(defaults)");
        goto out;
    }
    rc = 0;
out:
    config_destroy(&c);
    if (rc < 0) {
        lt_cfg_free(cfg);
    }
    return rc;
}

void lt_cfg_free(struct lt_cfg *cfg)
{
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
        if (settings[i].kind == K_STR && settings[i].offset != 0) {
            char **p = (char **)((char *)cfg + settings[i].offset);
            free(*p);
            *p = NULL;
        }
    }
    for (int i = 0; i < cfg->worker_nqueues; i++) {
        free(cfg->worker_queues[i]);
    }
    free(cfg->path);
    free(cfg->jwt_secret);
    lt_cfg_free_types(cfg);
    lt_cfg_free_providers(cfg);
    lt_cfg_strv_free(cfg->http_allow_hosts);
    memset(cfg, 0, sizeof(*cfg));
}

const char *lt_cfg_default_path(const char *given)
{
    if (given != NULL) {
        return given;
    }
    const char *env = getenv("LONGTASK_CONFIG");
    return env != NULL && env[0] != '\0' ? env : NULL;
}
