/*
 * test_auth.c -- JWT verification: tokens are made with libjwt itself (the alg-none
 * one by hand, as an attacker would) and checked against a pinned clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_auth.h"

#define SECRET "unit-test-secret-0123456789abcdef"
#define NOW 1800000000LL
#define LEEWAY 30

/* Claims: pass -1 for exp/nbf/iat to leave them out, NULL for sub/scope. */
static char *make_token(jwt_alg_t alg, const char *key, long exp, long nbf, long iat,
                        const char *sub, const char *scope)
{
    jwt_t *jwt = NULL;
    char *token;

    assert_int_equal(jwt_new(&jwt), 0);
    if (exp >= 0) {
        assert_int_equal(jwt_add_grant_int(jwt, "exp", exp), 0);
    }
    if (nbf >= 0) {
        assert_int_equal(jwt_add_grant_int(jwt, "nbf", nbf), 0);
    }
    if (iat >= 0) {
        assert_int_equal(jwt_add_grant_int(jwt, "iat", iat), 0);
    }
    if (sub != NULL) {
        assert_int_equal(jwt_add_grant(jwt, "sub", sub), 0);
    }
    if (scope != NULL) {
        assert_int_equal(jwt_add_grant(jwt, "scope", scope), 0);
    }
    assert_int_equal(jwt_set_alg(jwt, alg, (const unsigned char *)key, (int)strlen(key)), 0);
    token = jwt_encode_str(jwt);
    assert_non_null(token);
    jwt_free(jwt);
    return token;
}

static enum lt_api_auth_rc verify(const char *token, struct lt_api_identity *who)
{
    char header[4096];
    const char *why;
    snprintf(header, sizeof(header), "Bearer %s", token);
    return lt_api_auth_verify(header, SECRET, LEEWAY, NOW, who, &why);
}

static void expect_rc(char *token, enum lt_api_auth_rc want)
{
    struct lt_api_identity who;
    assert_int_equal(verify(token, &who), want);
    free(token);
}

static void test_valid_token(void **state)
{
    struct lt_api_identity who;
    (void)state;
    char *t = make_token(JWT_ALG_HS256, SECRET, NOW + 60, NOW - 10, NOW - 10, "acme", NULL);
    assert_int_equal(verify(t, &who), LT_API_AUTH_OK);
    assert_string_equal(who.tenant, "acme");
    assert_false(who.admin);
    free(t);
}

static void test_expired(void **state)
{
    (void)state;
    expect_rc(make_token(JWT_ALG_HS256, SECRET, NOW - LEEWAY - 1, -1, -1, "acme", NULL),
              LT_API_AUTH_INVALID);
    /* Within the leeway a just-expired token still passes (clock skew). */
    expect_rc(make_token(JWT_ALG_HS256, SECRET, NOW - LEEWAY + 5, -1, -1, "acme", NULL),
              LT_API_AUTH_OK);
}

static void test_not_yet_valid(void **state)
{
    (void)state;
    expect_rc(make_token(JWT_ALG_HS256, SECRET, NOW + 600, NOW + 300, -1, "acme", NULL),
              LT_API_AUTH_INVALID);
    expect_rc(make_token(JWT_ALG_HS256, SECRET, NOW + 600, -1, NOW + 300, "acme", NULL),
              LT_API_AUTH_INVALID);
    expect_rc(make_token(JWT_ALG_HS256, SECRET, NOW + 600, NOW + 5, NOW + 5, "acme", NULL),
              LT_API_AUTH_OK);
}

static void test_missing_claims(void **state)
{
    (void)state;
    expect_rc(make_token(JWT_ALG_HS256, SECRET, NOW + 60, -1, -1, NULL, NULL), LT_API_AUTH_INVALID);
    expect_rc(make_token(JWT_ALG_HS256, SECRET, -1, -1, -1, "acme", NULL), LT_API_AUTH_INVALID);
    expect_rc(make_token(JWT_ALG_HS256, SECRET, NOW + 60, -1, -1, "", NULL), LT_API_AUTH_INVALID);
}

static void test_sub_length(void **state)
{
    char sub[200];
    (void)state;
    memset(sub, 'x', sizeof(sub));
    sub[128] = '\0';
    expect_rc(make_token(JWT_ALG_HS256, SECRET, NOW + 60, -1, -1, sub, NULL), LT_API_AUTH_OK);
    sub[128] = 'x';
    sub[129] = '\0';
    expect_rc(make_token(JWT_ALG_HS256, SECRET, NOW + 60, -1, -1, sub, NULL), LT_API_AUTH_INVALID);
}

