/*
 * urlallow.c -- see urlallow.h.
 */
#include "urlallow.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int host_matches(const char *host, const char *entry)
{
    if (entry[0] == '*' && entry[1] == '.') {
        size_t hl = strlen(host), sl = strlen(entry + 1); /* ".example.com" */
        return hl > sl && strcasecmp(host + hl - sl, entry + 1) == 0;
    }
    return strcasecmp(host, entry) == 0;
}

int lt_url_allowed(const char *url, char *const *allow, char *why, size_t whylen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int ok = 0;

    if (why != NULL && whylen > 0) {
        why[0] = '\0';
    }
    if (u == NULL) {
        snprintf(why, whylen, "out of memory");
        goto out;
    }
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        snprintf(why, whylen, "is not a valid absolute URL");
        goto out;
    }
    if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
        snprintf(why, whylen, "must be an http or https URL");
        goto out;
    }
    for (char *const *a = allow; a != NULL && *a != NULL; a++) {
        if (host_matches(host, *a)) {
            ok = 1;
            goto out;
        }
    }
    snprintf(why, whylen, "host %.200s is not in http.allow_hosts", host);
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}
