/*
 * api_validate.c -- see api_validate.h.
 *
 * Errors are collected rather than stopping at the first, so a client fixing a body
 * sees every problem in one answer; the response status is the most basic class among
 * them (a 400 hides no 422, but a client must fix the 400 first).
 */
#include "api_validate.h"

#include "api_payload.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct check {
    const struct lt_cfg *cfg;
    struct lt_api_task_spec *spec;
    struct lt_api_verr *verr;
    int64_t now_us;
    int unknown_type;
};

static void add_error(struct check *c, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add_error(struct check *c, int status, const char *field, const char *fmt, ...)
{
    char msg[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->verr->errors == NULL) {
        c->verr->errors = json_array();
        snprintf(c->verr->detail, sizeof(c->verr->detail), "%s: %s", field, msg);
    }
    json_array_append_new(c->verr->errors, json_pack("{ss ss}", "field", field, "message", msg));
    if (c->verr->status == 0 || status < c->verr->status) {
        c->verr->status = status;
    }
}

/* An integer field within [min, max]: 0 ok (stored), -1 reported. */
static int int_in(struct check *c, const char *field, json_t *v, long long min, long long max,
                  long long *out)
{
    if (!json_is_integer(v)) {
        add_error(c, 400, field, "must be an integer");
        return -1;
    }
    long long n = json_integer_value(v);
    if (n < min || n > max) {
        add_error(c, 422, field, "must be between %lld and %lld", min, max);
        return -1;
    }
    *out = n;
    return 0;
}

/* Payload faults are all 422: the payload is invalid for its type. */
static void payload_fault(void *ctx, const char *field, const char *message)
{
    add_error(ctx, 422, field, "%s", message);
}

/* ---- top-level fields ---- */

static void field_type(struct check *c, json_t *v)
{
    if (!json_is_string(v)) {
        add_error(c, 400, "type", "must be a string");
        return;
    }
    c->spec->type = lt_cfg_type(c->cfg, json_string_value(v));
    if (c->spec->type == NULL) {
        c->unknown_type = 1;
        add_error(c, 422, "type", "is not a configured task type");
    }
}

static void field_payload(struct check *c, json_t *v)
{
    if (!json_is_object(v)) {
        add_error(c, 400, "payload", "must be an object");
        return;
    }
    c->spec->payload = v;
}

static void field_queue(struct check *c, json_t *v)
{
    if (!json_is_string(v)) {
        add_error(c, 400, "queue", "must be a string");
    } else if (!lt_cfg_name_ok(json_string_value(v))) {
        add_error(c, 422, "queue", "must be 1-58 characters of A-Z a-z 0-9 _ . -");
    } else {
        snprintf(c->spec->queue, sizeof(c->spec->queue), "%s", json_string_value(v));
    }
}

static void field_priority(struct check *c, json_t *v)
{
    if (!json_is_string(v)) {
        add_error(c, 400, "priority", "must be a string");
    } else if ((c->spec->priority = lt_api_priority_parse(json_string_value(v))) < 0) {
        add_error(c, 422, "priority", "must be low, normal, high or urgent");
    }
}

static void field_max_retries(struct check *c, json_t *v)
{
    long long n;
    if (int_in(c, "max_retries", v, 0, LT_API_MAX_RETRIES, &n) == 0) {
        c->spec->max_retries = (int)n;
    }
}

static void field_timeout_s(struct check *c, json_t *v)
{
    long long n;
    if (int_in(c, "timeout_s", v, 1, LT_API_MAX_TIMEOUT_S, &n) == 0) {
        c->spec->timeout_s = (int)n;
    }
}

static void field_delay_s(struct check *c, json_t *v)
{
    long long n;
    if (int_in(c, "delay_s", v, 0, LT_API_MAX_DELAY_S, &n) == 0) {
        c->spec->delay_s = (int)n;
    }
}

static void field_run_at(struct check *c, json_t *v)
{
    int64_t us;
    if (!json_is_string(v)) {
        add_error(c, 400, "run_at", "must be an RFC 3339 date-time string");
    } else if (lt_api_rfc3339_parse(json_string_value(v), &us) < 0) {
        add_error(c, 422, "run_at", "must be an RFC 3339 date-time (2026-11-22T10:30:00Z)");
    } else if (us > c->now_us + (int64_t)LT_API_MAX_DELAY_S * 1000000) {
        add_error(c, 422, "run_at", "must be within %d seconds from now", LT_API_MAX_DELAY_S);
    } else {
        c->spec->run_at_us = us;
        c->spec->has_run_at = 1;
    }
}

static void field_callback_url(struct check *c, json_t *v)
{
    if (!json_is_string(v)) {
        add_error(c, 400, "callback_url", "must be a string");
        return;
    }
    const char *url = json_string_value(v);
    size_t n = json_string_length(v);
    /* The webhook sender enforces https and the allow list; here only the shape. */
    if (n > LT_API_CALLBACK_URL_MAX || strlen(url) != n) {
        add_error(c, 422, "callback_url", "must be at most %d bytes", LT_API_CALLBACK_URL_MAX);
    } else if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) {
        add_error(c, 422, "callback_url", "must be an http(s) URL");
    } else {
        c->spec->callback_url = url;
    }
}

