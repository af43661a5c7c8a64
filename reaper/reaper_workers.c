/*
 * reaper_workers.c -- see reaper_workers.h.
 */
#include "reaper_workers.h"

#include <stdio.h>
#include <stdlib.h>

#include "db.h"
#include "log.h"

static const char sql_mark_dead[] =
    "UPDATE workers SET dead = true"
    " WHERE NOT dead AND heartbeat_at < now() - make_interval(secs => $1::bigint)"
    " RETURNING id";

static const char sql_purge[] =
    "DELETE FROM workers"
    " WHERE dead AND heartbeat_at < now() - make_interval(secs => $1::bigint)";

int lt_rpr_workers(PGconn *conn, const struct lt_cfg *cfg, struct lt_rpr_summary *s)
{
    char dead_s[16], keep_s[16];
    const char *dead_params[] = {dead_s};
    const char *keep_params[] = {keep_s};
    PGresult *res;

    snprintf(dead_s, sizeof(dead_s), "%d", cfg->reaper_worker_dead_s);
    snprintf(keep_s, sizeof(keep_s), "%d", LT_RPR_DEAD_WORKER_KEEP_S);
    if ((res = lt_db_exec(conn, sql_mark_dead, 1, dead_params)) == NULL) {
        return -1;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        lt_log_warn("worker_dead", json_pack("{ss}", "worker", PQgetvalue(res, i, 0)),
                    "worker silent for over %d s; marked dead", cfg->reaper_worker_dead_s);
    }
    s->workers_dead += PQntuples(res);
    PQclear(res);
    if ((res = lt_db_exec(conn, sql_purge, 1, keep_params)) == NULL) {
        return -1;
    }
    s->workers_purged += atol(PQcmdTuples(res));
    PQclear(res);
    return 0;
}
