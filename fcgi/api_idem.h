/*
 * api_idem.h -- the pure half of Idempotency-Key (IETF httpapi draft): which keys are
 * acceptable, how a key is scoped, and the fingerprint of a request body.
 *
 * A key is scoped to the tenant (the unique index is (tenant, idempotency_key)) and to
 * the endpoint: the stored key is "<endpoint>:" + the client's key, so the same key on
 * another endpoint is another key. The fingerprint is the SHA-256 (hex) of the body
 * re-serialised canonically (sorted keys, no whitespace), so two bodies that differ
 * only in key order or spacing are the same request.
 */
#ifndef LT_API_IDEM_H
#define LT_API_IDEM_H

#include <jansson.h>
#include <stddef.h>

#define LT_API_IDEM_KEY_MAX 255
#define LT_API_IDEM_HASH_LEN 65 /* 64 hex digits + NUL */
#define LT_API_IDEM_SCOPED_MAX (LT_API_IDEM_KEY_MAX + 16)

/* 1 when key is 1..255 printable ASCII characters (what an HTTP field value may carry
 * unambiguously), else 0. */
int lt_api_idem_key_ok(const char *key);

/* out = endpoint ":" key. */
void lt_api_idem_scope(const char *endpoint, const char *key, char *out, size_t n);

/* The canonical body's SHA-256 as 64 lowercase hex digits. 0 ok, -1 out of memory. */
int lt_api_idem_hash(json_t *body, char out[LT_API_IDEM_HASH_LEN]);

#endif
