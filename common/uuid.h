/*
 * uuid.h -- UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, version 7, 12 bits of a
 * per-process sequence that keeps ids made in the same millisecond in order, variant
 * bits, 62 random bits from getrandom(2). Ids sort by creation time and say nothing
 * about volume.
 */
#ifndef LT_UUID_H
#define LT_UUID_H

#include <stdint.h>

#define LT_UUID_STR_LEN 37 /* 36 characters + NUL */

/* Fills out[16] with a new UUIDv7. Returns 0, or -1 when no randomness is available. */
int lt_uuid7(uint8_t out[16]);

/* Same, using the given clock reading (for tests). */
int lt_uuid7_at(uint8_t out[16], int64_t unix_ms);

/* Lowercase hyphenated form into buf[LT_UUID_STR_LEN]. */
void lt_uuid_format(const uint8_t id[16], char *buf);

/* Accepts exactly the canonical 36-character form (either case). 0 ok, -1 malformed. */
int lt_uuid_parse(const char *text, uint8_t out[16]);

#endif