static void test_bad_signature(void **state)
{
    (void)state;
    expect_rc(make_token(JWT_ALG_HS256, "another-secret-entirely-0123456789", NOW + 60, -1, -1,
                         "acme", NULL),
              LT_API_AUTH_INVALID);
    /* A flipped byte in the signature of an otherwise valid token. */
    char *t = make_token(JWT_ALG_HS256, SECRET, NOW + 60, -1, -1, "acme", NULL);
    size_t n = strlen(t);
    t[n - 2] = t[n - 2] == 'A' ? 'B' : 'A';
    expect_rc(t, LT_API_AUTH_INVALID);
}

static void test_alg_none_refused(void **state)
{
    struct lt_api_identity who;
    (void)state;
    /* {"alg":"none","typ":"JWT"} . {"sub":"acme","exp":1800000060} . (no signature) */
    const char *none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
                       "eyJzdWIiOiJhY21lIiwiZXhwIjoxODAwMDAwMDYwfQ.";
    assert_int_equal(verify(none, &who), LT_API_AUTH_INVALID);
    /* The same with a made-up signature part. */
    const char *none_sig = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
                           "eyJzdWIiOiJhY21lIiwiZXhwIjoxODAwMDAwMDYwfQ.c2lnbmF0dXJl";
    assert_int_equal(verify(none_sig, &who), LT_API_AUTH_INVALID);
    /* And libjwt's own alg-none output. */
    jwt_t *jwt = NULL;
    assert_int_equal(jwt_new(&jwt), 0);
    jwt_add_grant(jwt, "sub", "acme");
    jwt_add_grant_int(jwt, "exp", NOW + 60);
    char *t = jwt_encode_str(jwt);
    jwt_free(jwt);
    assert_non_null(t);
    expect_rc(t, LT_API_AUTH_INVALID);
}

static void test_other_hmac_sizes_refused(void **state)
{
    (void)state;
    /* Signed with the right secret: only the algorithm is wrong. */
    expect_rc(make_token(JWT_ALG_HS384, SECRET, NOW + 60, -1, -1, "acme", NULL),
              LT_API_AUTH_INVALID);
    expect_rc(make_token(JWT_ALG_HS512, SECRET, NOW + 60, -1, -1, "acme", NULL),
              LT_API_AUTH_INVALID);
}

static void test_scope_admin(void **state)
{
    struct lt_api_identity who;
    (void)state;
    char *t = make_token(JWT_ALG_HS256, SECRET, NOW + 60, -1, -1, "ops", "read admin");
    assert_int_equal(verify(t, &who), LT_API_AUTH_OK);
    assert_true(who.admin);
    free(t);
    t = make_token(JWT_ALG_HS256, SECRET, NOW + 60, -1, -1, "ops", "administrator read");
    assert_int_equal(verify(t, &who), LT_API_AUTH_OK);
    assert_false(who.admin); /* a word, not a substring */
    free(t);
    t = make_token(JWT_ALG_HS256, SECRET, NOW + 60, -1, -1, "ops", "tasks:read");
    assert_int_equal(verify(t, &who), LT_API_AUTH_OK);
    assert_false(who.admin);
    free(t);
}

static void test_header_forms(void **state)
{
    struct lt_api_identity who;
    const char *why;
    (void)state;
    assert_int_equal(lt_api_auth_verify(NULL, SECRET, LEEWAY, NOW, &who, &why),
                     LT_API_AUTH_MISSING);
    assert_int_equal(lt_api_auth_verify("Basic Zm9vOmJhcg==", SECRET, LEEWAY, NOW, &who, &why),
                     LT_API_AUTH_MISSING);
    assert_int_equal(lt_api_auth_verify("Bearer ", SECRET, LEEWAY, NOW, &who, &why),
                     LT_API_AUTH_INVALID);
    assert_int_equal(lt_api_auth_verify("Bearer a.b.c", SECRET, LEEWAY, NOW, &who, &why),
                     LT_API_AUTH_INVALID);
    char *t = make_token(JWT_ALG_HS256, SECRET, NOW + 60, -1, -1, "acme", NULL);
    char header[2048];
    snprintf(header, sizeof(header), "bearer %s", t);
    assert_int_equal(lt_api_auth_verify(header, SECRET, LEEWAY, NOW, &who, &why), LT_API_AUTH_OK);
    /* No secret configured: nothing verifies. */
    assert_int_equal(lt_api_auth_verify(header, "", LEEWAY, NOW, &who, &why), LT_API_AUTH_INVALID);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_token),      cmocka_unit_test(test_expired),
        cmocka_unit_test(test_not_yet_valid),    cmocka_unit_test(test_missing_claims),
        cmocka_unit_test(test_sub_length),       cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_alg_none_refused), cmocka_unit_test(test_other_hmac_sizes_refused),
        cmocka_unit_test(test_scope_admin),      cmocka_unit_test(test_header_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
