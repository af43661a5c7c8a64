/*
 * reaper_summary.c -- see reaper_summary.h.
 */
#include "reaper_summary.h"

#include "log.h"

void lt_rpr_summary_log(const struct lt_rpr_summary *s)
{
    json_t *f = json_pack(
        "{sI sI sI sI sI sI sI sI sI sb sI sb}", "rescued", (json_int_t)s->rescued, "failed",
        (json_int_t)s->failed, "cancelled", (json_int_t)s->cancelled, "expired",
        (json_int_t)s->expired, "expire_batches", (json_int_t)s->expire_batches, "workers_dead",
        (json_int_t)s->workers_dead, "workers_purged", (json_int_t)s->workers_purged,
        "quota_windows_purged", (json_int_t)s->quota_windows_purged, "idempotency_keys_retired",
        (json_int_t)s->idempotency_keys_retired, "time_boxed", s->time_boxed, "duration_ms",
        (json_int_t)s->duration_ms, "ok", s->ok);
    if (s->ok) {
        lt_log_info("reaper_run", f,
                    "rescued %ld, failed %ld, expired %ld, workers dead %ld in %lld ms", s->rescued,
                    s->failed, s->expired, s->workers_dead, (long long)s->duration_ms);
    } else {
        lt_log_error("reaper_run", f, "reaper run failed after %lld ms", (long long)s->duration_ms);
    }
}
