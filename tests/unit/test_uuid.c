/*
 * test_uuid.c -- UUIDv7: layout (version, variant, timestamp), order within and across
 * milliseconds, the canonical text form and its parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "uuid.h"

static void test_layout(void **state)
{
    (void)state;
    uint8_t id[16];
    int64_t ms = 1763800000123; /* 2025-11-22 */
    assert_int_equal(lt_uuid7_at(id, ms), 0);
    uint64_t got = 0;
    for (int i = 0; i < 6; i++) {
        got = got << 8 | id[i];
    }
    assert_int_equal((int64_t)got, ms);
    assert_int_equal(id[6] >> 4, 7); /* version */
    assert_int_equal(id[8] >> 6, 2); /* variant 10 */
}

static void test_monotonic_same_ms(void **state)
{
    (void)state;
    uint8_t a[16], b[16];
    int64_t ms = 1863800000000;
    assert_int_equal(lt_uuid7_at(a, ms), 0);
    for (int i = 0; i < 5000; i++) { /* more than the 12-bit sequence holds */
        assert_int_equal(lt_uuid7_at(b, ms), 0);
        assert_true(memcmp(a, b, 16) < 0);
        memcpy(a, b, 16);
    }
}

static void test_clock_back_keeps_order(void **state)
{
    (void)state;
    uint8_t a[16], b[16];
    assert_int_equal(lt_uuid7_at(a, 1963800000500), 0);
    assert_int_equal(lt_uuid7_at(b, 1963800000100), 0); /* clock stepped back */
    assert_true(memcmp(a, b, 16) < 0);
}

static void test_format_parse(void **state)
{
    (void)state;
    uint8_t id[16], back[16];
    char text[LT_UUID_STR_LEN];
    assert_int_equal(lt_uuid7(id), 0);
    lt_uuid_format(id, text);
    assert_int_equal(strlen(text), 36);
    assert_int_equal(text[8], '-');
    assert_int_equal(text[14], '7');
    for (const char *p = text; *p; p++) {
        assert_true((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || *p == '-');
    }
    assert_int_equal(lt_uuid_parse(text, back), 0);
    assert_memory_equal(id, back, 16);
    assert_int_equal(lt_uuid_parse("01937C4E-8F2A-7B3C-9D1E-2F3A4B5C6D7E", back), 0);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    uint8_t out[16];
    assert_int_equal(lt_uuid_parse("", out), -1);
    assert_int_equal(lt_uuid_parse("01937c4e8f2a7b3c9d1e2f3a4b5c6d7e", out), -1);
    assert_int_equal(lt_uuid_parse("01937c4e-8f2a-7b3c-9d1e-2f3a4b5c6d7", out), -1);
    assert_int_equal(lt_uuid_parse("01937c4e-8f2a-7b3c-9d1e-2f3a4b5c6d7e0", out), -1);
    assert_int_equal(lt_uuid_parse("0193zc4e-8f2a-7b3c-9d1e-2f3a4b5c6d7e", out), -1);
    assert_int_equal(lt_uuid_parse("01937c4e+8f2a-7b3c-9d1e-2f3a4b5c6d7e", out), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_monotonic_same_ms),
        cmocka_unit_test(test_clock_back_keeps_order),
        cmocka_unit_test(test_format_parse),
        cmocka_unit_test(test_parse_rejects),
    };
    return cmocka_run_group_tests_name("uuid", tests, NULL, NULL);
}
