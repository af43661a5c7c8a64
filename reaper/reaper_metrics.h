/*
 * reaper_metrics.h -- the Prometheus textfile the reaper leaves for node_exporter's
 * textfile collector (reaper.metrics_file; empty = none).
 *
 * The families the reaper owns: longtask_reaper_last_success_timestamp_seconds
 * (gauge), longtask_reaper_rescued_total and longtask_reaper_expired_total
 * (counters), plus longtask_reaper_runs_total{outcome}. A cron-started reaper lives
 * for one run, so the counters carry on from the totals in the previous file; the file
 * is written as NAME.tmp in the same directory and renamed over NAME, so a scrape
 * never reads half a file.
 */
#ifndef LT_REAPER_METRICS_H
#define LT_REAPER_METRICS_H

#include <stdint.h>

#include "reaper_summary.h"

/* Folds the run s (finished at wall clock now_ms) into path. 0 ok, -1 error (logged). */
int lt_rpr_metrics_write(const char *path, const struct lt_rpr_summary *s, int64_t now_ms);

#endif