/* Keys the service writes into metadata itself; a client must not forge them. */
static const char *const reserved_metadata[] = {"duration_ms", "retry_exhausted", "degraded_from",
                                                "worker"};

static void field_metadata(struct check *c, json_t *v)
{
    char field[64];

    if (!json_is_object(v)) {
        add_error(c, 400, "metadata", "must be an object");
        return;
    }
    for (size_t i = 0; i < sizeof(reserved_metadata) / sizeof(reserved_metadata[0]); i++) {
        if (json_object_get(v, reserved_metadata[i]) != NULL) {
            snprintf(field, sizeof(field), "metadata.%s", reserved_metadata[i]);
            add_error(c, 422, field, "is reserved for the service");
        }
    }
    size_t size = json_dumpb(v, NULL, 0, JSON_COMPACT);
    if (size > LT_API_METADATA_MAX) {
        add_error(c, 422, "metadata", "must serialise to at most %d bytes", LT_API_METADATA_MAX);
    }
    c->spec->metadata = v;
}

static void field_allow_degrade(struct check *c, json_t *v)
{
    if (!json_is_boolean(v)) {
        add_error(c, 400, "allow_degrade", "must be true or false");
    } else {
        c->spec->allow_degrade = json_is_true(v);
    }
}

/* Every field a create body may carry; anything else is a 400. `null` means absent
 * for the optional ones. */
static const struct {
    const char *name;
    int required;
    void (*read)(struct check *c, json_t *v);
} fields[] = {
    {"type", 1, field_type},
    {"payload", 1, field_payload},
    {"queue", 0, field_queue},
    {"priority", 0, field_priority},
    {"max_retries", 0, field_max_retries},
    {"timeout_s", 0, field_timeout_s},
    {"delay_s", 0, field_delay_s},
    {"run_at", 0, field_run_at},
    {"callback_url", 0, field_callback_url},
    {"metadata", 0, field_metadata},
    {"allow_degrade", 0, field_allow_degrade},
};

#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

int lt_api_validate_create(const struct lt_cfg *cfg, json_t *body, int64_t now_us,
                           struct lt_api_task_spec *spec, struct lt_api_verr *verr)
{
    struct check c = {cfg, spec, verr, now_us, 0};
    const char *key;
    json_t *v;

