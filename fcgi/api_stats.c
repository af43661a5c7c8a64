/*
 * api_stats.c -- see api_stats.h. The numbers are computed by one statement in
 * api_store.c; this file decides whose tasks they cover.
 */
#include "api_stats.h"

#include <stdlib.h>
#include <string.h>

#include "api_query.h"
#include "api_store.h"
#include "api_tasks.h"

void lt_api_stats(struct lt_api_req *req)
{
    char tenant[LT_API_TENANT_MAX + 1];
    char msg[256];
    int has_tenant = 0;
    char *body = NULL;

    if (lt_api_stats_query_parse(req->query, &has_tenant, tenant, sizeof(tenant), msg,
                                 sizeof(msg)) < 0) {
        lt_api_send_problem(req, 400, "invalid_query", NULL, NULL, "%s", msg);
        goto out;
    }
    if (has_tenant && !req->admin) {
        lt_api_send_problem(req, 403, "forbidden", NULL, NULL,
                            "?tenant= needs a token with the admin scope");
        goto out;
    }
    const char *scope = has_tenant ? tenant : req->admin ? NULL : req->tenant;
    enum lt_api_store_rc rc = lt_api_store_stats(req->cfg, scope, &body);
    if (rc != LT_API_STORE_OK) {
        lt_api_send_store_failure(req, rc);
        goto out;
    }
    lt_api_send(req, 200, "application/json", NULL, body, strlen(body));
out:
    free(body);
}
