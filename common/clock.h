/*
 * clock.h -- the two clocks: monotonic milliseconds for deadlines and timeouts, wall
 * milliseconds for what is shown to people (RFC 3339 UTC with milliseconds).
 */
#ifndef LT_CLOCK_H
#define LT_CLOCK_H

#include <stdint.h>

#define LT_TS_LEN 32

int64_t lt_mono_ms(void);
int64_t lt_wall_ms(void);

/* Writes "2026-11-22T10:30:00.123Z" into buf (at least LT_TS_LEN bytes). */
void lt_ts_format(char *buf, int64_t unix_ms);

#endif
