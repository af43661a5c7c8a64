/*
 * api_create.c -- the create transactions (one task, a batch) and the quota read, with
 * their statements. See api_store.h for the outcomes and api_charge.h for how units and
 * the active-task limit stay exact under concurrency.
 *
 * Idempotency-Key: a transaction advisory lock on (tenant, scoped key) is *tried* first.
 * Held by another transaction means the same key is being created right now: 409
 * idempotency_key_in_flight (CONVENTIONS.md), never a wait and never a second task.
 * Taken, a fresh statement looks the key up (so it sees the other request's commit):
 * found within 24 h with the same fingerprint replays the task, with another
 * fingerprint is 422; found but older than 24 h, the key is retired on the spot (the
 * reaper does the same in bulk) and the create proceeds.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_charge.h"
#include "api_inflight.h"
#include "api_prep.h"
#include "api_quota.h"
#include "api_store.h"
#include "api_store_tx.h"
#include "db.h"
#include "log.h"

/* "ltik" as the class id: one lock per (tenant, key). */
static struct lt_api_stmt st_key_lock = {
    "lt_key_lock", "SELECT pg_try_advisory_xact_lock(1819568491, hashtext($1 || chr(10) || $2))", 2,
    0};

static struct lt_api_stmt st_key_lookup = {
    "lt_key_lookup",
    "SELECT id::text, request_hash, created_at > now() - interval '24 hours'\n"
    "  FROM tasks WHERE tenant = $1 AND idempotency_key = $2",
    2, 0};

static const char SQL_KEY_RETIRE[] =
    "UPDATE tasks SET idempotency_key = NULL, request_hash = NULL WHERE id = $1::uuid";

/* How both create statements end: the `n` CTE's INSERT INTO tasks returns the row, the
 * `created` event follows, and the SELECT starts with the view columns of the new task
 * (api_store_tx.h's lt_api_view_col, in that order). */
/* clang-format off */
#define SQL_CREATED_VIEW                                                                           \
    "  RETURNING id, type, queue, priority, run_at, status, version,\n"                            \
    "            lt_task_json(tasks, true)::text AS json),\n"                                      \
    "ev AS (\n"                                                                                    \
    "  INSERT INTO task_events (task_id, seq, kind, progress)\n"                                   \
    "  SELECT id, 1, 'created', 0 FROM n)\n"                                                       \
    "SELECT n.json, n.status::text, n.version, n.type, 0,\n"                                       \
    "       " LT_API_SQL_QUEUE_POSITION("n.queue", "n.priority", "n.run_at", "n.id") ",\n"         \
    "       greatest(extract(epoch FROM n.run_at - now()), 0)::float8, 0::float8"
/* clang-format on */

/* The task, its `created` event and the view of the new task (the columns of
 * api_store_tx.h's lt_api_view_col) in one statement: one round trip while the quota
 * stripe rows are held. queue_position is counted in the statement's
 * snapshot, which does not hold the new row itself, exactly what "ahead of it" means. */
/* clang-format off */
static struct lt_api_stmt st_insert_task = {
    "lt_task_insert",
    "WITH n AS (\n"
    "  INSERT INTO tasks (id, tenant, type, queue, priority, payload, max_retries, timeout_s,\n"
    "                     cost, callback_url, metadata, run_at, event_seq, idempotency_key,\n"
    "                     request_hash, quota_window)\n"
    "  VALUES ($1::uuid, $2, $3, $4, $5::smallint, $6::jsonb, $7::int, $8::int, $9::int, $10,\n"
    "          coalesce($11::jsonb, '{}'::jsonb)\n"
    "            || CASE WHEN $14::text IS NULL THEN '{}'::jsonb\n"
    "                    ELSE jsonb_build_object('degraded_from', $14::text) END,\n"
    "          CASE WHEN $12::bigint IS NOT NULL\n"
    "               THEN 'epoch'::timestamptz + $12::bigint * interval '1 microsecond'\n"
    "               ELSE now() + $13::int * interval '1 second' END,\n"
    "          1, $15, $16, 'epoch'::timestamptz + $17::bigint * interval '1 microsecond')\n"
    SQL_CREATED_VIEW "\n"
    "  FROM n",
    17, 0};
