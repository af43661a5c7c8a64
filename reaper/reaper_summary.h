/*
 * reaper_summary.h -- what one reaper run did, and the one `reaper_run` log line that
 * reports it (operators alert on ok=false or on the line going missing).
 */
#ifndef LT_REAPER_SUMMARY_H
#define LT_REAPER_SUMMARY_H

#include <stdint.h>

struct lt_rpr_summary {
    long rescued;              /* lapsed leases put back to retry */
    long failed;               /* lapsed leases with no attempts left: failed, retry_exhausted */
    long cancelled;            /* lapsed leases of tasks whose cancel was requested */
    long expired;              /* finished tasks deleted past their retention */
    long expire_batches;       /* DELETE transactions used for them */
    long workers_dead;         /* worker rows newly marked dead */
    long workers_purged;       /* long-dead worker rows deleted */
    long quota_windows_purged; /* quota_usage rows of long-past windows deleted */
    long idempotency_keys_retired; /* Idempotency-Keys older than 24 h cleared */
    int time_boxed;                /* 1 when the run stopped early at reaper.time_box_s */
    int64_t duration_ms;
    int ok;
};

/* Logs the reaper_run line (info when ok, error otherwise). */
void lt_rpr_summary_log(const struct lt_rpr_summary *s);

#endif
