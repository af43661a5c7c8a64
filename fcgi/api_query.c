/*
 * api_query.c -- see api_query.h.
 */
#include "api_query.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_validate.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Decodes s[0..n) into out (size cap). 0 ok, -1 malformed or too long. */
static int decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi, lo;
            if (i + 2 >= n || (hi = hexval(s[i + 1])) < 0 || (lo = hexval(s[i + 2])) < 0) {
                return -1;
            }
            c = (char)(hi * 16 + lo);
            if (c == '\0') {
                return -1;
            }
            i += 2;
        }
        if (o + 1 >= cap) {
            return -1;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

int lt_api_query_split(const char *query, struct lt_api_qparam *out, int max, char *msg,
                       size_t msglen)
{
    int count = 0;
    const char *p = query != NULL ? query : "";

    while (*p != '\0') {
        size_t n = strcspn(p, "&");
        if (n > 0) {
            const char *eq = memchr(p, '=', n);
            size_t klen = eq != NULL ? (size_t)(eq - p) : n;
            if (count == max) {
                snprintf(msg, msglen, "too many query parameters (at most %d)", max);
                return -1;
            }
            struct lt_api_qparam *qp = &out[count];
            if (decode(p, klen, qp->name, sizeof(qp->name)) < 0) {
                snprintf(msg, msglen, "a query parameter name is malformed or too long");
                return -1;
            }
            if (decode(eq != NULL ? eq + 1 : p + n, eq != NULL ? n - klen - 1 : 0, qp->value,
                       sizeof(qp->value)) < 0) {
                snprintf(msg, msglen, "query parameter '%s': malformed or too long", qp->name);
                return -1;
            }
            for (int i = 0; i < count; i++) {
                if (strcmp(out[i].name, qp->name) == 0) {
                    snprintf(msg, msglen, "query parameter '%s' given twice", qp->name);
                    return -1;
                }
            }
            count++;
        }
        p += n;
        if (*p == '&') {
            p++;
        }
    }
    return count;
}

int lt_api_status_ok(const char *s)
{
    static const char *const statuses[] = {"pending",   "running", "retry",
                                           "completed", "failed",  "cancelled"};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        if (strcmp(s, statuses[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* A decimal integer in [min, max]: 0 ok, -1 otherwise. */
static int int_param(const char *v, long min, long max, int *out)
{
    char *end;
    if (v[0] < '0' || v[0] > '9' || strlen(v) > 9) {
        return -1;
    }
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || *end != '\0' || n < min || n > max) {
        return -1;
    }
    *out = (int)n;
    return 0;
}

static int parse_statuses(const char *v, char *out, size_t cap)
{
    char word[16];
    size_t o = 0;

    out[o++] = '{';
    while (*v != '\0') {
        size_t n = strcspn(v, ",");
        if (n == 0 || n >= sizeof(word)) {
            return -1;
        }
        memcpy(word, v, n);
        word[n] = '\0';
        if (!lt_api_status_ok(word) || o + n + 2 >= cap) {
            return -1;
        }
        if (o > 1) {
            out[o++] = ',';
        }
        memcpy(out + o, word, n);
        o += n;
        v += n;
        if (*v == ',') {
            v++;
            if (*v == '\0') {
                return -1;
            }
        }
    }
    if (o == 1) {
        return -1;
    }
    out[o++] = '}';
    out[o] = '\0';
    return 0;
}

static int tenant_param(const char *v, char *out, size_t size)
{
    size_t n = strlen(v);
    if (n == 0 || n > LT_API_TENANT_MAX || n >= size) {
        return -1;
    }
    memcpy(out, v, n + 1);
    return 0;
}

int lt_api_list_query_parse(const char *query, struct lt_api_list_query *q, char *msg,
                            size_t msglen)
{
    struct lt_api_qparam params[LT_API_QUERY_PARAMS_MAX];
    int has_offset = 0;
    int n = lt_api_query_split(query, params, LT_API_QUERY_PARAMS_MAX, msg, msglen);

    memset(q, 0, sizeof(*q));
    q->limit = LT_API_LIST_LIMIT_DEFAULT;
    if (n < 0) {
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const char *k = params[i].name, *v = params[i].value;
        int bad = 0;
        if (strcmp(k, "status") == 0) {
            bad = parse_statuses(v, q->statuses, sizeof(q->statuses)) < 0;
        } else if (strcmp(k, "type") == 0 || strcmp(k, "queue") == 0) {
            bad = !lt_cfg_name_ok(v);
            if (!bad) {
                snprintf(k[0] == 't' ? q->type : q->queue, LT_NAME_MAX, "%s", v);
            }
        } else if (strcmp(k, "limit") == 0) {
            bad = int_param(v, 1, LT_API_LIST_LIMIT_MAX, &q->limit) < 0;
        } else if (strcmp(k, "offset") == 0) {
            bad = int_param(v, 0, LT_API_LIST_OFFSET_MAX, &q->offset) < 0;
            has_offset = 1;
        } else if (strcmp(k, "cursor") == 0) {
            bad = lt_api_cursor_decode(v, &q->cursor_us, q->cursor_id) < 0;
            q->has_cursor = 1;
        } else if (strcmp(k, "created_after") == 0) {
            bad = lt_api_rfc3339_parse(v, &q->after_us) < 0;
            q->has_after = 1;
        } else if (strcmp(k, "created_before") == 0) {
            bad = lt_api_rfc3339_parse(v, &q->before_us) < 0;
            q->has_before = 1;
        } else if (strcmp(k, "full") == 0) {
            bad = strcmp(v, "1") != 0 && strcmp(v, "0") != 0 && strcmp(v, "true") != 0 &&
                  strcmp(v, "false") != 0;
            q->full = v[0] == '1' || v[0] == 't';
        } else if (strcmp(k, "tenant") == 0) {
            bad = tenant_param(v, q->tenant, sizeof(q->tenant)) < 0;
            q->has_tenant = 1;
        } else {
            snprintf(msg, msglen, "unknown query parameter '%s'", k);
            return -1;
        }
        if (bad) {
            snprintf(msg, msglen, "query parameter '%s' has an invalid value", k);
            return -1;
        }
    }
    if (has_offset && q->has_cursor) {
        snprintf(msg, msglen, "give cursor or offset, not both");
        return -1;
    }
    return 0;
}

int lt_api_stats_query_parse(const char *query, int *has_tenant, char *tenant, size_t tenant_size,
                             char *msg, size_t msglen)
{
    struct lt_api_qparam params[LT_API_QUERY_PARAMS_MAX];
    int n = lt_api_query_split(query, params, LT_API_QUERY_PARAMS_MAX, msg, msglen);

    *has_tenant = 0;
    if (n < 0) {
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (strcmp(params[i].name, "tenant") != 0) {
            snprintf(msg, msglen, "unknown query parameter '%s'", params[i].name);
            return -1;
        }
        if (tenant_param(params[i].value, tenant, tenant_size) < 0) {
            snprintf(msg, msglen, "query parameter 'tenant' has an invalid value");
            return -1;
        }
        *has_tenant = 1;
    }
    return 0;
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void lt_api_cursor_encode(int64_t created_us, const char *id, char *buf)
{
    char plain[80];
    int n = snprintf(plain, sizeof(plain), "%" PRId64 ",%s", created_us, id);
    size_t o = 0;

    for (int i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)plain[i] << 16;
        if (i + 1 < n) {
            v |= (uint32_t)(unsigned char)plain[i + 1] << 8;
        }
        if (i + 2 < n) {
            v |= (uint32_t)(unsigned char)plain[i + 2];
        }
        buf[o++] = b64url[(v >> 18) & 63];
        buf[o++] = b64url[(v >> 12) & 63];
        if (i + 1 < n) {
            buf[o++] = b64url[(v >> 6) & 63];
        }
        if (i + 2 < n) {
            buf[o++] = b64url[v & 63];
        }
    }
    buf[o] = '\0';
}

int lt_api_cursor_decode(const char *cursor, int64_t *created_us, char *id_out)
{
    char plain[LT_API_CURSOR_MAX];
    size_t len = strlen(cursor), o = 0;
    uint32_t acc = 0;
    int bits = 0;
    uint8_t raw[16];

    if (len == 0 || len >= LT_API_CURSOR_MAX || len % 4 == 1) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        const char *pos = strchr(b64url, cursor[i]);
        if (pos == NULL || cursor[i] == '\0') {
            return -1;
        }
        acc = (acc << 6) | (uint32_t)(pos - b64url);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            plain[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    plain[o] = '\0';
    if (strlen(plain) != o) {
        return -1;
    }
    char *comma = strchr(plain, ',');
    if (comma == NULL || comma == plain) {
        return -1;
    }
    *comma = '\0';
    char *end;
    errno = 0;
    long long us = strtoll(plain, &end, 10);
    if (errno != 0 || *end != '\0' || (plain[0] != '-' && (plain[0] < '0' || plain[0] > '9'))) {
        return -1;
    }
    if (lt_uuid_parse(comma + 1, raw) < 0) {
        return -1;
    }
    *created_us = us;
    lt_uuid_format(raw, id_out);
    return 0;
}
