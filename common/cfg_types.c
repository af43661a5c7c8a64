/*
 * cfg_types.c -- the types list of the configuration: built-in types first (noop, sleep,
 * llm.chat, http.request, so they exist with no file at all), then the file's entries,
 * which override a built-in of the same name or add a type. A new type names its handler;
 * an exec type also its command and limits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "cfg_read.h"
#include "cfg_types.h"

static const char *const handler_names[] = {"noop", "sleep", "llm.chat", "http.request", "exec"};

static const char *const type_keys[] = {"name",
                                        "queue",
                                        "priority",
                                        "max_retries",
                                        "timeout_s",
                                        "backoff_base_ms",
                                        "backoff_max_ms",
                                        "cost",
                                        "handler",
                                        "command",
                                        "env",
                                        "workdir",
                                        "cpu_s",
                                        "memory_mb",
                                        "kill_grace_ms",
                                        "max_line_bytes",
                                        "stderr_tail_bytes",
                                        "cost_base",
                                        "cost_per_item",
                                        "cost_items",
                                        "cost_min",
                                        "cost_max",
                                        "fallback",
                                        NULL};

#define COST_MAX 1000000 /* the largest cost a task may have, in units */

int lt_cfg_handler_parse(const char *s)
{
    for (int i = 0; i < (int)(sizeof(handler_names) / sizeof(handler_names[0])); i++) {
        if (strcmp(s, handler_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

static struct lt_type_cfg *add_type(struct lt_cfg *cfg, const char *name)
{
    struct lt_type_cfg *t = realloc(cfg->types, sizeof(*t) * (size_t)(cfg->ntypes + 1));
    if (t == NULL) {
        return NULL;
    }
    cfg->types = t;
    t = &cfg->types[cfg->ntypes++];
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", name);
    snprintf(t->queue, sizeof(t->queue), "default");
    int h = lt_cfg_handler_parse(name);
    t->handler = h >= 0 ? (enum lt_handler_kind)h : LT_HANDLER_EXEC;
    t->priority = 1;
    t->max_retries = 3;
    t->timeout_s = 300;
    t->backoff_base_ms = 2000;
    t->backoff_max_ms = 600000;
    t->cost = 1;
    t->cost_max = COST_MAX;
    t->exec.kill_grace_ms = 2000;
    t->exec.max_line_bytes = 1048576;
    t->exec.stderr_tail_bytes = 4096;
    return t;
}

static int add_builtins(struct lt_cfg *cfg, struct lt_err *err)
{
    struct lt_type_cfg *t;
    if ((t = add_type(cfg, "noop")) == NULL) {
        return lt_err_set(err, "out of memory");
    }
    t->max_retries = 0;
    t->timeout_s = 60;
    if (add_type(cfg, "sleep") == NULL) {
        return lt_err_set(err, "out of memory");
    }
    if ((t = add_type(cfg, "llm.chat")) == NULL) {
        return lt_err_set(err, "out of memory");
    }
    t->timeout_s = 120;
    if ((t = add_type(cfg, "http.request")) == NULL) {
        return lt_err_set(err, "out of memory");
    }
    t->timeout_s = 60;
    return 0;
}

static int read_exec(const struct lt_cfg_ctx *x, config_setting_t *g, struct lt_type_cfg *t,
                     struct lt_err *err)
{
    struct lt_exec_cfg *e = &t->exec;
    char path[192];

    if (lt_cfg_member_strv(x, g, "command", 1, 256, &e->argv, &e->argc, err) < 0 ||
        lt_cfg_member_strv(x, g, "env", 0, 256, &e->env, &e->nenv, err) < 0 ||
        lt_cfg_member_str(x, g, "workdir", &e->workdir, err) < 0 ||
        lt_cfg_member_int(x, g, "cpu_s", 0, 86400 * 7, &e->cpu_s, err) < 0 ||
        lt_cfg_member_int(x, g, "memory_mb", 0, 1048576, &e->memory_mb, err) < 0 ||
        lt_cfg_member_int(x, g, "kill_grace_ms", 0, 600000, &e->kill_grace_ms, err) < 0 ||
        lt_cfg_member_long(x, g, "max_line_bytes", 1024, 67108864, &e->max_line_bytes, err) < 0 ||
        lt_cfg_member_long(x, g, "stderr_tail_bytes", 0, 1048576, &e->stderr_tail_bytes, err) < 0) {
        return -1;
    }
    if (t->handler != LT_HANDLER_EXEC) {
        return 0;
    }
    if (e->argv == NULL) {
        snprintf(path, sizeof(path), "%s.command", x->prefix);
        return lt_cfg_where(err, x->file, g, path, "an exec type needs a command");
    }
    if (e->argv[0][0] != '/') {
        snprintf(path, sizeof(path), "%s.command", x->prefix);
        return lt_cfg_where(err, x->file, config_setting_get_member(g, "command"), path,
                            "the program must be an absolute path");
    }
    for (int i = 0; i < e->nenv; i++) {
        if (strchr(e->env[i], '=') == NULL || e->env[i][0] == '=') {
            snprintf(path, sizeof(path), "%s.env", x->prefix);
            return lt_cfg_where(err, x->file, config_setting_get_member(g, "env"), path,
                                "each entry must be NAME=value");
        }
    }
    if (e->workdir == NULL && (e->workdir = strdup("/")) == NULL) {
        return lt_err_set(err, "out of memory");
    }
    return 0;
}

/* The per-item cost and the fallback (checked against the whole list later). */
static int read_cost(const struct lt_cfg_ctx *x, config_setting_t *g, struct lt_type_cfg *t,
                     struct lt_err *err)
{
    char path[192];

    if (lt_cfg_member_int(x, g, "cost_base", 0, COST_MAX, &t->cost_base, err) < 0 ||
        lt_cfg_member_double(x, g, "cost_per_item", 0, COST_MAX, &t->cost_per_item, err) < 0 ||
        lt_cfg_member_name(x, g, "cost_items", 1, t->cost_items, err) < 0 ||
        lt_cfg_member_int(x, g, "cost_min", 0, COST_MAX, &t->cost_min, err) < 0 ||
        lt_cfg_member_int(x, g, "cost_max", 0, COST_MAX, &t->cost_max, err) < 0 ||
        lt_cfg_member_name(x, g, "fallback", 1, t->fallback, err) < 0) {
        return -1;
    }
    if (t->cost_items[0] != '\0' && config_setting_get_member(g, "cost") != NULL) {
        snprintf(path, sizeof(path), "%s.cost", x->prefix);
        return lt_cfg_where(err, x->file, config_setting_get_member(g, "cost"), path,
                            "give cost (fixed) or cost_items (per item), not both");
    }
    if (t->cost_items[0] == '\0' && (config_setting_get_member(g, "cost_per_item") != NULL ||
                                     config_setting_get_member(g, "cost_base") != NULL)) {
        snprintf(path, sizeof(path), "%s.cost_items", x->prefix);
        return lt_cfg_where(err, x->file, g, path,
                            "cost_base and cost_per_item need cost_items (the payload array)");
    }
    if (t->cost_min > t->cost_max) {
        snprintf(path, sizeof(path), "%s.cost_max", x->prefix);
        return lt_cfg_where(err, x->file, config_setting_get_member(g, "cost_max"), path,
                            "must not be below cost_min");
    }
    return 0;
}

/* A fallback must name another configured type (one level: the fallback's own fallback
 * is not followed). */
static int check_fallbacks(struct lt_cfg *cfg, config_setting_t *list, const char *file,
                           struct lt_err *err)
{
    for (int i = 0; i < cfg->ntypes; i++) {
        const struct lt_type_cfg *t = &cfg->types[i];
        if (t->fallback[0] == '\0') {
            continue;
        }
        if (strcmp(t->fallback, t->name) == 0 || lt_cfg_type(cfg, t->fallback) == NULL) {
            char path[192];
            config_setting_t *where = NULL;
            for (int j = 0; list != NULL && j < config_setting_length(list); j++) {
                config_setting_t *e = config_setting_get_elem(list, (unsigned)j);
                const char *name = NULL;
                if (config_setting_lookup_string(e, "name", &name) && strcmp(name, t->name) == 0) {
                    where = config_setting_get_member(e, "fallback");
                }
            }
            snprintf(path, sizeof(path), "types.%s.fallback", t->name);
            return lt_cfg_where(err, file, where, path, "must name another configured type");
        }
    }
    return 0;
}

static int read_entry(struct lt_cfg *cfg, const char *file, config_setting_t *g, struct lt_err *err)
{
    const char *name = NULL;
    char prefix[128];
    struct lt_type_cfg *t;

    if (!config_setting_is_group(g)) {
        return lt_cfg_where(err, file, g, "types", "each entry must be a group { name = ...; }");
    }
    if (!config_setting_lookup_string(g, "name", &name) || !lt_cfg_name_ok(name)) {
        return lt_cfg_where(err, file, g, "types.name",
                            "each type needs a name of 1-58 characters of [A-Za-z0-9_.-]");
    }
    snprintf(prefix, sizeof(prefix), "types.%s", name);
    struct lt_cfg_ctx x = {file, prefix};
    if (lt_cfg_only_keys(&x, g, type_keys, err) < 0) {
        return -1;
    }
    t = (struct lt_type_cfg *)lt_cfg_type(cfg, name);
    int builtin = lt_cfg_handler_parse(name) >= 0 && strcmp(name, "exec") != 0;
    if (t == NULL && (t = add_type(cfg, name)) == NULL) {
        return lt_err_set(err, "out of memory");
    }
    config_setting_t *h = config_setting_get_member(g, "handler");
    if (h != NULL) {
        const char *hv =
            config_setting_type(h) == CONFIG_TYPE_STRING ? config_setting_get_string(h) : "";
        int kind = lt_cfg_handler_parse(hv);
        char path[192];
        snprintf(path, sizeof(path), "%s.handler", prefix);
        if (kind < 0) {
            return lt_cfg_where(err, file, h, path,
                                "must be noop, sleep, llm.chat, http.request or exec");
        }
        if (builtin && kind != (int)t->handler) {
            return lt_cfg_where(err, file, h, path, "a built-in type keeps its own handler");
        }
        t->handler = (enum lt_handler_kind)kind;
    } else if (!builtin) {
        char path[192];
        snprintf(path, sizeof(path), "%s.handler", prefix);
        return lt_cfg_where(err, file, g, path, "a new type must name its handler");
    }
    if (lt_cfg_member_name(&x, g, "queue", 0, t->queue, err) < 0 ||
        lt_cfg_member_int(&x, g, "priority", 0, 3, &t->priority, err) < 0 ||
        lt_cfg_member_int(&x, g, "max_retries", 0, 100, &t->max_retries, err) < 0 ||
        lt_cfg_member_int(&x, g, "timeout_s", 1, 86400, &t->timeout_s, err) < 0 ||
        lt_cfg_member_int(&x, g, "backoff_base_ms", 1, 3600000, &t->backoff_base_ms, err) < 0 ||
        lt_cfg_member_int(&x, g, "backoff_max_ms", 1, 86400000, &t->backoff_max_ms, err) < 0 ||
        lt_cfg_member_int(&x, g, "cost", 0, COST_MAX, &t->cost, err) < 0 ||
        read_cost(&x, g, t, err) < 0 || read_exec(&x, g, t, err) < 0) {
        return -1;
    }
    if (t->backoff_max_ms < t->backoff_base_ms) {
        char path[192];
        snprintf(path, sizeof(path), "%s.backoff_max_ms", prefix);
        return lt_cfg_where(err, file, config_setting_get_member(g, "backoff_max_ms"), path,
                            "must not be below backoff_base_ms");
    }
    return 0;
}

int lt_cfg_read_types(struct lt_cfg *cfg, config_t *c, const char *file, struct lt_err *err)
{
    config_setting_t *list = c != NULL ? config_lookup(c, "types") : NULL;

    if (add_builtins(cfg, err) < 0) {
        return -1;
    }
    if (list == NULL) {
        return 0;
    }
    if (!config_setting_is_list(list)) {
        return lt_cfg_where(err, file, list, "types",
                            "must be a list of groups: ( { name = ...; } )");
    }
    for (int i = 0; i < config_setting_length(list); i++) {
        if (read_entry(cfg, file, config_setting_get_elem(list, (unsigned)i), err) < 0) {
            return -1;
        }
    }
    return check_fallbacks(cfg, list, file, err);
}

void lt_cfg_free_types(struct lt_cfg *cfg)
{
    for (int i = 0; i < cfg->ntypes; i++) {
        struct lt_exec_cfg *e = &cfg->types[i].exec;
        lt_cfg_strv_free(e->argv);
        lt_cfg_strv_free(e->env);
        free(e->workdir);
    }
    free(cfg->types);
    cfg->types = NULL;
    cfg->ntypes = 0;
}

const struct lt_type_cfg *lt_cfg_type(const struct lt_cfg *cfg, const char *name)
{
    for (int i = 0; i < cfg->ntypes; i++) {
        if (strcmp(cfg->types[i].name, name) == 0) {
            return &cfg->types[i];
        }
    }
    return NULL;
}
