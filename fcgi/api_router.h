/*
 * api_router.h -- method + path to a handler, and the life of one request around it:
 * route, authenticate, run the handler, log one `http_request` line.
 *
 * The table in api_router.c is the whole HTTP surface of the API. A path that matches
 * no pattern is 404; a path that matches with another method is 405 with `Allow`; a
 * `{id}` segment that is not a UUID is 404 (no such task, whatever the method), so a
 * handler always receives a canonical lowercase id.
 */
#ifndef LT_API_ROUTER_H
#define LT_API_ROUTER_H

#include <fcgiapp.h>

#include "api_http.h"

typedef void (*lt_api_handler_fn)(struct lt_api_req *req);

enum lt_api_route_flags {
    LT_API_ROUTE_AUTH = 1, /* needs a valid token */
};

struct lt_api_route {
    const char *method;
    const char *pattern; /* literal segments and {id} */
    lt_api_handler_fn handler;
    int flags;
};

struct lt_api_match {
    int status; /* 200 matched, 404, 405 */
    const struct lt_api_route *route;
    char id[LT_UUID_STR_LEN]; /* "" when the pattern has none */
    char allow[64];           /* for 405: "GET, POST" */
};

/* Matches method and path against the table. Pure. */
void lt_api_route_match(const char *method, const char *path, struct lt_api_match *m);

/* Serves one accepted FastCGI request end to end (borrowed). */
void lt_api_serve(FCGX_Request *fcgx, const struct lt_cfg *cfg);

#endif