/* clang-format on */

/* The whole create of the common case in one autocommitted statement: no
 * Idempotency-Key, and the tenant's limits (tenant_quotas over the configuration's) met
 * on this process's stripes alone (api_charge.h's fast paths, written out here). Every
 * write is conditional on the checks before it: the active share (or no limit), then the
 * units share (or no limit), then the task and its event. No row back = a share said no
 * (or this stripe has none yet): nothing was charged, at most the active bound grew,
 * which only overstates; the caller runs the transactional create on the exact paths.
 * Returns the view columns (lt_api_view_col), then used units, the window's start (Unix
 * us), seconds to its end, and the limits: units, max_active, window_s. With $18 true
 * the statement also notifies the task's queue, inside its own transaction: only for a
 * task it created, delivered at the commit (see fast_create for when). */
/* clang-format off */
static struct lt_api_stmt st_fast_create = {
    "lt_fast_create",
    "WITH lim AS MATERIALIZED (\n"
    "  SELECT coalesce(o.units_per_window, $15::bigint) AS units,\n"
    "         coalesce(o.max_active, $16::int) AS max_active,\n"
    "         coalesce(o.window_s, $17::int) AS window_s\n"
    "    FROM (SELECT $2::text AS tenant) x LEFT JOIN tenant_quotas o ON o.tenant = x.tenant),\n"
    "a AS (\n"
    "  UPDATE quota_active q SET bound = q.bound + 1 FROM lim\n"
    "   WHERE lim.max_active > 0 AND q.tenant = $2 AND q.stripe = $14::smallint\n"
    "     AND q.lim = lim.max_active AND q.bound + 1 <= q.cap\n"
    "  RETURNING 1),\n"
    "a_free AS (\n"
    "  UPDATE quota_active q SET lim = 0 FROM lim\n"
    "   WHERE lim.max_active = 0 AND q.tenant = $2 AND q.lim <> 0),\n"
    "a_ok AS MATERIALIZED (\n"
    "  SELECT lim.* FROM lim WHERE lim.max_active = 0 OR EXISTS (SELECT 1 FROM a)),\n"
    "u AS (\n"
    "  UPDATE quota_usage q SET units = q.units + $9::bigint FROM a_ok\n"
    "   WHERE a_ok.units > 0 AND q.tenant = $2\n"
    "     AND q.window_start = lt_quota_window_start(a_ok.window_s)\n"
    "     AND q.stripe = $14::smallint AND q.lim = a_ok.units\n"
    "     AND q.units + $9::bigint <= q.cap\n"
    "  RETURNING q.units, q.window_start),\n"
    "u_free AS (\n"
    "  INSERT INTO quota_usage AS q (tenant, window_start, stripe, units, cap, lim)\n"
    "  SELECT $2, lt_quota_window_start(a_ok.window_s), $14::smallint, $9::bigint, 0, 0\n"
    "    FROM a_ok WHERE a_ok.units = 0\n"
    "  ON CONFLICT (tenant, window_start, stripe)\n"
    "  DO UPDATE SET units = q.units + EXCLUDED.units, lim = 0\n"
    "  RETURNING q.units, q.window_start),\n"
    "u_void AS (\n"
    "  UPDATE quota_usage q SET lim = 0 FROM a_ok\n"
    "   WHERE a_ok.units = 0 AND q.tenant = $2\n"
    "     AND q.window_start = lt_quota_window_start(a_ok.window_s)\n"
    "     AND q.stripe <> $14::smallint AND q.lim <> 0),\n"
    "c AS MATERIALIZED (SELECT * FROM u UNION ALL SELECT * FROM u_free),\n"
    "n AS (\n"
    "  INSERT INTO tasks (id, tenant, type, queue, priority, payload, max_retries, timeout_s,\n"
    "                     cost, callback_url, metadata, run_at, event_seq, quota_window)\n"
    "  SELECT $1::uuid, $2, $3, $4, $5::smallint, $6::jsonb, $7::int, $8::int, $9::int, $10,\n"
    "         coalesce($11::jsonb, '{}'::jsonb),\n"
    "         CASE WHEN $12::bigint IS NOT NULL\n"
    "              THEN 'epoch'::timestamptz + $12::bigint * interval '1 microsecond'\n"
    "              ELSE now() + $13::int * interval '1 second' END,\n"
    "         1, c.window_start\n"
    "    FROM c\n"
    SQL_CREATED_VIEW ",\n"
    "       c.units + coalesce((SELECT sum(o.units) FROM quota_usage o\n"
    "                            WHERE o.tenant = $2 AND o.window_start = c.window_start\n"
    "                              AND o.stripe <> $14::smallint), 0),\n"
    "       (extract(epoch FROM c.window_start) * 1000000)::bigint,\n"
    "       ceil(extract(epoch FROM c.window_start + a_ok.window_s * interval '1 second'\n"
    "                               - now()))::int,\n"
    "       a_ok.units, a_ok.max_active, a_ok.window_s,\n"
    "       CASE WHEN $18::boolean THEN pg_notify('lt_q_' || n.queue, '')::text END\n"
    "  FROM n, c, a_ok",
    18, 0};
