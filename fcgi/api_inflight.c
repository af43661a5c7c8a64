/*
 * api_inflight.c -- see api_inflight.h. The bytes are written and read with sequentially
 * consistent atomics: a process that sets its byte and then finds every other byte clear
 * knows that any create starting later will see its byte.
 */
#include "api_inflight.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "log.h"

static unsigned char *flags; /* LT_API_INFLIGHT_SLOTS bytes, shared; NULL: no page */
static int own = -1;

int lt_api_inflight_init(void)
{
    if (flags != NULL) {
        return 0;
    }
    void *page = mmap(NULL, LT_API_INFLIGHT_SLOTS, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        lt_log_warn("inflight_map_failed", NULL,
                    "cannot map the shared page (%s): every create wakes workers after it",
                    strerror(errno));
        return -1;
    }
    flags = page;
    return 0;
}

void lt_api_inflight_set_slot(int slot)
{
    own = slot % LT_API_INFLIGHT_SLOTS;
    if (flags != NULL) {
        __atomic_store_n(&flags[own], 0, __ATOMIC_SEQ_CST);
    }
}

int lt_api_inflight_enter(void)
{
    if (flags == NULL || own < 0) {
        return 0;
    }
    __atomic_store_n(&flags[own], 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < LT_API_INFLIGHT_SLOTS; i++) {
        if (i != own && __atomic_load_n(&flags[i], __ATOMIC_SEQ_CST) != 0) {
            return 0;
        }
    }
    return 1;
}

void lt_api_inflight_leave(void)
{
    if (flags != NULL && own >= 0) {
        __atomic_store_n(&flags[own], 0, __ATOMIC_SEQ_CST);
    }
}
