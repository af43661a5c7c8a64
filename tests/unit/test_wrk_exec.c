/*
 * test_wrk_exec.c -- the exec handler without a database: the stdout line reader and
 * the stderr tail on plain bytes, the UTF-8 cleaning, then real processes (/bin/sh
 * scripts) on a real loop under a recording owner: payload on stdin, progress and
 * result lines, exit 0 / 75 / other and their classes with stderr's tail in the error,
 * protocol errors (not JSON, too long), the exact environment, no inherited
 * descriptors, limits, working directory, and abort: the whole process group gone
 * (SIGTERM, then SIGKILL after the grace period for a process that ignores SIGTERM),
 * including a grandchild left running by a process that exited normally.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "exec_io.h"
#include "exec_proc.h"
#include "handler.h"
#include "loop.h"
#include "task.h"
#include "utf8.h"

/* ---- the readers ---- */

struct got {
    char lines[8][64];
    int n;
    int stop_at; /* 1-based line that returns 7, 0 never */
};

static int got_line(void *arg, char *line, size_t len)
{
    struct got *g = arg;
    assert_int_equal(strlen(line), len);
    snprintf(g->lines[g->n], sizeof(g->lines[0]), "%s", line);
    g->n++;
    return g->n == g->stop_at ? 7 : 0;
}

static void test_lines(void **state)
{
    (void)state;
    struct lt_wrk_lines lb;
    struct got g = {.n = 0};
    lt_wrk_lines_init(&lb, 8);
    assert_int_equal(lt_wrk_lines_feed(&lb, "ab", 2, got_line, &g), 0);
    assert_int_equal(g.n, 0);
    assert_int_equal(lt_wrk_lines_feed(&lb, "c\r\n\nde\n12345678\r\nxy", 19, got_line, &g), 0);
    assert_int_equal(g.n, 4);
    assert_string_equal(g.lines[0], "abc");
    assert_string_equal(g.lines[1], "");
    assert_string_equal(g.lines[2], "de");
    assert_string_equal(g.lines[3], "12345678"); /* exactly max, the \r not counted */
    assert_int_equal(lt_wrk_lines_finish(&lb, got_line, &g), 0);
    assert_int_equal(g.n, 5);
    assert_string_equal(g.lines[4], "xy");
    assert_int_equal(lt_wrk_lines_finish(&lb, got_line, &g), 0);
    assert_int_equal(g.n, 5);
    assert_int_equal(lt_wrk_lines_feed(&lb, "1234567890", 10, got_line, &g), LT_WRK_LINES_TOO_LONG);
    lt_wrk_lines_free(&lb);

    lt_wrk_lines_init(&lb, 8);
    assert_int_equal(lt_wrk_lines_feed(&lb, "1234", 4, got_line, &g), 0);
    assert_int_equal(lt_wrk_lines_feed(&lb, "56789\n", 6, got_line, &g), LT_WRK_LINES_TOO_LONG);
    lt_wrk_lines_free(&lb);

    struct got h = {.stop_at = 2};
    lt_wrk_lines_init(&lb, 100);
    assert_int_equal(lt_wrk_lines_feed(&lb, "a\nb\nc\n", 6, got_line, &h), 7);
    assert_int_equal(h.n, 2);
    lt_wrk_lines_free(&lb);
}

static void test_tail(void **state)
{
    (void)state;
    struct lt_wrk_tail t;
    assert_int_equal(lt_wrk_tail_init(&t, 8), 0);
    lt_wrk_tail_add(&t, "  abc", 5);
    char *s = lt_wrk_tail_text(&t);
    assert_string_equal(s, "abc");
    free(s);
    lt_wrk_tail_add(&t, "defgh\n", 6);
    s = lt_wrk_tail_text(&t);
    assert_string_equal(s, "...bcdefgh");
    free(s);
    lt_wrk_tail_add(&t, "0123456789XY", 12);
    s = lt_wrk_tail_text(&t);
    assert_string_equal(s, "...456789XY");
    free(s);
    lt_wrk_tail_free(&t);

    assert_int_equal(lt_wrk_tail_init(&t, 0), 0);
    lt_wrk_tail_add(&t, "x", 1);
    s = lt_wrk_tail_text(&t);
    assert_string_equal(s, "");
    free(s);
    lt_wrk_tail_free(&t);
}

