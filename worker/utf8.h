/*
 * utf8.h -- bytes from outside (an HTTP response body, a process's stderr) made fit for
 * a JSON string that PostgreSQL's jsonb accepts: valid UTF-8 and no NUL character
 * (jsonb refuses \u0000). Invalid sequences, truncated ones (a body cut at the size cap,
 * a stderr tail starting mid-character) and NUL bytes become U+FFFD, so the text stays
 * readable and nothing fails on a stray byte.
 */
#ifndef LT_WRK_UTF8_H
#define LT_WRK_UTF8_H

#include <stddef.h>

/* A NUL-terminated, malloc'd copy of s[0..n) with every invalid sequence and NUL byte
 * replaced by U+FFFD; *outlen (may be NULL) gets its length. NULL when out of memory. */
char *lt_wrk_utf8_clean(const char *s, size_t n, size_t *outlen);

#endif
