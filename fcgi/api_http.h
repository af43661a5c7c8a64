/*
 * api_http.h -- one HTTP exchange over FastCGI: the request as the CGI parameters
 * describe it, its body read within the configured limit and parsed as bounded JSON,
 * and the response written as a status line, headers and a body.
 *
 * Every error a client can see is an RFC 9457 problem (application/problem+json)
 * with a stable `code`; lt_api_send_problem() is the only way handlers produce one, so
 * the shape cannot drift. The response functions may be called once per request;
 * req->status records what was sent for the request log line.
 *
 * The request borrows every string from the FastCGI parameter array, which lives until
 * FCGX_Finish_r(); nothing here outlives the request.
 */
#ifndef LT_API_HTTP_H
#define LT_API_HTTP_H

#include <fcgiapp.h>
#include <jansson.h>
#include <stddef.h>

#include "cfg.h"
#include "uuid.h"

#define LT_API_PATH_MAX 1024    /* longer paths are 404: no route is near that long */
#define LT_API_TENANT_MAX 128   /* the JWT sub claim, 1..128 characters */
#define LT_API_HEADERS_MAX 1024 /* extra response header bytes a handler may add */

struct lt_api_req {
    FCGX_Request *fcgx;       /* NULL in unit tests: nothing is written */
    const struct lt_cfg *cfg; /* borrowed */

    const char *method;         /* REQUEST_METHOD */
    char path[LT_API_PATH_MAX]; /* without the query string */
    const char *query;          /* QUERY_STRING, "" when none */
    const char *content_type;   /* NULL when absent */
    const char *content_length; /* NULL when absent */
    const char *authorization;
    const char *if_none_match;
    const char *accept;
    const char *idempotency_key; /* the Idempotency-Key header, NULL when absent */

    char id[LT_UUID_STR_LEN]; /* the {id} of the path, canonical lowercase, or "" */

    /* Filled by authentication. */
    char tenant[LT_API_TENANT_MAX + 1];
    int admin;

    /* The response, for the log line. */
    int status;
    int responded;
};

/* Fills req from the FastCGI parameters of fcgx (borrowed). */
void lt_api_req_init(struct lt_api_req *req, FCGX_Request *fcgx, const struct lt_cfg *cfg);

/* 1 when the Content-Type's media type is mime (parameters such as charset allowed). */
int lt_api_media_type_is(const char *content_type, const char *mime);

/* 1 when the Accept header names mime explicitly. */
int lt_api_accepts(const struct lt_api_req *req, const char *mime);

/* Reads the body within cfg->api_max_body_bytes and parses it as JSON no deeper than
 * cfg->api_max_json_depth. On success returns a new reference; on failure answers the
 * problem itself (413 or 400) and returns NULL. */
json_t *lt_api_read_json(struct lt_api_req *req);

/* The nesting depth of the JSON text (brackets outside strings); pure, for the limit. */
int lt_api_json_depth(const char *text, size_t len);

/* Response writers. headers: NULL or extra "Name: value\r\n" lines (borrowed). */
void lt_api_send(struct lt_api_req *req, int status, const char *content_type, const char *headers,
                 const char *body, size_t len);
/* body: stolen. */
void lt_api_send_json(struct lt_api_req *req, int status, const char *headers, json_t *body);
void lt_api_send_problem(struct lt_api_req *req, int status, const char *code, const char *headers,
                         json_t *errors, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* The problem document itself (new reference), for tests and the writers above.
 * errors: stolen, may be NULL. */
json_t *lt_api_problem(int status, const char *code, const char *detail, json_t *errors);

/* The reason phrase of an HTTP status. */
const char *lt_api_reason(int status);

/* The two answers every database-backed handler shares. */
void lt_api_send_db_down(struct lt_api_req *req);
void lt_api_send_internal(struct lt_api_req *req);

#endif
