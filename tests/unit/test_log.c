/*
 * test_log.c -- the JSON line logger as the processes see it on stderr: one parseable
 * object per line with the writer's pid; held lines appear only at release (or with a
 * warning), whole, in order, and never more than PIPE_BUF bytes a write; a forked child
 * stamps its own pid and does not write what its parent had gathered.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

static int saved_stderr = -1;
static int pipe_rd = -1;

/* stderr goes into a pipe the test reads (non-blocking) until it is restored. */
static void capture(void)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    saved_stderr = dup(STDERR_FILENO);
    assert_true(saved_stderr >= 0);
    assert_true(dup2(fds[1], STDERR_FILENO) >= 0);
    close(fds[1]);
    pipe_rd = fds[0];
}

static void restore(void)
{
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    close(pipe_rd);
    saved_stderr = pipe_rd = -1;
}

/* What is in the pipe now; the caller frees. Reads with a zero timeout. */
static char *drain(void)
{
    static char buf[1 << 16];
    size_t len = 0;
    for (;;) {
        fd_set rd;
        struct timeval tv = {0, 0};
        FD_ZERO(&rd);
        FD_SET(pipe_rd, &rd);
        if (select(pipe_rd + 1, &rd, NULL, NULL, &tv) <= 0) {
            break;
        }
        ssize_t n = read(pipe_rd, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    return strdup(buf);
}

static int count_lines(const char *text)
{
    int n = 0;
    for (const char *p = text; *p != '\0'; p++) {
        n += *p == '\n';
    }
    return n;
}

/* Every line parses as a JSON object whose pid is pid; returns how many. */
static int check_lines(const char *text, long pid)
{
    int n = 0;
    const char *p = text;
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        json_error_t err;
        json_t *o = json_loadb(p, (size_t)(nl - p), 0, &err);
        assert_non_null(o);
        assert_int_equal(json_integer_value(json_object_get(o, "pid")), pid);
        json_decref(o);
        n++;
        p = nl + 1;
    }
    return n;
}

static void test_plain_lines_are_written_at_once(void **state)
{
    (void)state;
    capture();
    lt_log_info("one", json_pack("{si}", "n", 1), "first");
    lt_log_info("two", NULL, "second %d", 2);
    char *out = drain();
    restore();
    assert_int_equal(check_lines(out, (long)getpid()), 2);
    assert_non_null(strstr(out, "\"event\":\"one\""));
    assert_non_null(strstr(out, "\"msg\":\"second 2\""));
    free(out);
}

static void test_held_lines_wait_for_release(void **state)
{
    (void)state;
    capture();
    lt_log_hold();
    lt_log_info("held", NULL, "a");
    lt_log_info("held", NULL, "b");
    char *before = drain();
    lt_log_release();
    char *after = drain();
    restore();
    assert_string_equal(before, "");
    assert_int_equal(check_lines(after, (long)getpid()), 2);
    assert_true(strstr(after, "\"msg\":\"a\"") < strstr(after, "\"msg\":\"b\""));
    free(before);
    free(after);
}

static void test_warning_is_written_with_what_came_before(void **state)
{
    (void)state;
    capture();
    lt_log_hold();
    lt_log_info("held", NULL, "before");
    lt_log_warn("trouble", NULL, "now");
    lt_log_info("held", NULL, "after");
    char *mid = drain();
    lt_log_release();
    char *rest = drain();
    restore();
    assert_int_equal(count_lines(mid), 2);
    assert_true(strstr(mid, "before") < strstr(mid, "trouble"));
    assert_int_equal(count_lines(rest), 1);
    assert_non_null(strstr(rest, "after"));
    free(mid);
    free(rest);
}

static void test_many_held_lines_are_whole_and_in_order(void **state)
{
    (void)state;
    capture();
    lt_log_hold();
    for (int i = 0; i < 200; i++) { /* ~30 KB: several writes of at most PIPE_BUF */
        lt_log_info("bulk", json_pack("{si}", "i", i), "line %d of a long tick", i);
    }
    lt_log_release();
    char *out = drain();
    restore();
    assert_int_equal(check_lines(out, (long)getpid()), 200);
    const char *p = out;
    for (int i = 0; i < 200; i++) {
        char want[32];
        snprintf(want, sizeof(want), "\"i\":%d}", i);
        const char *at = strstr(p, want);
        assert_non_null(at);
        p = at;
    }
    free(out);
}

static void test_child_stamps_its_own_pid(void **state)
{
    (void)state;
    capture();
    lt_log_info("parent", NULL, "before fork"); /* the parent's pid is cached now */
    char *first = drain();
    lt_log_hold();
    lt_log_info("parent", NULL, "gathered before fork");
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        lt_log_release(); /* nothing of the parent's */
        lt_log_info("child", NULL, "from the child");
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    char *from_child = drain();
    lt_log_release();
    char *from_parent = drain();
    restore();
    assert_int_equal(check_lines(first, (long)getpid()), 1);
    assert_int_equal(check_lines(from_child, (long)child), 1);
    assert_non_null(strstr(from_child, "from the child"));
    assert_int_equal(check_lines(from_parent, (long)getpid()), 1);
    assert_non_null(strstr(from_parent, "gathered before fork"));
    free(first);
    free(from_child);
    free(from_parent);
}

int main(void)
{
    lt_log_init("test_log", LT_LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_lines_are_written_at_once),
        cmocka_unit_test(test_held_lines_wait_for_release),
        cmocka_unit_test(test_warning_is_written_with_what_came_before),
        cmocka_unit_test(test_many_held_lines_are_whole_and_in_order),
        cmocka_unit_test(test_child_stamps_its_own_pid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
