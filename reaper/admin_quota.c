/*
 * admin_quota.c -- see admin_quota.h.
 */
#include "admin_quota.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

#define TENANT_MAX 128
#define UNITS_MAX 1000000000000L
#define ACTIVE_MAX 100000000L
#define WINDOW_MAX 31622400L

/* Unset columns stay as they are; a new row gets NULL (the default) for them. */
static const char sql_set[] =
    "INSERT INTO tenant_quotas AS o (tenant, units_per_window, max_active, window_s)\n"
    "VALUES ($1, $3::bigint, $5::int, $7::int)\n"
    "ON CONFLICT (tenant) DO UPDATE SET\n"
    "  units_per_window = CASE WHEN $2::boolean THEN EXCLUDED.units_per_window\n"
    "                          ELSE o.units_per_window END,\n"
    "  max_active = CASE WHEN $4::boolean THEN EXCLUDED.max_active ELSE o.max_active END,\n"
    "  window_s = CASE WHEN $6::boolean THEN EXCLUDED.window_s ELSE o.window_s END,\n"
    "  updated_at = now()";

static const char sql_clear[] = "DELETE FROM tenant_quotas WHERE tenant = $1";

static const char sql_show[] =
    "SELECT o.units_per_window, o.max_active, o.window_s, lt_ts(o.updated_at),\n"
    "       o.tenant IS NOT NULL,\n"
    "       coalesce(o.units_per_window, $2::bigint), coalesce(o.max_active, $3::int),\n"
    "       coalesce(o.window_s, $4::int),\n"
    "       coalesce((SELECT sum(units) FROM quota_usage\n"
    "                  WHERE tenant = $1\n"
    "                    AND window_start = lt_quota_window_start(coalesce(o.window_s,\n"
    "                                                                      $4::int))), 0),\n"
    "       (SELECT count(*) FROM tasks\n"
    "         WHERE tenant = $1 AND status IN ('pending', 'running', 'retry'))\n"
    "  FROM (SELECT $1::text AS t) x LEFT JOIN tenant_quotas o ON o.tenant = x.t";

static int parse_limit(const char *opt, const char *v, long min, long max, struct lt_adm_limit *l,
                       FILE *err)
{
    char *end = NULL;

    l->given = 1;
    if (strcmp(v, "default") == 0) {
        l->clear = 1;
        return 0;
    }
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < min || n > max) {
        fprintf(err, "longtask-admin: %s wants %ld..%ld or \"default\", got '%s'\n", opt, min, max,
                v);
        return -1;
    }
    l->value = n;
    return 0;
}

int lt_adm_quota_parse(int argc, char **argv, struct lt_adm_quota_cmd *cmd, FILE *err)
{
    memset(cmd, 0, sizeof(*cmd));
    if (argc < 2) {
        fprintf(err, "longtask-admin: quota wants set, show or clear and a tenant\n");
        return -1;
    }
    if (strcmp(argv[0], "set") == 0) {
        cmd->action = LT_ADM_QUOTA_SET;
    } else if (strcmp(argv[0], "show") == 0) {
        cmd->action = LT_ADM_QUOTA_SHOW;
    } else if (strcmp(argv[0], "clear") == 0) {
        cmd->action = LT_ADM_QUOTA_CLEAR;
    } else {
        fprintf(err, "longtask-admin: unknown quota command '%s'\n", argv[0]);
        return -1;
    }
    cmd->tenant = argv[1];
    size_t tlen = strlen(cmd->tenant);
    if (tlen == 0 || tlen > TENANT_MAX) {
        fprintf(err, "longtask-admin: a tenant is 1..%d characters\n", TENANT_MAX);
        return -1;
    }
    for (int i = 2; i < argc; i++) {
        const char *opt = argv[i];
        struct lt_adm_limit *l = NULL;
        long max = 0, min = 0;
        if (strcmp(opt, "--units") == 0) {
            l = &cmd->units;
            max = UNITS_MAX;
        } else if (strcmp(opt, "--max-active") == 0) {
            l = &cmd->max_active;
            max = ACTIVE_MAX;
        } else if (strcmp(opt, "--window") == 0) {
            l = &cmd->window;
            min = 1;
            max = WINDOW_MAX;
        }
        if (l == NULL || cmd->action != LT_ADM_QUOTA_SET) {
            fprintf(err, "longtask-admin: unexpected argument '%s'\n", opt);
            return -1;
        }
        if (i + 1 >= argc) {
            fprintf(err, "longtask-admin: %s needs a value\n", opt);
            return -1;
        }
        if (parse_limit(opt, argv[++i], min, max, l, err) < 0) {
            return -1;
        }
    }
    if (cmd->action == LT_ADM_QUOTA_SET && !cmd->units.given && !cmd->max_active.given &&
        !cmd->window.given) {
        fprintf(err, "longtask-admin: quota set wants --units, --max-active or --window\n");
        return -1;
    }
    return 0;
}

