/*
 * cfg_read.h -- checked reading of members of a libconfig group, shared by the parts of
 * the configuration loader (cfg.c, cfg_types.c, cfg_providers.c). Internal to the
 * loader: programs use cfg.h.
 *
 * Every reader leaves *out alone when the member is absent (so the caller's default
 * stands) and, on a wrong type or value, fills err with "FILE:LINE: setting 'PATH': ..."
 * and returns -1. PATH is prefix + "." + key, e.g. "types.report.timeout_s".
 */
#ifndef LT_CFG_READ_H
#define LT_CFG_READ_H

#include <libconfig.h>

#include "err.h"

struct lt_cfg_ctx {
    const char *file;   /* the file's path, for messages */
    const char *prefix; /* the group's path, for messages */
};

/* "FILE:LINE: setting 'PATH': what" into err; returns -1. s may be NULL (line 0). */
int lt_cfg_where(struct lt_err *err, const char *file, const config_setting_t *s, const char *path,
                 const char *what);

int lt_cfg_member_int(const struct lt_cfg_ctx *x, config_setting_t *g, const char *key,
                      long long min, long long max, int *out, struct lt_err *err);
int lt_cfg_member_long(const struct lt_cfg_ctx *x, config_setting_t *g, const char *key,
                       long long min, long long max, long *out, struct lt_err *err);

/* A number (integer or float) within [min, max]. */
int lt_cfg_member_double(const struct lt_cfg_ctx *x, config_setting_t *g, const char *key,
                         double min, double max, double *out, struct lt_err *err);

/* A string member copied into *out (a new allocation; the old value freed). */
int lt_cfg_member_str(const struct lt_cfg_ctx *x, config_setting_t *g, const char *key, char **out,
                      struct lt_err *err);

/* A name member (lt_cfg_name_ok) copied into buf[LT_NAME_MAX]. "" allowed when empty_ok. */
int lt_cfg_member_name(const struct lt_cfg_ctx *x, config_setting_t *g, const char *key,
                       int empty_ok, char *buf, struct lt_err *err);

/* An array or list of strings: a new NULL-terminated vector in *out (old one freed), its
 * length in *n. min/max bound the length. */
int lt_cfg_member_strv(const struct lt_cfg_ctx *x, config_setting_t *g, const char *key, int min,
                       int max, char ***out, int *n, struct lt_err *err);

/* Refuses members of g not named in keys (NULL-terminated). */
int lt_cfg_only_keys(const struct lt_cfg_ctx *x, config_setting_t *g, const char *const *keys,
                     struct lt_err *err);

void lt_cfg_strv_free(char **v);

#endif
