/*
 * api_auth.c -- see api_auth.h.
 *
 * The claims are read back as one JSON document (jwt_get_grants_json) rather than
 * through jwt_get_grant_int, which answers 0 both for a missing claim and for a claim
 * of the wrong type; here a string `exp` or a fractional one is told apart and refused
 * or accepted deliberately.
 */
#include "api_auth.h"

#include <jwt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"

/* A NumericDate claim as whole seconds: 0 ok, 1 absent, -1 wrong type. */
static int numeric_date(json_t *claims, const char *name, int64_t *out)
{
    json_t *v = json_object_get(claims, name);

    if (v == NULL) {
        return 1;
    }
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v) && isfinite(json_real_value(v)) && fabs(json_real_value(v)) < 1e15) {
        *out = (int64_t)floor(json_real_value(v));
        return 0;
    }
    return -1;
}

static int has_word(const char *s, const char *word)
{
    size_t n = strlen(word);

    while (*s != '\0') {
        s += strspn(s, " ");
        size_t len = strcspn(s, " ");
        if (len == n && strncmp(s, word, n) == 0) {
            return 1;
        }
        s += len;
    }
    return 0;
}

static int scope_is_admin(json_t *scope)
{
    size_t i;
    json_t *item;

    if (json_is_string(scope)) {
        return has_word(json_string_value(scope), "admin");
    }
    if (json_is_array(scope)) {
        json_array_foreach(scope, i, item)
        {
            if (json_is_string(item) && has_word(json_string_value(item), "admin")) {
                return 1;
            }
        }
    }
    return 0;
}

enum lt_api_auth_rc lt_api_auth_verify(const char *authorization, const char *secret, int leeway_s,
                                       int64_t now_s, struct lt_api_identity *who, const char **why)
{
    enum lt_api_auth_rc rc = LT_API_AUTH_INVALID;
    jwt_t *jwt = NULL;
    char *grants = NULL;
    json_t *claims = NULL;
    int64_t exp = 0, nbf = 0, iat = 0;
    int r;

    memset(who, 0, sizeof(*who));
    *why = "ok";
    if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0) {
        *why = "no bearer token";
        rc = LT_API_AUTH_MISSING;
        goto out;
    }
    const char *token = authorization + 7;
    token += strspn(token, " ");
    if (token[0] == '\0' || strlen(token) > LT_API_TOKEN_MAX) {
        *why = token[0] == '\0' ? "empty token" : "token too long";
        goto out;
    }
    if (secret == NULL || secret[0] == '\0') {
        *why = "no secret configured";
        goto out;
    }
    if (jwt_decode(&jwt, token, (const unsigned char *)secret, (int)strlen(secret)) != 0 ||
        jwt == NULL) {
        *why = "malformed token or bad signature";
        goto out;
    }
    /* The header names the algorithm; only the configured one may have been checked. */
    if (jwt_get_alg(jwt) != JWT_ALG_HS256) {
        *why = "algorithm not HS256";
        goto out;
    }
    grants = jwt_get_grants_json(jwt, NULL);
    claims = grants != NULL ? json_loads(grants, 0, NULL) : NULL;
    if (!json_is_object(claims)) {
        *why = "claims are not an object";
        goto out;
    }
    if ((r = numeric_date(claims, "exp", &exp)) != 0) {
        *why = r > 0 ? "exp missing" : "exp not a number";
        goto out;
    }
    if (now_s >= exp + leeway_s) {
        *why = "expired";
        goto out;
    }
    if ((r = numeric_date(claims, "nbf", &nbf)) < 0 || (r == 0 && now_s + leeway_s < nbf)) {
        *why = r < 0 ? "nbf not a number" : "not yet valid (nbf)";
        goto out;
    }
    if ((r = numeric_date(claims, "iat", &iat)) < 0 || (r == 0 && now_s + leeway_s < iat)) {
        *why = r < 0 ? "iat not a number" : "issued in the future (iat)";
        goto out;
    }
    json_t *sub = json_object_get(claims, "sub");
    size_t sub_len = json_is_string(sub) ? json_string_length(sub) : 0;
    if (sub_len == 0 || sub_len > LT_API_TENANT_MAX || strlen(json_string_value(sub)) != sub_len) {
        *why = "sub missing or not 1..128 characters";
        goto out;
    }
    memcpy(who->tenant, json_string_value(sub), sub_len + 1);
    who->admin = scope_is_admin(json_object_get(claims, "scope"));
    rc = LT_API_AUTH_OK;
out:
    json_decref(claims);
    free(grants);
    jwt_free(jwt);
    return rc;
}

int lt_api_authenticate(struct lt_api_req *req)
{
    struct lt_api_identity who;
    const char *why;
    enum lt_api_auth_rc rc =
        lt_api_auth_verify(req->authorization, req->cfg->jwt_secret, req->cfg->jwt_leeway_s,
                           (int64_t)time(NULL), &who, &why);
    if (rc == LT_API_AUTH_OK) {
        memcpy(req->tenant, who.tenant, sizeof(req->tenant));
        req->admin = who.admin;
        return 0;
    }
    lt_log_info("auth_refused", json_pack("{ss}", "reason", why), "request not authenticated");
    if (rc == LT_API_AUTH_MISSING) {
        lt_api_send_problem(req, 401, "unauthorized", "WWW-Authenticate: Bearer\r\n", NULL,
                            "an Authorization: Bearer token is required");
    } else {
        lt_api_send_problem(req, 401, "invalid_token",
                            "WWW-Authenticate: Bearer error=\"invalid_token\"\r\n", NULL,
                            "the token is not valid: %s", why);
    }
    return -1;
}
