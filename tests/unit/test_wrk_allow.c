/*
 * test_wrk_allow.c -- the http.request allow list as the worker applies it at run time
 * (lt_url_allowed, shared with the API): exact hosts in any case, "*.domain" for
 * subdomains only, any port, IP literals only when listed (in whatever form curl would
 * connect to them), and the URL tricks that read one way to a person and another to
 * the client: userinfo ("allowed@evil"), the allowed name in the query or fragment,
 * percent-encoding, a trailing dot; only http and https.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <string.h>

#include "urlallow.h"

static char *const allow[] = {"api.example.com", "*.svc.example.org", "127.0.0.1", "[::1]", NULL};

static int ok(const char *url)
{
    char why[256];
    int r = lt_url_allowed(url, allow, why, sizeof(why));
    if (!r) {
        assert_true(why[0] != '\0'); /* a refusal always says why */
    }
    return r;
}

static void test_exact_and_case(void **state)
{
    (void)state;
    assert_true(ok("https://api.example.com/v1/x"));
    assert_true(ok("http://api.example.com"));
    assert_true(ok("https://API.Example.COM/v1"));
    assert_true(ok("HTTPS://api.example.com/"));
    assert_false(ok("https://example.com/"));
    assert_false(ok("https://xapi.example.com/"));
    assert_false(ok("https://api.example.com.evil.net/"));
    assert_false(ok("https://sub.api.example.com/")); /* exact means exact */
}

static void test_wildcard(void **state)
{
    (void)state;
    assert_true(ok("https://a.svc.example.org/"));
    assert_true(ok("https://a.b.svc.example.org/"));
    assert_true(ok("https://A.SVC.Example.Org/"));
    assert_false(ok("https://svc.example.org/")); /* the domain itself is not a subdomain */
    assert_false(ok("https://evilsvc.example.org/"));
    assert_false(ok("https://svc.example.org.evil.net/"));
    assert_false(ok("https://a.svc.example.org.evil.net/"));
}

static void test_ports(void **state)
{
    (void)state;
    assert_true(ok("http://api.example.com:8080/x"));
    assert_true(ok("https://api.example.com:443/"));
    assert_true(ok("http://127.0.0.1:5000/hook"));
    assert_false(ok("http://api.example.com:99999/")); /* not a port: not a URL */
    assert_false(ok("http://evil.net:80/api.example.com"));
}

static void test_ip_literals(void **state)
{
    (void)state;
    assert_true(ok("http://127.0.0.1/"));
    assert_true(ok("http://[::1]:8000/"));
    /* Other spellings of 127.0.0.1 are judged as the address curl connects to. */
    assert_true(ok("http://2130706433/"));
    assert_true(ok("http://0x7f.1/"));
    assert_false(ok("http://127.0.0.2/"));
    assert_false(ok("http://10.0.0.1/"));
    assert_false(ok("http://[::2]/"));
    assert_false(ok("http://169.254.169.254/latest/meta-data/"));
}

static void test_userinfo_and_tricks(void **state)
{
    (void)state;
    assert_false(ok("http://api.example.com@evil.net/"));
    assert_false(ok("http://api.example.com:pw@evil.net/"));
    assert_false(ok("http://evil.net/?api.example.com"));
    assert_false(ok("http://evil.net/#api.example.com"));
    assert_false(ok("http://evil.net#@api.example.com/"));
    assert_false(ok("http://evil.net/api.example.com"));
    assert_false(ok("http://api.example.com%2f@evil.net/"));
    assert_false(ok("http://evil.net%2fapi.example.com/"));
    assert_false(ok("http://api.example.com./")); /* a trailing dot is another name */
    assert_true(ok("https://user:pw@api.example.com/"));
    /* Percent-encoded host: decoded by curl, judged decoded. */
    assert_true(ok("http://%61pi.example.com/"));
}

static void test_schemes_and_garbage(void **state)
{
    (void)state;
    assert_false(ok("ftp://api.example.com/"));
    assert_false(ok("file:///etc/passwd"));
    assert_false(ok("gopher://api.example.com/"));
    assert_false(ok("api.example.com/x")); /* no scheme */
    assert_false(ok(""));
    assert_false(ok("http://"));
    assert_false(ok("http://a b/"));
}

static void test_empty_list_refuses_all(void **state)
{
    (void)state;
    char *const none[] = {NULL};
    char why[128];
    assert_false(lt_url_allowed("https://api.example.com/", none, why, sizeof(why)));
    assert_false(lt_url_allowed("https://api.example.com/", NULL, why, sizeof(why)));
    assert_non_null(strstr(why, "api.example.com"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_and_case),
        cmocka_unit_test(test_wildcard),
        cmocka_unit_test(test_ports),
        cmocka_unit_test(test_ip_literals),
        cmocka_unit_test(test_userinfo_and_tricks),
        cmocka_unit_test(test_schemes_and_garbage),
        cmocka_unit_test(test_empty_list_refuses_all),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests_name("wrk_allow", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