/* clang-format on */

/* The wake-up of the queues' idle workers, sent once the tasks are committed, in a
 * transaction of its own that writes nothing but the notification and so commits
 * without waiting for a WAL flush. PostgreSQL serialises the commits of all notifying
 * transactions behind one lock, held through the commit record's flush: inside the
 * create, that lock made every create in the cluster commit one at a time. A NOTIFY is
 * only a hint (workers also poll), so losing one in a crash delays a task by at most a
 * poll interval; the tasks themselves are committed with synchronous_commit on. */
static struct lt_api_stmt st_wake = {
    "lt_wake",
    "SELECT set_config('synchronous_commit', 'off', true), pg_notify('lt_q_' || q, '')\n"
    "  FROM unnest($1::text[]) AS q",
    1, 0};

/* st_wake for one task sent ahead of knowing whether it was created (fast_create):
 * notifies only when the task is there, i.e. its create committed. A create that did
 * not (refused, or sent the transactional way) notifies nothing here, and takes no
 * transaction id either. */
static struct lt_api_stmt st_wake_task = {
    "lt_wake_task",
    "SELECT set_config('synchronous_commit', 'off', true), pg_notify('lt_q_' || $1, '')\n"
    "  FROM tasks WHERE id = $2::uuid",
    2, 0};

/* Wakes the workers of queues, a PostgreSQL array literal; a failure is logged only. */
static void wake(PGconn *conn, const char *queues)
{
    const char *params[1] = {queues};
    (void)lt_api_prep_run(conn, &st_wake, params);
}

/* The Idempotency-Key step: OK (go on and create), REPLAYED (out filled), KEY_REUSED,
 * IN_FLIGHT, or a failure. */
static enum lt_api_store_rc check_key(PGconn *conn, const char *tenant,
                                      const struct lt_api_create_in *in,
                                      struct lt_api_task_view *out)
{
    const char *params[2] = {tenant, in->idem_key};
    enum lt_api_store_rc rc = LT_API_STORE_OK;

