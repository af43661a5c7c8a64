/*
 * backoff.h -- retry delays: exponential from a base, capped, with full jitter
 * (a uniform draw in [0, min(cap, base * 2^(attempt-1))]). Full jitter spreads a herd
 * of tasks that failed together (a provider outage) instead of retrying them in waves.
 * A server's Retry-After, when larger, wins: it is the provider's own word.
 */
#ifndef LT_BACKOFF_H
#define LT_BACKOFF_H

#include <stdint.h>

/* The ceiling of the jitter window for the given attempt (1 = first failure). */
int64_t lt_backoff_ceiling_ms(int attempt, int64_t base_ms, int64_t cap_ms);

/* A delay drawn with full jitter; retry_after_ms (<= 0 when none) wins when larger.
 * rnd is a uniform random 64-bit value supplied by the caller. */
int64_t lt_backoff_delay_ms(int attempt, int64_t base_ms, int64_t cap_ms, int64_t retry_after_ms,
                            uint64_t rnd);

/* A random 64-bit value from getrandom(2), or from the clock if that fails. */
uint64_t lt_backoff_random(void);

#endif
