/*
 * api_auth.h -- who is calling: the Bearer JWT of the Authorization header, verified
 * with libjwt against the shared HS256 secret.
 *
 * libjwt decodes and checks the signature; everything else is insisted on here,
 * because libjwt 1.10 would otherwise accept what the header claims: the algorithm
 * must be exactly HS256 (never "none", never another HMAC size), `exp` is required,
 * `nbf` and `iat` are honoured when present (all within the configured leeway), and
 * `sub` (1..128 characters) names the tenant. A `scope` claim (a space-separated
 * string, or an array of strings) holding the word `admin` grants cross-tenant reads.
 *
 * Pure apart from libjwt: the clock is a parameter, so tests pin it.
 */
#ifndef LT_API_AUTH_H
#define LT_API_AUTH_H

#include <stdint.h>

#include "api_http.h"

#define LT_API_TOKEN_MAX 8192 /* longer Authorization values are refused unread */

enum lt_api_auth_rc {
    LT_API_AUTH_OK = 0,
    LT_API_AUTH_MISSING = 1, /* no Authorization header, or not a Bearer one */
    LT_API_AUTH_INVALID = 2, /* a token was given and is not acceptable */
};

struct lt_api_identity {
    char tenant[LT_API_TENANT_MAX + 1];
    int admin;
};

/* Verifies an Authorization header value (may be NULL). why: a short reason for the
 * log, never the token. */
enum lt_api_auth_rc lt_api_auth_verify(const char *authorization, const char *secret, int leeway_s,
                                       int64_t now_s, struct lt_api_identity *who,
                                       const char **why);

/* Authenticates req: fills req->tenant/admin and returns 0, or answers 401 and
 * returns -1. */
int lt_api_authenticate(struct lt_api_req *req);

#endif