    PGresult *res = lt_api_prep_exec(conn, &st_key_lock, params);
    if (res == NULL) {
        return lt_api_store_failed();
    }
    int taken = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (!taken) {
        return LT_API_STORE_IN_FLIGHT;
    }
    if ((res = lt_api_prep_exec(conn, &st_key_lookup, params)) == NULL) {
        return lt_api_store_failed();
    }
    if (PQntuples(res) == 0) {
        goto out;
    }
    char id[LT_UUID_STR_LEN];
    snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
    if (PQgetvalue(res, 0, 2)[0] != 't') {
        const char *retire[1] = {id};
        rc = lt_db_run(conn, SQL_KEY_RETIRE, 1, retire) < 0 ? lt_api_store_failed()
                                                            : LT_API_STORE_OK;
    } else if (strcmp(PQgetvalue(res, 0, 1), in->idem_hash) != 0) {
        rc = LT_API_STORE_KEY_REUSED;
    } else {
        rc = lt_api_store_read_view(tenant, id, out);
        rc = rc == LT_API_STORE_OK ? LT_API_STORE_REPLAYED : rc;
    }
out:
    PQclear(res);
    return rc;
}

/* Active limit, then the units: the type's cost, else the fallback's. *use is the spec
 * to create. OK, ACTIVE, QUOTA, AGAIN (api_charge.h: roll back, run again) or a
 * failure. */
static enum lt_api_store_rc charge(PGconn *conn, const struct lt_cfg *cfg, const char *tenant,
                                   const struct lt_api_create_in *in, struct lt_api_charge *ch,
                                   const struct lt_api_task_spec **use, long *cost)
{
    int r;

    if (lt_api_charge_limits(conn, cfg, tenant, ch) < 0 ||
        (r = lt_api_charge_active(conn, tenant, 1, ch)) < 0) {
        return lt_api_store_failed();
    }
    if (r != 1) {
        return r == 2 ? LT_API_STORE_AGAIN : LT_API_STORE_ACTIVE;
    }
    *use = in->spec;
    *cost = in->cost;
    if ((r = lt_api_charge_units(conn, tenant, in->cost, ch)) < 0) {
        return lt_api_store_failed();
    }
    if (r == 0 && in->fallback != NULL) {
        *use = in->fallback;
        *cost = in->fallback_cost;
        if ((r = lt_api_charge_units(conn, tenant, in->fallback_cost, ch)) < 0) {
            return lt_api_store_failed();
        }
        ch->needed = r == 0 ? in->cost : 0;
    }
    return r == 2 ? LT_API_STORE_AGAIN : r == 0 ? LT_API_STORE_QUOTA : LT_API_STORE_OK;
}

/* A task's columns as statement parameters. */
struct task_args {
    char prio[8], retries[16], timeout[16], cost[24], run_at[24], delay[16];
    char *payload, *metadata; /* malloc'd JSON text; metadata NULL when none */
};

static void task_args_free(struct task_args *a)
{
    free(a->payload);
    free(a->metadata);
}

/* The first 13 parameters of both insert statements: id, tenant, type, queue, priority,
 * payload, max_retries, timeout_s, cost, callback_url, metadata, run_at, delay_s. */
static void task_params(const char **p, const char *id, const char *tenant,
                        const struct lt_api_task_spec *spec, const struct task_args *a)
{
    const char *v[13] = {id,
                         tenant,
                         spec->type->name,
                         spec->queue,
                         a->prio,
                         a->payload,
                         a->retries,
                         a->timeout,
                         a->cost,
                         spec->callback_url,
                         a->metadata,
                         spec->has_run_at ? a->run_at : NULL,
                         a->delay};
    memcpy(p, v, sizeof(v));
}

