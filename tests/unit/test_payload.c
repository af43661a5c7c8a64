/*
 * test_payload.c -- the payload rules of each handler (api_payload.c) and the URL allow
 * list they share with the worker (common/urlallow.c): every rule names its field, a
 * configured type is checked by its handler's rules, and the allow list judges the host
 * the HTTP client would really connect to.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_payload.h"
#include "cfg.h"
#include "urlallow.h"

static struct lt_cfg cfg;

static int setup(void **state)
{
    (void)state;
    char path[] = "/tmp/lt-test-payload-XXXXXX";
    struct lt_err err;
    const char *text =
        "providers = ( { name = \"main\"; }, { name = \"backup\"; } );\n"
        "http = { allow_hosts = [\"api.example.com\", \"*.example.org\", \"127.0.0.1\"]; };\n"
        "types = ( { name = \"summarise\"; handler = \"llm.chat\"; },\n"
        "          { name = \"grade\"; handler = \"exec\"; command = [\"/bin/true\"]; } );\n";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        return -1;
    }
    close(fd);
    int rc = lt_cfg_load(&cfg, path, &err);
    unlink(path);
    if (rc < 0) {
        fprintf(stderr, "%s\n", err.msg);
    }
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    lt_cfg_free(&cfg);
    return 0;
}

struct found {
    char fields[16][96];
    int n;
};

static void collect(void *ctx, const char *field, const char *message)
{
    struct found *f = ctx;
    assert_true(message[0] != '\0');
    if (f->n < 16) {
        snprintf(f->fields[f->n++], sizeof(f->fields[0]), "%s", field);
    }
}

static struct found check(const char *type, const char *payload)
{
    struct found f = {.n = 0};
    json_t *doc = json_loads(payload, 0, NULL);
    assert_non_null(doc);
    const struct lt_type_cfg *t = lt_cfg_type(&cfg, type);
    assert_non_null(t);
    lt_api_payload_check(&cfg, t, doc, collect, &f);
    json_decref(doc);
    return f;
}

static void ok(const char *type, const char *payload)
{
    struct found f = check(type, payload);
    if (f.n != 0) {
        fail_msg("%s %s: unexpected fault on %s", type, payload, f.fields[0]);
    }
}

static void refused(const char *type, const char *payload, const char *field)
{
    struct found f = check(type, payload);
    for (int i = 0; i < f.n; i++) {
        if (strcmp(f.fields[i], field) == 0) {
            return;
        }
    }
    fail_msg("%s %s: no fault named %s (%d faults)", type, payload, field, f.n);
}

static void test_llm_chat(void **state)
{
    (void)state;
    ok("llm.chat", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}");
    ok("llm.chat", "{\"messages\": [{\"role\": \"system\", \"content\": \"s\"},"
                   " {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"x\"}]},"
                   " {\"role\": \"assistant\", \"content\": null}],"
                   " \"model\": \"m\", \"provider\": \"backup\", \"temperature\": 0.2,"
                   " \"top_p\": 1, \"max_tokens\": 100, \"stream\": true,"
                   " \"response_format\": {\"type\": \"json_object\"}, \"stop\": [\"\\n\"]}");
    refused("llm.chat", "{}", "payload.messages");
    refused("llm.chat", "{\"messages\": []}", "payload.messages");
    refused("llm.chat", "{\"messages\": \"hi\"}", "payload.messages");
    refused("llm.chat", "{\"messages\": [\"hi\"]}", "payload.messages[0]");
    refused("llm.chat",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"},"
            " {\"role\": \"robot\", \"content\": \"b\"}]}",
            "payload.messages[1].role");
    refused("llm.chat", "{\"messages\": [{\"role\": \"user\"}]}", "payload.messages[0].content");
    refused("llm.chat", "{\"messages\": [{\"role\": \"user\", \"content\": 5}]}",
            "payload.messages[0].content");
    const char *m = "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}], ";
    char buf[256];
    struct {
        const char *extra, *field;
    } bad[] = {
        {"\"temperature\": 3", "payload.temperature"},
        {"\"temperature\": \"hot\"", "payload.temperature"},
        {"\"top_p\": -0.1", "payload.top_p"},
        {"\"max_tokens\": 0", "payload.max_tokens"},
        {"\"max_tokens\": 1.5", "payload.max_tokens"},
        {"\"stream\": \"yes\"", "payload.stream"},
        {"\"model\": \"\"", "payload.model"},
        {"\"provider\": \"nope\"", "payload.provider"},
        {"\"response_format\": \"json\"", "payload.response_format"},
        {"\"stop\": 3", "payload.stop"},
        {"\"api_key\": \"sk-x\"", "payload.api_key"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(buf, sizeof(buf), "%s%s}", m, bad[i].extra);
        refused("llm.chat", buf, bad[i].field);
    }
}

static void test_configured_type_uses_its_handlers_rules(void **state)
{
    (void)state;
    refused("summarise", "{}", "payload.messages");
    ok("summarise", "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}");
    ok("grade", "{\"anything\": [1, 2, 3]}"); /* exec: any object, to stdin only */
}