    memset(spec, 0, sizeof(*spec));
    memset(verr, 0, sizeof(*verr));
    spec->priority = -1;
    spec->max_retries = -1;
    spec->timeout_s = -1;
    spec->allow_degrade = 1;
    if (!json_is_object(body)) {
        add_error(&c, 400, "", "the body must be a JSON object");
        goto done;
    }
    json_object_foreach(body, key, v)
    {
        size_t i;
        for (i = 0; i < NFIELDS && strcmp(fields[i].name, key) != 0; i++) {
        }
        if (i == NFIELDS) {
            char field[80];
            snprintf(field, sizeof(field), "%.64s", key);
            add_error(&c, 400, field, "is not a known field");
        }
    }
    /* Table order: type first, because payload rules and defaults depend on it. */
    for (size_t i = 0; i < NFIELDS; i++) {
        v = json_object_get(body, fields[i].name);
        if (v == NULL || (json_is_null(v) && !fields[i].required)) {
            if (fields[i].required) {
                add_error(&c, 400, fields[i].name, "is required");
            }
            continue;
        }
        fields[i].read(&c, v);
    }
    if (spec->has_run_at && json_object_get(body, "delay_s") != NULL &&
        !json_is_null(json_object_get(body, "delay_s"))) {
        add_error(&c, 422, "run_at", "give delay_s or run_at, not both");
    }
    if (spec->type != NULL && spec->payload != NULL) {
        lt_api_payload_check(cfg, spec->type, spec->payload, payload_fault, &c);
    }
    if (spec->type != NULL) {
        if (spec->queue[0] == '\0') {
            snprintf(spec->queue, sizeof(spec->queue), "%s", spec->type->queue);
        }
        if (spec->priority < 0) {
            spec->priority = spec->type->priority;
        }
        if (spec->max_retries < 0) {
            spec->max_retries = spec->type->max_retries;
        }
        if (spec->timeout_s < 0) {
            spec->timeout_s = spec->type->timeout_s;
        }
    }
done:
    if (verr->status == 0) {
        return 0;
    }
    verr->code = verr->status == 400 ? "invalid_request"
                 : c.unknown_type    ? "unknown_type"
                                     : "validation_failed";
    return -1;
}

int lt_api_priority_parse(const char *name)
{
    static const char *const names[] = {"low", "normal", "high", "urgent"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

/* Reads exactly n digits. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char ch = (*p)[i];
        if (ch < '0' || ch > '9') {
            return -1;
        }
        v = v * 10 + (ch - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (the civil-from-days inverse). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int lt_api_rfc3339_parse(const char *text, int64_t *unix_us)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = text;
    int y, mo, d, h, mi, s, oh = 0, om = 0, sign = 0;
    int64_t frac = 0;

    if (digits(&p, 4, &y) < 0 || *p++ != '-' || digits(&p, 2, &mo) < 0 || *p++ != '-' ||
        digits(&p, 2, &d) < 0) {
        return -1;
    }
    if (*p != 'T' && *p != 't') {
        return -1;
    }
    p++;
    if (digits(&p, 2, &h) < 0 || *p++ != ':' || digits(&p, 2, &mi) < 0 || *p++ != ':' ||
        digits(&p, 2, &s) < 0) {
        return -1;
    }
    if (*p == '.') {
        int n = 0;
        p++;
        while (*p >= '0' && *p <= '9') {
            if (n < 6) {
                frac = frac * 10 + (*p - '0');
            }
            n++;
            p++;
        }
        if (n == 0) {
            return -1;
        }
        for (; n < 6; n++) {
            frac *= 10;
        }
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '-' ? -1 : 1;
        if (digits(&p, 2, &oh) < 0 || *p++ != ':' || digits(&p, 2, &om) < 0 || oh > 23 || om > 59) {
            return -1;
        }
    } else {
        return -1;
    }
    if (*p != '\0' || y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 60) {
        return -1;
    }
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[mo - 1] + (mo == 2 && leap)) {
        return -1;
    }
    if (s == 60) {
        s = 59; /* a leap second: PostgreSQL has none, the instant before is close enough */
    }
    int64_t secs =
        days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - sign * (oh * 3600 + om * 60);
    *unix_us = secs * 1000000 + frac;
    return 0;
}
