/*
 * clock.c -- see clock.h.
 */
#include "clock.h"

#include <stdio.h>
#include <time.h>

int64_t lt_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t lt_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void lt_ts_format(char *buf, int64_t unix_ms)
{
    time_t secs = (time_t)(unix_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(buf, LT_TS_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, LT_TS_LEN - n, ".%03uZ", (unsigned)(unix_ms % 1000) % 1000u);
}