/* 0, or -1 when out of memory (a is freed then). */
static int task_args_make(struct task_args *a, const struct lt_api_task_spec *spec, long cost)
{
    a->payload = json_dumps(spec->payload, JSON_COMPACT);
    a->metadata = spec->metadata != NULL ? json_dumps(spec->metadata, JSON_COMPACT) : NULL;
    if (a->payload == NULL || (spec->metadata != NULL && a->metadata == NULL)) {
        task_args_free(a);
        return -1;
    }
    snprintf(a->prio, sizeof(a->prio), "%d", spec->priority);
    snprintf(a->retries, sizeof(a->retries), "%d", spec->max_retries);
    snprintf(a->timeout, sizeof(a->timeout), "%d", spec->timeout_s);
    snprintf(a->cost, sizeof(a->cost), "%ld", cost);
    snprintf(a->run_at, sizeof(a->run_at), "%" PRId64, spec->run_at_us);
    snprintf(a->delay, sizeof(a->delay), "%d", spec->delay_s);
    return 0;
}

/* Inserts the task and fills out with its view. */
static enum lt_api_store_rc insert_one(PGconn *conn, const char *tenant, const char *id,
                                       const struct lt_api_create_in *in,
                                       const struct lt_api_task_spec *spec, long cost_units,
                                       const struct lt_api_charge *ch, struct lt_api_task_view *out)
{
    enum lt_api_store_rc rc;
    struct task_args a;
    char window[24];

    if (task_args_make(&a, spec, cost_units) < 0) {
        return LT_API_STORE_ERROR;
    }
    snprintf(window, sizeof(window), "%" PRId64, ch->window_us);
    const char *task[17];
    task_params(task, id, tenant, spec, &a);
    task[13] = spec != in->spec ? in->spec->type->name : NULL;
    task[14] = in->idem_key;
    task[15] = in->idem_key != NULL ? in->idem_hash : NULL;
    task[16] = window;
    PGresult *res = lt_api_prep_exec(conn, &st_insert_task, task);
    if (res == NULL) {
        /* The key's lock makes this unreachable for a same-key race; should anything
         * else insert the key meanwhile, it is still "in flight", not a 500. */
        rc = strcmp(lt_api_prep_last_sqlstate(), "23505") == 0 && in->idem_key != NULL
                 ? LT_API_STORE_IN_FLIGHT
                 : lt_api_store_failed();
    } else {
        rc = lt_api_store_view_from(res, out);
        PQclear(res);
    }
    task_args_free(&a);
    return rc;
}

/* st_fast_create: OK (out and ch filled), AGAIN (a share said no: nothing created, go
 * the transactional way), or a failure. Only for a create without Idempotency-Key.
 * alone (no other API process has a create in flight, api_inflight.h): the statement
 * notifies inside its transaction, so the workers are signalled at the commit itself.
 * Otherwise notifying creates would commit one at a time behind PostgreSQL's notify
 * lock, and the wake-up goes with the create in one write (lt_api_prep_exec_then): the
 * server sends the NOTIFY in its own transaction right after the create's commit, a
 * round trip sooner than after reading its result, and only when the task was committed
 * (st_wake_task). Either way a create that made no task notifies nobody. */
static enum lt_api_store_rc fast_create(PGconn *conn, const struct lt_cfg *cfg, const char *tenant,
                                        const char *id, const struct lt_api_create_in *in,
                                        int alone, struct lt_api_task_view *out,
                                        struct lt_api_charge *ch)
{
    const struct lt_api_task_spec *spec = in->spec;
    enum lt_api_store_rc rc;
    struct task_args a;
    char units[24], max_active[16], window_s[16];

