/*
 * api_validate.h -- the create body checked before it touches the database.
 *
 * Pure functions over a parsed JSON document and the configuration: no I/O, no clock
 * (the caller passes now), so every rule is unit-tested without a database.
 *
 * Two tables carry the rules and are where later issues extend them: the top-level
 * fields (name, reader) -- an unknown field is a 400 naming it -- and the payload
 * checks of the built-in types (llm.chat, http.request join them); a configured type
 * with no entry (an exec type) accepts any payload object.
 *
 * Status classes, as API.md's table has them: a body that is not an object, an unknown
 * field or a field of the wrong JSON type is 400 `invalid_request`; an unknown task
 * type is 422 `unknown_type`; a value of the right type that breaks a rule (a range,
 * a payload shape, a reserved metadata key) is 422 `validation_failed`. Every error
 * names its field (`payload.ms`, `metadata.worker`) in `errors`.
 */
#ifndef LT_API_VALIDATE_H
#define LT_API_VALIDATE_H

#include <jansson.h>
#include <stdint.h>

#include "cfg.h"

#define LT_API_MAX_RETRIES 100
#define LT_API_MAX_TIMEOUT_S 86400
#define LT_API_MAX_DELAY_S 31536000
#define LT_API_CALLBACK_URL_MAX 2048
#define LT_API_METADATA_MAX 16384 /* bytes of the compact serialisation */

/* A validated create request. Borrowed pointers point into the document. */
struct lt_api_task_spec {
    const struct lt_type_cfg *type; /* borrowed from the configuration */
    char queue[LT_NAME_MAX];
    int priority; /* 0..3 */
    int max_retries;
    int timeout_s;
    int64_t run_at_us; /* Unix microseconds; 0 with has_run_at = 0: now */
    int has_run_at;
    int delay_s;
    const char *callback_url; /* NULL when none */
    json_t *payload;          /* borrowed */
    json_t *metadata;         /* borrowed; NULL when none */
    int allow_degrade;        /* 0 when the body says "allow_degrade": false */
};

struct lt_api_verr {
    int status;       /* 0 when valid, else 400 or 422 */
    const char *code; /* invalid_request, unknown_type, validation_failed */
    char detail[256]; /* the first error, for people */
    json_t *errors;   /* new reference: [{field, message}], or NULL */
};

/* Checks body against the rules. Returns 0 and fills spec, or -1 and fills verr
 * (the caller json_decref()s verr->errors, or hands it to lt_api_problem). */
int lt_api_validate_create(const struct lt_cfg *cfg, json_t *body, int64_t now_us,
                           struct lt_api_task_spec *spec, struct lt_api_verr *verr);

/* RFC 3339 date-time ("2026-11-22T10:30:00.123Z", "...+02:00") to Unix microseconds.
 * 0 ok, -1 malformed or out of range. */
int lt_api_rfc3339_parse(const char *text, int64_t *unix_us);

/* "low"/"normal"/"high"/"urgent" to 0..3, or -1. */
int lt_api_priority_parse(const char *name);

#endif
