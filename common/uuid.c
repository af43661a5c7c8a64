/*
 * uuid.c -- see uuid.h. Monotonic within a process: when the clock stands still or steps
 * back, the 12-bit sequence counts up under the last timestamp seen; when it overflows,
 * the timestamp is advanced by one millisecond (RFC 9562 section 6.2, method 1).
 */
#include "uuid.h"

#include <string.h>
#include <sys/random.h>

#include "clock.h"

static int64_t last_ms = -1;
static uint16_t last_seq;

int lt_uuid7_at(uint8_t out[16], int64_t unix_ms)
{
    uint8_t rnd[10];
    size_t got = 0;

    while (got < sizeof(rnd)) {
        ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);
        if (n < 0) {
            return -1;
        }
        got += (size_t)n;
    }
    if (unix_ms > last_ms) {
        last_ms = unix_ms;
        last_seq = (uint16_t)((rnd[8] << 8 | rnd[9]) & 0x03ff); /* room to count up */
    } else {
        last_seq++;
        if (last_seq > 0x0fff) {
            last_ms++;
            last_seq = 0;
        }
    }
    uint64_t ms = (uint64_t)last_ms;
    for (int i = 0; i < 6; i++) {
        out[i] = (uint8_t)(ms >> (40 - 8 * i));
    }
    out[6] = (uint8_t)(0x70 | ((last_seq >> 8) & 0x0f));
    out[7] = (uint8_t)(last_seq & 0xff);
    memcpy(out + 8, rnd, 8);
    out[8] = (uint8_t)(0x80 | (out[8] & 0x3f));
    return 0;
}

int lt_uuid7(uint8_t out[16])
{
    return lt_uuid7_at(out, lt_wall_ms());
}

void lt_uuid_format(const uint8_t id[16], char *buf)
{
    static const char hex[] = "0123456789abcdef";
    char *p = buf;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            *p++ = '-';
        }
        *p++ = hex[id[i] >> 4];
        *p++ = hex[id[i] & 0x0f];
    }
    *p = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int lt_uuid_parse(const char *text, uint8_t out[16])
{
    int byte = 0;
    if (strlen(text) != 36) {
        return -1;
    }
    for (int i = 0; i < 36;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-') {
                return -1;
            }
            i++;
            continue;
        }
        int hi = hexval(text[i]), lo = hexval(text[i + 1]);
        if (hi < 0 || lo < 0) {
            return -1;
        }
        out[byte++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return 0;
}