    if (task_args_make(&a, spec, in->cost) < 0) {
        return LT_API_STORE_ERROR;
    }
    snprintf(units, sizeof(units), "%ld", cfg->quota_units_per_window);
    snprintf(max_active, sizeof(max_active), "%d", cfg->quota_max_active);
    snprintf(window_s, sizeof(window_s), "%d", cfg->quota_window_s);
    const char *p[18];
    task_params(p, id, tenant, spec, &a);
    p[13] = lt_api_charge_stripe();
    p[14] = units;
    p[15] = max_active;
    p[16] = window_s;
    p[17] = alone ? "t" : "f";
    const char *wake_params[2] = {spec->queue, id};
    PGresult *res =
        alone ? lt_api_prep_exec(conn, &st_fast_create, p)
              : lt_api_prep_exec_then(conn, &st_fast_create, p, &st_wake_task, wake_params);
    task_args_free(&a);
    if (res == NULL) {
        return lt_api_store_failed();
    }
    if (PQntuples(res) == 0) {
        rc = LT_API_STORE_AGAIN;
    } else if ((rc = lt_api_store_view_from(res, out)) == LT_API_STORE_OK) {
        int c = LT_API_VIEW_ELAPSED_S + 1;
        ch->used = atol(PQgetvalue(res, 0, c));
        ch->window_us = strtoll(PQgetvalue(res, 0, c + 1), NULL, 10);
        ch->reset_s = atoi(PQgetvalue(res, 0, c + 2));
        ch->lim.units = atol(PQgetvalue(res, 0, c + 3));
        ch->lim.max_active = atoi(PQgetvalue(res, 0, c + 4));
        ch->lim.window_s = atoi(PQgetvalue(res, 0, c + 5));
    }
    PQclear(res);
    return rc;
}

static enum lt_api_store_rc create(const struct lt_cfg *cfg, const char *tenant, const char *id,
                                   const struct lt_api_create_in *in, int alone,
                                   struct lt_api_task_view *out, struct lt_api_charge *ch,
                                   int *degraded)
{
    const struct lt_api_task_spec *use = in->spec;
    long cost = in->cost;
    enum lt_api_store_rc rc;
    PGconn *conn;

    memset(out, 0, sizeof(*out));
    memset(ch, 0, sizeof(*ch));
    *degraded = 0;
    if ((conn = lt_api_store_conn(cfg)) == NULL) {
        return LT_API_STORE_DOWN;
    }
    rc = in->idem_key == NULL ? fast_create(conn, cfg, tenant, id, in, alone, out, ch)
                              : LT_API_STORE_AGAIN;
    /* The exact paths from the start when the fast one said no (api_charge.h). */
    ch->slow = rc == LT_API_STORE_AGAIN && in->idem_key == NULL;
    int woken = rc == LT_API_STORE_OK; /* the fast path sent its wake-up */
    while (rc == LT_API_STORE_AGAIN) {
        if (lt_db_begin(conn) < 0) {
            return lt_api_store_failed();
        }
        if (in->idem_key != NULL) {
            rc = check_key(conn, tenant, in, out);
            if (rc == LT_API_STORE_REPLAYED) {
                lt_db_rollback(conn); /* nothing was written */
                return rc;
            }
            if (rc != LT_API_STORE_OK) {
                return lt_api_store_finish(rc, out);
            }
        }
        if ((rc = charge(conn, cfg, tenant, in, ch, &use, &cost)) == LT_API_STORE_OK) {
            rc = insert_one(conn, tenant, id, in, use, cost, ch, out);
        }
        rc = lt_api_store_finish(rc, out);
    }
    if (rc == LT_API_STORE_OK && !woken) {
        char queues[sizeof(use->queue) + 3];
        snprintf(queues, sizeof(queues), "{%s}", use->queue);
        wake(conn, queues);
    }
    *degraded = rc == LT_API_STORE_OK && use != in->spec;
    return rc;
}

enum lt_api_store_rc lt_api_store_create(const struct lt_cfg *cfg, const char *tenant,
                                         const char *id, const struct lt_api_create_in *in,
                                         struct lt_api_task_view *out, struct lt_api_charge *ch,
                                         int *degraded)
{
    int alone = lt_api_inflight_enter();
    enum lt_api_store_rc rc = create(cfg, tenant, id, in, alone, out, ch, degraded);
    lt_api_inflight_leave();
    return rc;
}

/* ---- batch ---- */

/* The whole batch in one statement, from one JSON parameter: the rows, their `created`
 * events and the 202 body, rendered from what the INSERT returns rather than read back.
 * The ids are UUIDv7 made in order by this process (monotonic), so ordering by id is the
 * order of the request. */
