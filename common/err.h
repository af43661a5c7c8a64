/*
 * err.h -- the error out-parameter: a fixed buffer a failing function fills with a
 * message fit to show an operator (file, line, setting, what was expected).
 */
#ifndef LT_ERR_H
#define LT_ERR_H

struct lt_err {
    char msg[512];
};

/* Formats into err (when not NULL) and returns -1, so "return lt_err_set(...)" reads. */
int lt_err_set(struct lt_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