static void test_http_request(void **state)
{
    (void)state;
    ok("http.request", "{\"url\": \"https://api.example.com/v1/x?y=1\"}");
    ok("http.request", "{\"method\": \"POST\", \"url\": \"http://a.b.example.org:8080/\","
                       " \"headers\": {\"X-Trace\": \"1\"}, \"body\": {\"k\": 1}}");
    ok("http.request", "{\"url\": \"http://127.0.0.1:9/x\"}");
    refused("http.request", "{}", "payload.url");
    refused("http.request", "{\"url\": \"https://evil.example.net/\"}", "payload.url");
    refused("http.request", "{\"url\": \"https://example.org/\"}", "payload.url"); /* not *. */
    refused("http.request", "{\"url\": \"ftp://api.example.com/\"}", "payload.url");
    refused("http.request", "{\"url\": \"not a url\"}", "payload.url");
    refused("http.request", "{\"url\": \"https://api.example.com/\", \"method\": \"TRACE\"}",
            "payload.method");
    refused("http.request",
            "{\"url\": \"https://api.example.com/\", \"headers\": {\"X\": \"a\\r\\nB: c\"}}",
            "payload.headers.X");
    refused("http.request",
            "{\"url\": \"https://api.example.com/\", \"headers\": {\"Bad Name\": \"a\"}}",
            "payload.headers.Bad Name");
    refused("http.request", "{\"url\": \"https://api.example.com/\", \"headers\": [1]}",
            "payload.headers");
    refused("http.request", "{\"url\": \"https://api.example.com/\", \"timeout\": 5}",
            "payload.timeout");
}

static void test_url_allow_list_judges_the_real_host(void **state)
{
    (void)state;
    char *allow[] = {"api.example.com", "*.example.org", NULL};
    char why[256];
    assert_true(lt_url_allowed("https://API.Example.COM/x", allow, why, sizeof(why)));
    assert_true(lt_url_allowed("https://deep.sub.example.org/", allow, why, sizeof(why)));
    /* userinfo: the host is evil.example.net, whatever precedes the @ */
    assert_false(
        lt_url_allowed("https://api.example.com@evil.example.net/", allow, why, sizeof(why)));
    assert_non_null(strstr(why, "evil.example.net"));
    assert_false(
        lt_url_allowed("https://evil.example.net/?api.example.com", allow, why, sizeof(why)));
    assert_false(
        lt_url_allowed("https://evil.example.net/#api.example.com", allow, why, sizeof(why)));
    assert_false(lt_url_allowed("https://api.example.com.evil.net/", allow, why, sizeof(why)));
    assert_false(lt_url_allowed("https://notexample.org/", allow, why, sizeof(why)));
    assert_false(lt_url_allowed("file:///etc/passwd", allow, why, sizeof(why)));
    assert_false(lt_url_allowed("https://api.example.com/", NULL, why, sizeof(why)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llm_chat),
        cmocka_unit_test(test_configured_type_uses_its_handlers_rules),
        cmocka_unit_test(test_http_request),
        cmocka_unit_test(test_url_allow_list_judges_the_real_host),
    };
    return cmocka_run_group_tests_name("payload", tests, setup, teardown);
}