static const char SQL_INSERT_BATCH[] =
    "WITH ins AS (\n"
    "  INSERT INTO tasks AS t (id, tenant, type, queue, priority, payload, max_retries,\n"
    "                     timeout_s, cost, callback_url, metadata, run_at, event_seq,\n"
    "                     quota_window)\n"
    "  SELECT x.id, $2, x.type, x.queue, x.priority, x.payload, x.max_retries, x.timeout_s,\n"
    "         x.cost, x.callback_url, coalesce(x.metadata, '{}'::jsonb),\n"
    "         CASE WHEN x.run_at_us IS NOT NULL\n"
    "              THEN 'epoch'::timestamptz + x.run_at_us * interval '1 microsecond'\n"
    "              ELSE now() + x.delay_s * interval '1 second' END,\n"
    "         1, 'epoch'::timestamptz + $3::bigint * interval '1 microsecond'\n"
    "    FROM json_to_recordset($1::json) AS x(id uuid, type text, queue text,\n"
    "         priority smallint, payload jsonb, max_retries int, timeout_s int, cost int,\n"
    "         callback_url text, metadata jsonb, run_at_us bigint, delay_s int)\n"
    "  RETURNING t\n"
    "), ev AS (\n"
    "  INSERT INTO task_events (task_id, seq, kind, progress)\n"
    "  SELECT (i.t).id, 1, 'created', 0 FROM ins i\n"
    ")\n"
    "SELECT json_build_object('tasks', json_agg(lt_task_json(i.t, true) ORDER BY (i.t).id))::text\n"
    "  FROM ins i";

/* The rows as the JSON array SQL_INSERT_BATCH reads; NULL when out of memory. */
static char *batch_rows(int n, char (*ids)[LT_UUID_STR_LEN], const struct lt_api_task_spec *specs)
{
    json_t *rows = json_array();
    char *text = NULL;

    for (int i = 0; rows != NULL && i < n; i++) {
        const struct lt_api_task_spec *s = &specs[i];
        json_t *r = json_pack("{ss ss ss si sO si si sI ss? sO? so? si}", "id", ids[i], "type",
                              s->type->name, "queue", s->queue, "priority", s->priority, "payload",
                              s->payload, "max_retries", s->max_retries, "timeout_s", s->timeout_s,
                              "cost", (json_int_t)lt_api_quota_cost(s->type, s->payload),
                              "callback_url", s->callback_url, "metadata", s->metadata, "run_at_us",
                              s->has_run_at ? json_integer((json_int_t)s->run_at_us) : NULL,
                              "delay_s", s->delay_s);
        if (r == NULL || json_array_append_new(rows, r) < 0) {
            goto out;
        }
    }
    text = rows != NULL ? json_dumps(rows, JSON_COMPACT) : NULL;
out:
    json_decref(rows);
    return text;
}

/* "{a,b,c}": a PostgreSQL array literal of ids or queue names (neither holds a character
 * that needs quoting: UUIDs, and names of [A-Za-z0-9_.-]). NULL when out of memory. */
static char *array_literal(int n, const char *const *items)
{
    size_t len = 3;
    for (int i = 0; i < n; i++) {
        len += strlen(items[i]) + 1;
    }
    char *out = malloc(len);
    if (out == NULL) {
        return NULL;
    }
    char *p = out;
    *p++ = '{';
    for (int i = 0; i < n; i++) {
        size_t m = strlen(items[i]);
        if (i > 0) {
            *p++ = ',';
        }
        memcpy(p, items[i], m);
        p += m;
    }
    *p++ = '}';
    *p = '\0';
    return out;
}