/* The value parameter of a limit: NULL when cleared or not given. */
static const char *limit_param(const struct lt_adm_limit *l, char *buf, size_t n)
{
    if (!l->given || l->clear) {
        return NULL;
    }
    snprintf(buf, n, "%ld", l->value);
    return buf;
}

static json_t *column(PGresult *res, int col)
{
    return PQgetisnull(res, 0, col) ? json_null()
                                    : json_integer(strtoll(PQgetvalue(res, 0, col), NULL, 10));
}

static int show(PGconn *conn, const struct lt_cfg *cfg, const char *tenant, FILE *out)
{
    char units[24], active[16], window[16];
    const char *params[4] = {tenant, units, active, window};

    snprintf(units, sizeof(units), "%ld", cfg->quota_units_per_window);
    snprintf(active, sizeof(active), "%d", cfg->quota_max_active);
    snprintf(window, sizeof(window), "%d", cfg->quota_window_s);
    PGresult *res = lt_db_exec(conn, sql_show, 4, params);
    if (res == NULL) {
        return -1;
    }
    json_t *override = json_null();
    if (PQgetvalue(res, 0, 4)[0] == 't') {
        override = json_pack("{so so so ss}", "units_per_window", column(res, 0), "max_active",
                             column(res, 1), "window_s", column(res, 2), "updated_at",
                             PQgetvalue(res, 0, 3));
    }
    json_t *doc =
        json_pack("{ss so s{so so so} so so}", "tenant", tenant, "override", override, "effective",
                  "units_per_window", column(res, 5), "max_active", column(res, 6), "window_s",
                  column(res, 7), "units_used", column(res, 8), "active", column(res, 9));
    PQclear(res);
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (text == NULL) {
        return -1;
    }
    fprintf(out, "%s\n", text);
    free(text);
    return 0;
}

int lt_adm_quota_run(PGconn *conn, const struct lt_cfg *cfg, const struct lt_adm_quota_cmd *cmd,
                     FILE *out)
{
    char u[24], a[24], w[24];
    const char *tparam[1] = {cmd->tenant};

    switch (cmd->action) {
    case LT_ADM_QUOTA_SET: {
        const char *params[7] = {cmd->tenant,
                                 cmd->units.given ? "true" : "false",
                                 limit_param(&cmd->units, u, sizeof(u)),
                                 cmd->max_active.given ? "true" : "false",
                                 limit_param(&cmd->max_active, a, sizeof(a)),
                                 cmd->window.given ? "true" : "false",
                                 limit_param(&cmd->window, w, sizeof(w))};
        if (lt_db_run(conn, sql_set, 7, params) < 0) {
            return -1;
        }
        return show(conn, cfg, cmd->tenant, out);
    }
    case LT_ADM_QUOTA_CLEAR: {
        PGresult *res = lt_db_exec(conn, sql_clear, 1, tparam);
        if (res == NULL) {
            return -1;
        }
        int n = atoi(PQcmdTuples(res));
        PQclear(res);
        json_t *doc = json_pack("{ss sb}", "tenant", cmd->tenant, "cleared", n > 0);
        char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (text == NULL) {
            return -1;
        }
        fprintf(out, "%s\n", text);
        free(text);
        return 0;
    }
    case LT_ADM_QUOTA_SHOW:
    default:
        return show(conn, cfg, cmd->tenant, out);
    }
}
