/*
 * reaper_metrics.c -- see reaper_metrics.h.
 */
#include "reaper_metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct totals {
    double last_success;
    double rescued;
    double expired;
    double runs_ok;
    double runs_failed;
};

/* Reads the previous file's values; a missing or foreign file counts from zero. */
static void read_previous(const char *path, struct totals *t)
{
    char line[256];
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        const struct {
            const char *name;
            double *value;
        } known[] = {
            {"longtask_reaper_last_success_timestamp_seconds ", &t->last_success},
            {"longtask_reaper_rescued_total ", &t->rescued},
            {"longtask_reaper_expired_total ", &t->expired},
            {"longtask_reaper_runs_total{outcome=\"ok\"} ", &t->runs_ok},
            {"longtask_reaper_runs_total{outcome=\"failed\"} ", &t->runs_failed},
        };
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
            size_t n = strlen(known[i].name);
            if (strncmp(line, known[i].name, n) == 0) {
                *known[i].value = strtod(line + n, NULL);
            }
        }
    }
    fclose(f);
}

int lt_rpr_metrics_write(const char *path, const struct lt_rpr_summary *s, int64_t now_ms)
{
    struct totals t = {0};
    char tmp[4096];
    FILE *f = NULL;
    int rc = -1;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        lt_log_error("metrics_write_failed", NULL, "reaper.metrics_file path too long");
        return -1;
    }
    read_previous(path, &t);
    if (s->ok) {
        t.last_success = (double)now_ms / 1000.0;
        t.runs_ok += 1;
    } else {
        t.runs_failed += 1;
    }
    t.rescued += (double)s->rescued;
    t.expired += (double)s->expired;
    if ((f = fopen(tmp, "w")) == NULL) {
        goto fail;
    }
    fprintf(f,
            "# HELP longtask_reaper_last_success_timestamp_seconds Unix time of the last "
            "successful reaper run.\n"
            "# TYPE longtask_reaper_last_success_timestamp_seconds gauge\n"
            "longtask_reaper_last_success_timestamp_seconds %.3f\n"
            "# HELP longtask_reaper_rescued_total Tasks put back after their worker was lost.\n"
            "# TYPE longtask_reaper_rescued_total counter\n"
            "longtask_reaper_rescued_total %.0f\n"
            "# HELP longtask_reaper_expired_total Finished tasks deleted past retention.\n"
            "# TYPE longtask_reaper_expired_total counter\n"
            "longtask_reaper_expired_total %.0f\n"
            "# HELP longtask_reaper_runs_total Reaper runs by outcome.\n"
            "# TYPE longtask_reaper_runs_total counter\n"
            "longtask_reaper_runs_total{outcome=\"ok\"} %.0f\n"
            "longtask_reaper_runs_total{outcome=\"failed\"} %.0f\n",
            t.last_success, t.rescued, t.expired, t.runs_ok, t.runs_failed);
    if (fclose(f) != 0) {
        f = NULL;
        goto fail;
    }
    f = NULL;
    if (rename(tmp, path) != 0) {
        goto fail;
    }
    rc = 0;
    goto out;
fail:
    lt_log_error("metrics_write_failed", json_pack("{ss}", "path", path), "%s: %s", path,
                 strerror(errno));
    if (f != NULL) {
        fclose(f);
    }
    remove(tmp);
out:
    return rc;
}