static enum lt_api_store_rc insert_batch(PGconn *conn, const char *tenant, int n,
                                         char (*ids)[LT_UUID_STR_LEN],
                                         const struct lt_api_task_spec *specs,
                                         const struct lt_api_charge *ch, char **body,
                                         char **queue_array)
{
    enum lt_api_store_rc rc = LT_API_STORE_ERROR;
    const char **queues = malloc(sizeof(*queues) * (size_t)n);
    char *rows = batch_rows(n, ids, specs);
    char window[24];
    int nq = 0;

    if (queues == NULL || rows == NULL) {
        goto out;
    }
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int j = 0; j < nq && !seen; j++) {
            seen = strcmp(queues[j], specs[i].queue) == 0;
        }
        if (!seen) {
            queues[nq++] = specs[i].queue;
        }
    }
    if ((*queue_array = array_literal(nq, queues)) == NULL) {
        goto out;
    }
    snprintf(window, sizeof(window), "%" PRId64, ch->window_us);
    const char *insert[3] = {rows, tenant, window};
    PGresult *res = lt_db_exec(conn, SQL_INSERT_BATCH, 3, insert);
    if (res == NULL) {
        rc = lt_api_store_failed();
        goto out;
    }
    *body = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    rc = *body != NULL ? LT_API_STORE_OK : LT_API_STORE_ERROR;
out:
    free(queues);
    free(rows);
    return rc;
}

enum lt_api_store_rc lt_api_store_batch(const struct lt_cfg *cfg, const char *tenant, int n,
                                        char (*ids)[LT_UUID_STR_LEN],
                                        const struct lt_api_task_spec *specs, long cost,
                                        struct lt_api_charge *ch, char **body)
{
    enum lt_api_store_rc rc;
    char *queues = NULL; /* the batch's queues, to wake once committed */
    PGconn *conn;
    int r;

    *body = NULL;
    memset(ch, 0, sizeof(*ch));
    if ((conn = lt_api_store_conn(cfg)) == NULL) {
        return LT_API_STORE_DOWN;
    }
again:
    if (lt_db_begin(conn) < 0) {
        return lt_api_store_failed();
    }
    if (lt_api_charge_limits(conn, cfg, tenant, ch) < 0 ||
        (r = lt_api_charge_active(conn, tenant, n, ch)) < 0) {
        rc = lt_api_store_failed();
    } else if (r != 1) {
        rc = r == 2 ? LT_API_STORE_AGAIN : LT_API_STORE_ACTIVE;
    } else if ((r = lt_api_charge_units(conn, tenant, cost, ch)) < 0) {
        rc = lt_api_store_failed();
    } else if (r != 1) {
        rc = r == 2 ? LT_API_STORE_AGAIN : LT_API_STORE_QUOTA;
    } else {
        rc = insert_batch(conn, tenant, n, ids, specs, ch, body, &queues);
    }
    if (rc == LT_API_STORE_OK && lt_db_commit(conn) < 0) {
        rc = lt_api_store_failed();
    }
    if (rc != LT_API_STORE_OK) {
        if (rc != LT_API_STORE_DOWN) {
            lt_db_rollback(conn);
        }
        free(*body);
        *body = NULL;
    }
    if (rc == LT_API_STORE_AGAIN) {
        free(queues);
        queues = NULL;
        goto again; /* at most once: ch->slow is set now */
    }
    if (rc == LT_API_STORE_OK) {
        wake(conn, queues);
    }
    free(queues);
    return rc;
}

/* ---- GET /quota, POST /quota/check ---- */

enum lt_api_store_rc lt_api_store_quota(const struct lt_cfg *cfg, const char *tenant,
                                        struct lt_api_charge *ch)
{
    PGconn *conn = lt_api_store_conn(cfg);

    memset(ch, 0, sizeof(*ch));
    if (conn == NULL) {
        return LT_API_STORE_DOWN;
    }
    if (lt_api_charge_limits(conn, cfg, tenant, ch) < 0 ||
        lt_api_charge_read(conn, tenant, ch) < 0) {
        return lt_api_store_failed();
    }
    return LT_API_STORE_OK;
}
