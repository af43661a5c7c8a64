/*
 * err.c -- see err.h.
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

int lt_err_set(struct lt_err *err, const char *fmt, ...)
{
    va_list ap;
    if (err != NULL) {
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return -1;
}