static void test_utf8_clean(void **state)
{
    (void)state;
    size_t n;
    char *s = lt_wrk_utf8_clean("h\xC3\xA9llo", 6, &n);
    assert_string_equal(s, "h\xC3\xA9llo");
    assert_int_equal(n, 6);
    free(s);
    s = lt_wrk_utf8_clean("a\0b", 3, &n); /* NUL: jsonb refuses \u0000 */
    assert_string_equal(s, "a\xEF\xBF\xBD"
                           "b");
    free(s);
    s = lt_wrk_utf8_clean("\xFF\xC0\xAF\xED\xA0\x80x\xE2\x82", 9, NULL);
    /* bad byte, overlong, surrogate (3 bytes, each replaced), x, truncated (2) */
    assert_string_equal(s, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                           "\xEF\xBF\xBDx\xEF\xBF\xBD\xEF\xBF\xBD");
    free(s);
    s = lt_wrk_utf8_clean("\xF0\x9F\x98\x80", 4, NULL);
    assert_string_equal(s, "\xF0\x9F\x98\x80");
    free(s);
}

/* ---- the handler on real processes ---- */

struct fixture {
    int fds_before;
    lt_wrk_loop_t *loop;
    struct lt_wrk_task_owner owner;
    int progress[16];
    char messages[16][128];
    int nprogress;
    int finished;
    struct lt_type_cfg tc;
    char *argv[4];
    char *env[4];
};

static void rec_progress(struct lt_wrk_task *task, int pct, const char *message, void *arg)
{
    (void)task;
    struct fixture *fx = arg;
    if (fx->nprogress < 16) {
        fx->progress[fx->nprogress] = pct;
        snprintf(fx->messages[fx->nprogress], sizeof(fx->messages[0]), "%s",
                 message != NULL ? message : "");
        fx->nprogress++;
    }
}

static void rec_finished(struct lt_wrk_task *task, void *arg)
{
    (void)task;
    struct fixture *fx = arg;
    fx->finished++;
}

/* Open descriptors of this process: no test may leak one. */
static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        return -1;
    }
    while (readdir(d) != NULL) {
        n++;
    }
    closedir(d);
    return n;
}

static int setup(void **state)
{
    static struct fixture fx;
    memset(&fx, 0, sizeof(fx));
    fx.fds_before = count_fds();
    fx.loop = lt_wrk_loop_new();
    fx.owner.loop = fx.loop;
    fx.owner.progress = rec_progress;
    fx.owner.finished = rec_finished;
    fx.owner.arg = &fx;
    snprintf(fx.tc.name, sizeof(fx.tc.name), "test.exec");
    fx.tc.handler = LT_HANDLER_EXEC;
    fx.tc.exec.argv = fx.argv;
    fx.tc.exec.argc = 3;
    fx.tc.exec.env = fx.env;
    fx.tc.exec.workdir = "/";
    fx.tc.exec.kill_grace_ms = 2000;
    fx.tc.exec.max_line_bytes = 4096;
    fx.tc.exec.stderr_tail_bytes = 64;
    fx.argv[0] = "/bin/sh";
    fx.argv[1] = "-c";
    fx.env[0] = "LT_TEST_VAR=from-config";
    fx.env[1] = NULL;
    *state = &fx;
    return fx.loop != NULL ? 0 : -1;
}

/* Leaves no process behind: whatever was taken over is reaped through the loop. */
static int teardown(void **state)
{
    struct fixture *fx = *state;
    int64_t end = lt_mono_ms() + 5000;
    while (lt_wrk_proc_lingering() > 0 && lt_mono_ms() < end) {
        lt_wrk_loop_run_once(fx->loop, 50);
    }
    int left = lt_wrk_proc_lingering();
    lt_wrk_loop_free(fx->loop);
    lt_wrk_proc_reap_all();
    if (count_fds() != fx->fds_before) {
        fprintf(stderr, "descriptor leak: %d open before, %d after\n", fx->fds_before, count_fds());
        return -1;
    }
    return left == 0 ? 0 : -1;
}

