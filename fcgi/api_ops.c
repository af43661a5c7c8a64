/*
 * api_ops.c -- see api_ops.h.
 */
#include "api_ops.h"

#include <string.h>

#include "api_store.h"
#include "migrations.h"

void lt_api_healthz(struct lt_api_req *req)
{
    lt_api_send(req, 200, "text/plain; charset=utf-8", NULL, "ok", 2);
}

void lt_api_readyz(struct lt_api_req *req)
{
    int version = -1;

    enum lt_api_store_rc rc = lt_api_store_schema(req->cfg, &version);
    if (rc != LT_API_STORE_OK) {
        lt_api_send_problem(req, 503, "database_unavailable", "Retry-After: 2\r\n", NULL,
                            "the database is unreachable");
    } else if (version != lt_schema_version) {
        lt_api_send_problem(req, 503, "schema_outdated", "Retry-After: 10\r\n", NULL,
                            "the database schema is at version %d, this build needs %d", version,
                            lt_schema_version);
    } else {
        lt_api_send(req, 200, "text/plain; charset=utf-8", NULL, "ok", 2);
    }
}
