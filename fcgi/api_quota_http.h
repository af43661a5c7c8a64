/*
 * api_quota_http.h -- GET /api/v1/quota (the caller's budget, use and active tasks) and
 * POST /api/v1/quota/check (what a create body would cost and whether it would be
 * admitted now, degraded or refused -- with no side effect: nothing is charged, locked
 * or reserved, so a check followed by a create may still be refused by a concurrent
 * create).
 */
#ifndef LT_API_QUOTA_HTTP_H
#define LT_API_QUOTA_HTTP_H

#include "api_http.h"

void lt_api_quota_get(struct lt_api_req *req);
void lt_api_quota_check(struct lt_api_req *req);

#endif
