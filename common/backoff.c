/*
 * backoff.c -- see backoff.h.
 */
#include "backoff.h"

#include <sys/random.h>

#include "clock.h"

int64_t lt_backoff_ceiling_ms(int attempt, int64_t base_ms, int64_t cap_ms)
{
    int64_t c = base_ms;
    if (attempt < 1) {
        attempt = 1;
    }
    for (int i = 1; i < attempt && c < cap_ms; i++) {
        c *= 2;
    }
    return c < cap_ms ? c : cap_ms;
}

int64_t lt_backoff_delay_ms(int attempt, int64_t base_ms, int64_t cap_ms, int64_t retry_after_ms,
                            uint64_t rnd)
{
    int64_t ceil = lt_backoff_ceiling_ms(attempt, base_ms, cap_ms);
    int64_t d = ceil > 0 ? (int64_t)(rnd % (uint64_t)(ceil + 1)) : 0;
    return retry_after_ms > d ? retry_after_ms : d;
}

uint64_t lt_backoff_random(void)
{
    uint64_t v;
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v)) {
        return v;
    }
    return (uint64_t)lt_mono_ms() * 6364136223846793005ULL + 1442695040888963407ULL;
}
