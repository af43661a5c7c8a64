/*
 * urlallow.h -- may a task call this URL? The one check shared by the API (refusing an
 * http.request at creation, 422) and the worker (checking again at run time, since the
 * allow list may have changed since).
 *
 * The URL is parsed by libcurl's own URL parser, the one that will make the request, so
 * a string that reads one way to a person and another way to the client
 * ("http://allowed.example@evil.example/") is judged by the host curl would connect to.
 * Allow-list entries are a host name ("api.example.com", any case) or "*.example.com"
 * (any host under example.com, not example.com itself); IP literals match only when
 * listed as such. Only http and https are allowed.
 */
#ifndef LT_URLALLOW_H
#define LT_URLALLOW_H

#include <stddef.h>

/* 1 allowed; 0 refused, with the reason for people in why (why may be NULL). allow is a
 * NULL-terminated list (NULL = nothing allowed). */
int lt_url_allowed(const char *url, char *const *allow, char *why, size_t whylen);

#endif
