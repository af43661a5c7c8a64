/*
 * test_backoff.c -- the jitter ceiling doubles from the base up to the cap; draws stay
 * inside [0, ceiling]; a larger Retry-After wins, a smaller one does not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "backoff.h"

static void test_ceiling_doubles_then_caps(void **state)
{
    (void)state;
    assert_int_equal(lt_backoff_ceiling_ms(1, 2000, 600000), 2000);
    assert_int_equal(lt_backoff_ceiling_ms(2, 2000, 600000), 4000);
    assert_int_equal(lt_backoff_ceiling_ms(3, 2000, 600000), 8000);
    assert_int_equal(lt_backoff_ceiling_ms(9, 2000, 600000), 512000);
    assert_int_equal(lt_backoff_ceiling_ms(10, 2000, 600000), 600000);
    assert_int_equal(lt_backoff_ceiling_ms(1000, 2000, 600000), 600000); /* no overflow */
    assert_int_equal(lt_backoff_ceiling_ms(0, 2000, 600000), 2000);
}

static void test_full_jitter_range(void **state)
{
    (void)state;
    int64_t lo = INT64_MAX, hi = 0;
    for (int i = 0; i < 20000; i++) {
        int64_t d = lt_backoff_delay_ms(3, 100, 10000, 0, lt_backoff_random());
        assert_true(d >= 0 && d <= 400);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    /* Full jitter uses the whole window, not just its top. */
    assert_true(lo < 40);
    assert_true(hi > 360);
}

static void test_retry_after_wins_when_larger(void **state)
{
    (void)state;
    assert_int_equal(lt_backoff_delay_ms(1, 1000, 5000, 30000, 12345), 30000);
    int64_t d = lt_backoff_delay_ms(1, 1000, 5000, 1, 500);
    assert_int_equal(d, 500);
    assert_int_equal(lt_backoff_delay_ms(1, 1000, 5000, 0, 1001), 0); /* 1001 % 1001 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ceiling_doubles_then_caps),
        cmocka_unit_test(test_full_jitter_range),
        cmocka_unit_test(test_retry_after_wins_when_larger),
    };
    return cmocka_run_group_tests_name("backoff", tests, NULL, NULL);
}
