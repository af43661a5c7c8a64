/*
 * api_query.h -- query strings: decoding (application/x-www-form-urlencoded), the
 * parameters of the task list and of stats, and the list's opaque cursor.
 *
 * Pure: no I/O. An unknown parameter, a repeated one, a malformed escape or a value
 * out of range is refused with a message naming the parameter (the caller answers 400),
 * so a typo such as `?stauts=failed` never silently returns everything.
 *
 * The cursor is base64url (no padding) of "created_at_micros,id" of the last row of a
 * page. Paging walks the keyset (created_at DESC, id DESC): rows created while a client
 * pages sort before the cursor and neither shift nor repeat the rows after it.
 */
#ifndef LT_API_QUERY_H
#define LT_API_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "api_http.h"
#include "cfg.h"
#include "uuid.h"

#define LT_API_QUERY_PARAMS_MAX 32
#define LT_API_QUERY_VALUE_MAX 1024
#define LT_API_LIST_LIMIT_DEFAULT 50
#define LT_API_LIST_LIMIT_MAX 200
#define LT_API_LIST_OFFSET_MAX 100000 /* deeper pages must use the cursor */
#define LT_API_CURSOR_MAX 128

struct lt_api_qparam {
    char name[64];
    char value[LT_API_QUERY_VALUE_MAX];
};

/* Splits and decodes query into at most max pairs. Returns the count, or -1 with msg
 * filled (malformed escape, too many, too long, repeated name, NUL byte). */
int lt_api_query_split(const char *query, struct lt_api_qparam *out, int max, char *msg,
                       size_t msglen);

struct lt_api_list_query {
    char statuses[160];      /* PostgreSQL array literal "{pending,retry}", "" = all */
    char type[LT_NAME_MAX];  /* "" = all */
    char queue[LT_NAME_MAX]; /* "" = all */
    int limit;
    int offset;
    int has_cursor;
    int64_t cursor_us;
    char cursor_id[LT_UUID_STR_LEN];
    int has_after, has_before;
    int64_t after_us, before_us;
    int full;
    int has_tenant;
    char tenant[LT_API_TENANT_MAX + 1];
};

/* Parses the list query. 0 ok, -1 with msg. */
int lt_api_list_query_parse(const char *query, struct lt_api_list_query *q, char *msg,
                            size_t msglen);

/* Parses the stats query (only `tenant`). 0 ok, -1 with msg. */
int lt_api_stats_query_parse(const char *query, int *has_tenant, char *tenant, size_t tenant_size,
                             char *msg, size_t msglen);

/* The cursor of a row; buf holds LT_API_CURSOR_MAX bytes. */
void lt_api_cursor_encode(int64_t created_us, const char *id, char *buf);

/* 0 ok, -1 malformed. id_out holds LT_UUID_STR_LEN bytes (canonical lowercase). */
int lt_api_cursor_decode(const char *cursor, int64_t *created_us, char *id_out);

/* 1 when s is one of the six task statuses. */
int lt_api_status_ok(const char *s);

#endif
