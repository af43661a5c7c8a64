/*
 * api_idem.c -- see api_idem.h.
 */
#include "api_idem.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lt_api_idem_key_ok(const char *key)
{
    size_t n = key != NULL ? strlen(key) : 0;
    if (n == 0 || n > LT_API_IDEM_KEY_MAX) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)key[i] < 0x20 || (unsigned char)key[i] > 0x7e) {
            return 0;
        }
    }
    return 1;
}

void lt_api_idem_scope(const char *endpoint, const char *key, char *out, size_t n)
{
    snprintf(out, n, "%s:%s", endpoint, key);
}

int lt_api_idem_hash(json_t *body, char out[LT_API_IDEM_HASH_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    char *text = json_dumps(body, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
    int rc = -1;

    if (text == NULL) {
        return -1;
    }
    if (EVP_Digest(text, strlen(text), md, &len, EVP_sha256(), NULL) == 1) {
        for (unsigned int i = 0; i < len && i < 32; i++) {
            snprintf(out + 2 * i, 3, "%02x", md[i]);
        }
        rc = 0;
    }
    free(text);
    return rc;
}
