/*
 * test_inflight.c -- the shared bytes that tell a create whether another API process has
 * one in flight (fcgi/api_inflight.h): off without the page, one byte per slot, seen
 * across fork(), cleared when a slot's next process starts. The cases run in order: the
 * first one before the page is mapped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "api_inflight.h"

static void test_without_the_page_never_alone(void **state)
{
    (void)state;
    lt_api_inflight_set_slot(0);
    assert_int_equal(lt_api_inflight_enter(), 0);
    lt_api_inflight_leave();
}

static void test_alone_until_another_slot_is_set(void **state)
{
    (void)state;
    assert_int_equal(lt_api_inflight_init(), 0);
    assert_int_equal(lt_api_inflight_init(), 0); /* once is enough */
    lt_api_inflight_set_slot(0);
    assert_int_equal(lt_api_inflight_enter(), 1);
    assert_int_equal(lt_api_inflight_enter(), 1); /* its own byte does not count */
    lt_api_inflight_leave();

    /* Slot 3 enters and its process dies before leaving. */
    lt_api_inflight_set_slot(3);
    assert_int_equal(lt_api_inflight_enter(), 1);
    lt_api_inflight_set_slot(0);
    assert_int_equal(lt_api_inflight_enter(), 0);
    lt_api_inflight_leave();
    assert_int_equal(lt_api_inflight_enter(), 0); /* still set: nobody left slot 3 */
    lt_api_inflight_leave();

    /* Slot 3's next process starts (here: LT_API_INFLIGHT_SLOTS + 3, the same byte). */
    lt_api_inflight_set_slot(LT_API_INFLIGHT_SLOTS + 3);
    lt_api_inflight_set_slot(0);
    assert_int_equal(lt_api_inflight_enter(), 1);
    lt_api_inflight_leave();
}

static void test_seen_across_fork(void **state)
{
    (void)state;
    int up[2], down[2];
    char c = 0;
    assert_int_equal(lt_api_inflight_init(), 0);
    assert_int_equal(pipe(up), 0);
    assert_int_equal(pipe(down), 0);
    lt_api_inflight_set_slot(0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        lt_api_inflight_set_slot(1);
        int alone = lt_api_inflight_enter();
        c = alone ? 'a' : 'e';
        if (write(up[1], &c, 1) != 1 || read(down[0], &c, 1) != 1) {
            _exit(2);
        }
        lt_api_inflight_leave();
        _exit(write(up[1], "l", 1) == 1 ? 0 : 2);
    }
    assert_int_equal(read(up[0], &c, 1), 1);
    assert_int_equal(c, 'a'); /* the child entered first, with nobody else in flight */
    assert_int_equal(lt_api_inflight_enter(), 0);
    lt_api_inflight_leave();
    assert_int_equal(write(down[1], "g", 1), 1);
    assert_int_equal(read(up[0], &c, 1), 1);
    assert_int_equal(c, 'l');
    assert_int_equal(lt_api_inflight_enter(), 1);
    lt_api_inflight_leave();
    int status = -1;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(up[0]);
    close(up[1]);
    close(down[0]);
    close(down[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_without_the_page_never_alone),
        cmocka_unit_test(test_alone_until_another_slot_is_set),
        cmocka_unit_test(test_seen_across_fork),
    };
    return cmocka_run_group_tests_name("inflight", tests, NULL, NULL);
}
