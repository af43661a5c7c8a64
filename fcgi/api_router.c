/*
 * api_router.c -- see api_router.h.
 *
 * Matching walks the path segment by segment against each pattern; with a handful of
 * routes a linear table is both the fastest and the easiest to read. Later endpoints
 * (batch, quota, metrics) are one line each here.
 */
#include "api_router.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api_auth.h"
#include "api_batch.h"
#include "api_ops.h"
#include "api_quota_http.h"
#include "api_stats.h"
#include "api_tasks.h"
#include "log.h"
#include "uuid.h"

/* Allow lists a path's methods in table order: keep GET first for each path. */
static const struct lt_api_route routes[] = {
    {"GET", "/api/v1/tasks", lt_api_task_list, LT_API_ROUTE_AUTH},
    {"POST", "/api/v1/tasks", lt_api_task_create, LT_API_ROUTE_AUTH},
    {"POST", "/api/v1/tasks/batch", lt_api_task_batch, LT_API_ROUTE_AUTH},
    {"GET", "/api/v1/tasks/{id}", lt_api_task_get, LT_API_ROUTE_AUTH},
    {"DELETE", "/api/v1/tasks/{id}", lt_api_task_cancel, LT_API_ROUTE_AUTH},
    {"POST", "/api/v1/tasks/{id}/retry", lt_api_task_retry, LT_API_ROUTE_AUTH},
    {"GET", "/api/v1/tasks/{id}/events", lt_api_task_events, LT_API_ROUTE_AUTH},
    {"GET", "/api/v1/stats", lt_api_stats, LT_API_ROUTE_AUTH},
    {"GET", "/api/v1/quota", lt_api_quota_get, LT_API_ROUTE_AUTH},
    {"POST", "/api/v1/quota/check", lt_api_quota_check, LT_API_ROUTE_AUTH},
    {"GET", "/healthz", lt_api_healthz, 0},
    {"GET", "/readyz", lt_api_readyz, 0},
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* 1 when path fits pattern; *bad_id set when it fits but {id} is not a UUID. */
static int fits(const char *pattern, const char *path, char *id, int *bad_id)
{
    const char *p = pattern, *s = path;

    while (*p != '\0' && *s != '\0') {
        if (*p == '/' || *s == '/') {
            if (*p++ != *s++) {
                return 0;
            }
            continue;
        }
        size_t plen = strcspn(p, "/"), slen = strcspn(s, "/");
        if (plen == 4 && strncmp(p, "{id}", 4) == 0) {
            uint8_t raw[16];
            char text[LT_UUID_STR_LEN];
            if (slen == LT_UUID_STR_LEN - 1) {
                memcpy(text, s, slen);
                text[slen] = '\0';
            }
            if (slen != LT_UUID_STR_LEN - 1 || lt_uuid_parse(text, raw) < 0) {
                *bad_id = 1;
                id[0] = '\0';
            } else {
                lt_uuid_format(raw, id);
            }
        } else if (plen != slen || strncmp(p, s, plen) != 0) {
            return 0;
        }
        p += plen;
        s += slen;
    }
    return *p == '\0' && *s == '\0';
}

void lt_api_route_match(const char *method, const char *path, struct lt_api_match *m)
{
    memset(m, 0, sizeof(*m));
    m->status = 404;
    for (size_t i = 0; i < NROUTES; i++) {
        char id[LT_UUID_STR_LEN] = "";
        int bad_id = 0;
        if (!fits(routes[i].pattern, path, id, &bad_id)) {
            continue;
        }
        if (bad_id) {
            if (m->status == 405) {
                continue; /* a literal segment (tasks/batch) matched with another method */
            }
            m->status = 404;
            m->route = NULL;
            m->allow[0] = '\0';
            return;
        }
        if (strcmp(routes[i].method, method) == 0) {
            m->status = 200;
            m->route = &routes[i];
            memcpy(m->id, id, sizeof(m->id));
            return;
        }
        m->status = 405;
        size_t n = strlen(m->allow);
        snprintf(m->allow + n, sizeof(m->allow) - n, "%s%s", n > 0 ? ", " : "", routes[i].method);
    }
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

void lt_api_serve(FCGX_Request *fcgx, const struct lt_cfg *cfg)
{
    struct lt_api_req req;
    struct lt_api_match m;
    double start = mono_ms();

    /* A request's info lines (a create logs one, then the request line) leave in one
     * write, after the answer; warnings and errors still go at once (log.h). */
    lt_log_hold();
    lt_api_req_init(&req, fcgx, cfg);
    lt_api_route_match(req.method, req.path, &m);
    if (m.status == 404) {
        lt_api_send_problem(&req, 404, "not_found", NULL, NULL, "no such resource");
    } else if (m.status == 405) {
        char headers[96];
        snprintf(headers, sizeof(headers), "Allow: %s\r\n", m.allow);
        lt_api_send_problem(&req, 405, "method_not_allowed", headers, NULL,
                            "%s is not allowed here; use %s", req.method, m.allow);
    } else if (!(m.route->flags & LT_API_ROUTE_AUTH) || lt_api_authenticate(&req) == 0) {
        memcpy(req.id, m.id, sizeof(req.id));
        m.route->handler(&req);
        if (!req.responded) {
            lt_log_error("handler_no_response", json_pack("{ss}", "path", req.path),
                         "a handler returned without answering");
            lt_api_send_internal(&req);
        }
    }
    double ms = mono_ms() - start;
    /* A path is whatever the client sent; the log takes it only when it is UTF-8. */
    json_t *path = json_string(req.path);
    lt_log_info("http_request",
                json_pack("{ss so si sf s:s?}", "method", req.method, "path",
                          path != NULL ? path : json_string("(not UTF-8)"), "status", req.status,
                          "duration_ms", (double)(long)(ms * 1000) / 1000, "tenant",
                          req.tenant[0] != '\0' ? req.tenant : NULL),
                "%s answered %d", req.method, req.status);
    lt_log_release();
}
