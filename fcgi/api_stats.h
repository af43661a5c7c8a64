/*
 * api_stats.h -- GET /api/v1/stats: counts per status, per-type success and duration
 * over the last 24 hours, and the retries histogram, for the caller's tenant (an admin
 * token: every tenant, or the one named by ?tenant=).
 */
#ifndef LT_API_STATS_H
#define LT_API_STATS_H

#include "api_http.h"

void lt_api_stats(struct lt_api_req *req);

#endif