static struct lt_wrk_task *run(struct fixture *fx, const char *script, const char *payload)
{
    fx->argv[2] = (char *)script;
    struct lt_wrk_task *t = lt_wrk_task_new("0190c2a4-0000-7000-8000-000000000002", "test.exec",
                                            "default", json_loads(payload, 0, NULL), 1, 2, 30);
    assert_non_null(t);
    t->type_cfg = &fx->tc;
    lt_wrk_handler_start(t, &lt_wrk_handler_exec, &fx->owner);
    return t;
}

static void wait_finished(struct fixture *fx, int64_t limit_ms)
{
    int64_t end = lt_mono_ms() + limit_ms;
    while (fx->finished == 0 && lt_mono_ms() < end) {
        assert_true(lt_wrk_loop_run_once(fx->loop, 50) >= 0);
    }
    assert_int_equal(fx->finished, 1);
}

/* A process that exists and is not a zombie. */
static int alive(long pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return p != NULL && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static int wait_dead(long pid, int64_t limit_ms)
{
    int64_t end = lt_mono_ms() + limit_ms;
    while (alive(pid) && lt_mono_ms() < end) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return !alive(pid);
}

static void test_success_with_progress_and_result(void **state)
{
    struct fixture *fx = *state;
    struct lt_wrk_task *t =
        run(fx,
            "read -r p; printf '{\"progress\": 10, \"message\": \"[10%%] Stage: one\"}\\n'; "
            "printf '\\n{\"log\": \"ignored\"}\\n'; "
            "printf '{\"progress\": 55.7, \"message\": \"[55%%] Stage: two\"}\\r\\n'; "
            "printf '{\"result\": {\"first\": 1}}\\n{\"result\": %s}' \"$p\"",
            "{\"x\": [1, 2], \"s\": \"a b\"}");
    wait_finished(fx, 5000);
    assert_int_equal(t->outcome, LT_WRK_OUTCOME_OK);
    assert_int_equal(fx->nprogress, 2);
    assert_int_equal(fx->progress[0], 10);
    assert_string_equal(fx->messages[0], "[10%] Stage: one");
    assert_int_equal(fx->progress[1], 55);
    assert_string_equal(fx->messages[1], "[55%] Stage: two");
    json_t *want = json_loads("{\"x\": [1, 2], \"s\": \"a b\"}", 0, NULL);
    assert_true(json_equal(t->result, want)); /* the payload went in on stdin */
    json_decref(want);
    lt_wrk_task_free(t);
}

static void test_no_result_line_gives_empty_object(void **state)
{
    struct fixture *fx = *state;
    struct lt_wrk_task *t = run(fx, "exit 0", "{}");
    wait_finished(fx, 5000);
    assert_int_equal(t->outcome, LT_WRK_OUTCOME_OK);
    assert_true(json_is_object(t->result) && json_object_size(t->result) == 0);
    lt_wrk_task_free(t);
}

static void test_exit_75_is_retryable_with_stderr_tail(void **state)
{
    struct fixture *fx = *state;
    struct lt_wrk_task *t =
        run(fx,
            "echo 'early noise that will be cut off by the tail limit of sixty-four' >&2; "
            "echo 'upstream busy' >&2; exit 75",
            "{}");
    wait_finished(fx, 5000);
    assert_int_equal(t->outcome, LT_WRK_OUTCOME_RETRYABLE);
    assert_non_null(strstr(t->error, "exit status 75"));
    assert_non_null(strstr(t->error, "upstream busy"));
    assert_null(strstr(t->error, "early noise"));
    lt_wrk_task_free(t);
}

static void test_other_exit_and_signal_are_permanent(void **state)
{
    struct fixture *fx = *state;
    struct lt_wrk_task *t = run(fx, "echo 'bad input' >&2; exit 3", "{}");
    wait_finished(fx, 5000);
    assert_int_equal(t->outcome, LT_WRK_OUTCOME_PERMANENT);
    assert_string_equal(t->error, "exit status 3: bad input");
    lt_wrk_task_free(t);

    fx->finished = 0;
    t = run(fx, "kill -9 $$", "{}");
    wait_finished(fx, 5000);
    assert_int_equal(t->outcome, LT_WRK_OUTCOME_PERMANENT);
    assert_non_null(strstr(t->error, "killed by signal 9"));
    lt_wrk_task_free(t);
}

static void test_protocol_errors_are_permanent(void **state)
{
    struct fixture *fx = *state;
    struct lt_wrk_task *t = run(fx, "echo 'hello world'; sleep 30", "{}");
    wait_finished(fx, 5000);
    assert_int_equal(t->outcome, LT_WRK_OUTCOME_PERMANENT);
    assert_non_null(strstr(t->error, "stdout line 1 is not a JSON object"));
    lt_wrk_task_free(t);

    fx->finished = 0;
    t = run(fx, "echo '[1, 2]'", "{}");
    wait_finished(fx, 5000);
    assert_int_equal(t->outcome, LT_WRK_OUTCOME_PERMANENT);
    assert_non_null(strstr(t->error, "not a JSON object"));
    lt_wrk_task_free(t);

    fx->finished = 0;
    t = run(fx, "echo '{\"progress\": \"ten\"}'", "{}");
    wait_finished(fx, 5000);
    assert_int_equal(t->outcome, LT_WRK_OUTCOME_PERMANENT);
    assert_non_null(strstr(t->error, "progress must be a number"));
    lt_wrk_task_free(t);

    fx->finished = 0;
    fx->tc.exec.max_line_bytes = 100;
    t = run(fx,
            "echo '{}'; i=0; while [ $i -lt 20 ]; do printf '0123456789'; i=$((i+1)); done; "
            "sleep 30",
            "{}");
    wait_finished(fx, 5000);
    assert_int_equal(t->outcome, LT_WRK_OUTCOME_PERMANENT);
    assert_non_null(strstr(t->error, "stdout line 2 is longer than 100 bytes"));
    lt_wrk_task_free(t);
}

static void test_environment_descriptors_limits_workdir(void **state)
{
    struct fixture *fx = *state;
    setenv("LONGTASK_JWT_SECRET", "must-not-leak", 1);
    fx->tc.exec.cpu_s = 50;
    fx->tc.exec.memory_mb = 2048;
    fx->tc.exec.workdir = "/tmp";
    struct lt_wrk_task *t =
        run(fx,
            "fds=''; for f in /proc/$$/fd/*; do fds=\"$fds ${f##*/}\"; done; "
            "printf '{\"result\": {\"var\": \"%s\", \"secret\": \"%s\", \"path\": \"%s\", "
            "\"fds\": \"%s\", \"cpu\": \"%s\", \"as\": \"%s\", \"cwd\": \"%s\"}}\\n' "
            "\"$LT_TEST_VAR\" \"${LONGTASK_JWT_SECRET:-absent}\" \"${PATH:-none}\" \"$fds\" "
            "\"$(ulimit -t)\" \"$(ulimit -v)\" \"$(pwd)\"",
            "{}");
    wait_finished(fx, 5000);
    unsetenv("LONGTASK_JWT_SECRET");
    assert_int_equal(t->outcome, LT_WRK_OUTCOME_OK);
    json_t *r = t->result;
    assert_string_equal(json_string_value(json_object_get(r, "var")), "from-config");
    assert_string_equal(json_string_value(json_object_get(r, "secret")), "absent");
    assert_string_equal(json_string_value(json_object_get(r, "cwd")), "/tmp");
    assert_string_equal(json_string_value(json_object_get(r, "cpu")), "50");
    assert_string_equal(json_string_value(json_object_get(r, "as")), "2097152");
    /* Only stdin, stdout, stderr (the glob's own directory descriptor may show). */
    const char *fds = json_string_value(json_object_get(r, "fds"));
    assert_non_null(fds);
    assert_true(strcmp(fds, " 0 1 2") == 0 || strcmp(fds, " 0 1 2 3") == 0);
    lt_wrk_task_free(t);
}

static void test_spawn_failures(void **state)
{
    struct fixture *fx = *state;
    fx->tc.exec.workdir = "/nonexistent-dir-for-test";
    struct lt_wrk_task *t = run(fx, "exit 0", "{}");
    assert_int_equal(fx->finished, 1);
    assert_int_equal(t->outcome, LT_WRK_OUTCOME_PERMANENT);
    assert_non_null(strstr(t->error, "working directory"));
    lt_wrk_task_free(t);

    fx->finished = 0;
    fx->tc.exec.workdir = "/";
    fx->argv[0] = "/nonexistent/program";
    t = run(fx, "exit 0", "{}");
    assert_int_equal(fx->finished, 1);
    assert_int_equal(t->outcome, LT_WRK_OUTCOME_PERMANENT);
    assert_non_null(strstr(t->error, "/nonexistent/program"));
    lt_wrk_task_free(t);

    fx->finished = 0;
    fx->argv[0] = "/bin/sh";
    t = run(fx, "exit 0", "[1]");
    assert_int_equal(t->outcome, LT_WRK_OUTCOME_PERMANENT);
    assert_non_null(strstr(t->error, "invalid payload"));
    lt_wrk_task_free(t);
}

/* Runs script until its first progress message, which must be "PID" of a grandchild. */
static long start_with_grandchild(struct fixture *fx, struct lt_wrk_task **t, const char *script)
{
    *t = run(fx, script, "{}");
    int64_t end = lt_mono_ms() + 5000;
    while (fx->nprogress == 0 && lt_mono_ms() < end) {
        assert_true(lt_wrk_loop_run_once(fx->loop, 50) >= 0);
    }
    assert_int_equal(fx->nprogress, 1);
    long pid = atol(fx->messages[0]);
    assert_true(pid > 0 && alive(pid));
    return pid;
}

static void test_abort_kills_the_group(void **state)
{
    struct fixture *fx = *state;
    struct lt_wrk_task *t;
    long gc = start_with_grandchild(
        fx, &t, "sleep 30 & printf '{\"progress\": 5, \"message\": \"%s\"}\\n' $!; wait");
    int64_t t0 = lt_mono_ms();
    lt_wrk_handler_abort(t);
    assert_int_equal(fx->finished, 0); /* an abort reports nothing */
    assert_int_equal(lt_wrk_proc_lingering(), 1);
    while (lt_wrk_proc_lingering() > 0 && lt_mono_ms() - t0 < 5000) {
        lt_wrk_loop_run_once(fx->loop, 50);
    }
    assert_int_equal(lt_wrk_proc_lingering(), 0);
    assert_true(lt_mono_ms() - t0 < 1500); /* SIGTERM was enough: no grace wait */
    assert_true(wait_dead(gc, 2000));
    lt_wrk_task_free(t);
}

static void test_abort_sigkills_after_grace(void **state)
{
    struct fixture *fx = *state;
    struct lt_wrk_task *t;
    fx->tc.exec.kill_grace_ms = 300;
    long gc = start_with_grandchild(fx, &t,
                                    "trap '' TERM; sleep 30 & "
                                    "printf '{\"progress\": 5, \"message\": \"%s\"}\\n' $!; "
                                    "while :; do wait; done");
    int64_t t0 = lt_mono_ms();
    lt_wrk_handler_abort(t);
    while (lt_wrk_proc_lingering() > 0 && lt_mono_ms() - t0 < 5000) {
        lt_wrk_loop_run_once(fx->loop, 50);
    }
    int64_t took = lt_mono_ms() - t0;
    assert_int_equal(lt_wrk_proc_lingering(), 0);
    assert_true(took >= 280 && took < 3000);
    assert_true(wait_dead(gc, 2000));
    lt_wrk_task_free(t);
}

static void test_leftover_grandchild_killed_after_exit(void **state)
{
    struct fixture *fx = *state;
    struct lt_wrk_task *t =
        run(fx, "sleep 30 & printf '{\"result\": {\"gc\": %s}}\\n' $!; exit 0", "{}");
    wait_finished(fx, 5000);
    assert_int_equal(t->outcome, LT_WRK_OUTCOME_OK);
    long gc = (long)json_integer_value(json_object_get(t->result, "gc"));
    assert_true(gc > 0);
    assert_true(wait_dead(gc, 2000));
    lt_wrk_task_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_tail),
        cmocka_unit_test(test_utf8_clean),
        cmocka_unit_test_setup_teardown(test_success_with_progress_and_result, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_result_line_gives_empty_object, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exit_75_is_retryable_with_stderr_tail, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_other_exit_and_signal_are_permanent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_protocol_errors_are_permanent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_environment_descriptors_limits_workdir, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_spawn_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_kills_the_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_sigkills_after_grace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leftover_grandchild_killed_after_exit, setup,
                                        teardown),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests_name("wrk_exec", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
