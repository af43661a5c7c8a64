/*
 * api_ops.h -- the operations endpoints outside /api/v1, for load balancers and
 * orchestrators: /healthz (the process serves; never touches the database) and
 * /readyz (the database answers and its schema is the one this build carries).
 */
#ifndef LT_API_OPS_H
#define LT_API_OPS_H

#include "api_http.h"

void lt_api_healthz(struct lt_api_req *req);
void lt_api_readyz(struct lt_api_req *req);

#endif
