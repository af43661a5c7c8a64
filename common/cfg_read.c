/*
 * cfg_read.c -- see cfg_read.h.
 */
#include "cfg_read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"

int lt_cfg_where(struct lt_err *err, const char *file, const config_setting_t *s, const char *path,
                 const char *what)
{
    int line = s != NULL ? (int)config_setting_source_line(s) : 0;
    return lt_err_set(err, "%s:%d: setting '%s': %s", file != NULL ? file : "(defaults)", line,
                      path, what);
}

static void member_path(const struct lt_cfg_ctx *x, const char *key, char *buf, size_t n)
{
    snprintf(buf, n, "%s.%s", x->prefix, key);
}

static int member_ll(const struct lt_cfg_ctx *x, config_setting_t *g, const char *key,
                     long long min, long long max, long long *out, struct lt_err *err)
{
    config_setting_t *s = config_setting_get_member(g, key);
    char path[192];
    if (s == NULL) {
        return 1;
    }
    member_path(x, key, path, sizeof(path));
    if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64) {
        return lt_cfg_where(err, x->file, s, path, "must be an integer");
    }
    long long v = config_setting_get_int64(s);
    if (v < min || v > max) {
        char what[128];
        snprintf(what, sizeof(what), "must be between %lld and %lld (got %lld)", min, max, v);
        return lt_cfg_where(err, x->file, s, path, what);
    }
    *out = v;
    return 0;
}

int lt_cfg_member_int(const struct lt_cfg_ctx *x, config_setting_t *g, const char *key,
                      long long min, long long max, int *out, struct lt_err *err)
{
    long long v;
    int rc = member_ll(x, g, key, min, max, &v, err);
    if (rc == 0) {
        *out = (int)v;
    }
    return rc < 0 ? -1 : 0;
}

int lt_cfg_member_long(const struct lt_cfg_ctx *x, config_setting_t *g, const char *key,
                       long long min, long long max, long *out, struct lt_err *err)
{
    long long v;
    int rc = member_ll(x, g, key, min, max, &v, err);
    if (rc == 0) {
        *out = (long)v;
    }
    return rc < 0 ? -1 : 0;
}

int lt_cfg_member_double(const struct lt_cfg_ctx *x, config_setting_t *g, const char *key,
                         double min, double max, double *out, struct lt_err *err)
{
    config_setting_t *s = config_setting_get_member(g, key);
    char path[192];
    double v;
    if (s == NULL) {
        return 0;
    }
    member_path(x, key, path, sizeof(path));
    int t = config_setting_type(s);
    if (t == CONFIG_TYPE_FLOAT) {
        v = config_setting_get_float(s);
    } else if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
        v = (double)config_setting_get_int64(s);
    } else {
        return lt_cfg_where(err, x->file, s, path, "must be a number");
    }
    if (!(v >= min && v <= max)) {
        char what[128];
        snprintf(what, sizeof(what), "must be between %g and %g (got %g)", min, max, v);
        return lt_cfg_where(err, x->file, s, path, what);
    }
    *out = v;
    return 0;
}

int lt_cfg_member_str(const struct lt_cfg_ctx *x, config_setting_t *g, const char *key, char **out,
                      struct lt_err *err)
{
    config_setting_t *s = config_setting_get_member(g, key);
    char path[192];
    if (s == NULL) {
        return 0;
    }
    member_path(x, key, path, sizeof(path));
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        return lt_cfg_where(err, x->file, s, path, "must be a string");
    }
    char *copy = strdup(config_setting_get_string(s));
    if (copy == NULL) {
        return lt_err_set(err, "out of memory");
    }
    free(*out);
    *out = copy;
    return 0;
}

int lt_cfg_member_name(const struct lt_cfg_ctx *x, config_setting_t *g, const char *key,
                       int empty_ok, char *buf, struct lt_err *err)
{
    config_setting_t *s = config_setting_get_member(g, key);
    char path[192];
    if (s == NULL) {
        return 0;
    }
    member_path(x, key, path, sizeof(path));
    const char *v =
        config_setting_type(s) == CONFIG_TYPE_STRING ? config_setting_get_string(s) : NULL;
    if (v == NULL || !((empty_ok && v[0] == '\0') || lt_cfg_name_ok(v))) {
        return lt_cfg_where(err, x->file, s, path,
                            "must be a name of 1-58 characters of [A-Za-z0-9_.-]");
    }
    snprintf(buf, LT_NAME_MAX, "%s", v);
    return 0;
}

void lt_cfg_strv_free(char **v)
{
    if (v == NULL) {
        return;
    }
    for (char **p = v; *p != NULL; p++) {
        free(*p);
    }
    free(v);
}

int lt_cfg_member_strv(const struct lt_cfg_ctx *x, config_setting_t *g, const char *key, int min,
                       int max, char ***out, int *n, struct lt_err *err)
{
    config_setting_t *s = config_setting_get_member(g, key);
    char path[192];
    char what[96];
    if (s == NULL) {
        return 0;
    }
    member_path(x, key, path, sizeof(path));
    if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
        return lt_cfg_where(err, x->file, s, path, "must be an array of strings");
    }
    int len = config_setting_length(s);
    if (len < min || len > max) {
        snprintf(what, sizeof(what), "must hold %d to %d strings", min, max);
        return lt_cfg_where(err, x->file, s, path, what);
    }
    char **v = calloc((size_t)len + 1, sizeof(*v));
    if (v == NULL) {
        return lt_err_set(err, "out of memory");
    }
    for (int i = 0; i < len; i++) {
        const char *e = config_setting_get_string_elem(s, i);
        if (e == NULL) {
            lt_cfg_strv_free(v);
            return lt_cfg_where(err, x->file, s, path, "must be an array of strings");
        }
        if ((v[i] = strdup(e)) == NULL) {
            lt_cfg_strv_free(v);
            return lt_err_set(err, "out of memory");
        }
    }
    lt_cfg_strv_free(*out);
    *out = v;
    *n = len;
    return 0;
}

int lt_cfg_only_keys(const struct lt_cfg_ctx *x, config_setting_t *g, const char *const *keys,
                     struct lt_err *err)
{
    for (int i = 0; i < config_setting_length(g); i++) {
        config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(m);
        const char *const *k = keys;
        while (*k != NULL && strcmp(*k, name) != 0) {
            k++;
        }
        if (*k == NULL) {
            char path[192];
            member_path(x, name, path, sizeof(path));
            return lt_cfg_where(err, x->file, m, path, "unknown setting");
        }
    }
    return 0;
}
