-- 001: the task table, its execution history and the JSON shape the API serves.
--
-- The claim walks tasks_claim_idx in ORDER BY order; columns that change while a task
-- runs (progress, heartbeat, lease, result, version) are in no index so those UPDATEs
-- stay HOT, and fillfactor leaves room on each page for the new tuple versions.

CREATE TYPE task_status AS ENUM
    ('pending', 'running', 'retry', 'completed', 'failed', 'cancelled');

CREATE TABLE tasks (
    id               uuid PRIMARY KEY,
    tenant           text NOT NULL,
    type             text NOT NULL,
    queue            text NOT NULL,
    priority         smallint NOT NULL DEFAULT 1,   -- 0 low, 1 normal, 2 high, 3 urgent
    status           task_status NOT NULL DEFAULT 'pending',
    payload          jsonb NOT NULL,
    result           jsonb,
    error            text,
    progress         smallint NOT NULL DEFAULT 0,
    progress_message text,
    attempt          integer NOT NULL DEFAULT 0,    -- attempts started (running counts)
    max_retries      integer NOT NULL,
    timeout_s        integer NOT NULL,
    cost             integer NOT NULL DEFAULT 0,
    callback_url     text,
    metadata         jsonb NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    run_at           timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    completed_at     timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    version          integer NOT NULL DEFAULT 1,    -- bumped by every change; the ETag
    event_seq        integer NOT NULL DEFAULT 0,    -- last task_events.seq handed out
    lease_until      timestamptz,
    heartbeat_at     timestamptz,
    worker_id        text,
    cancel_requested boolean NOT NULL DEFAULT false,
    idempotency_key  text,
    request_hash     text,
    expires_at       timestamptz,
    CHECK (progress BETWEEN 0 AND 100),
    CHECK (priority BETWEEN 0 AND 3)
) WITH (fillfactor = 70,
        autovacuum_vacuum_scale_factor = 0.01,
        autovacuum_vacuum_threshold = 1000,
        autovacuum_analyze_scale_factor = 0.02,
        autovacuum_vacuum_cost_delay = 0);

-- The claim: ready rows only, in exactly the ORDER BY of the claim query.
CREATE INDEX tasks_claim_idx ON tasks (queue, priority DESC, run_at, id)
    WHERE status IN ('pending', 'retry');
CREATE INDEX tasks_tenant_created_idx ON tasks (tenant, created_at DESC, id DESC);
CREATE INDEX tasks_lease_idx ON tasks (lease_until) WHERE status = 'running';
CREATE INDEX tasks_completed_idx ON tasks (completed_at)
    WHERE status IN ('completed', 'failed', 'cancelled');
CREATE UNIQUE INDEX tasks_idempotency_idx ON tasks (tenant, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE task_events (
    task_id  uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    seq      integer NOT NULL,
    at       timestamptz NOT NULL DEFAULT now(),
    kind     text NOT NULL,
    progress smallint,
    message  text,
    PRIMARY KEY (task_id, seq)
);

CREATE TABLE workers (
    id           text PRIMARY KEY,               -- host:pid of the child
    host         text NOT NULL,
    pid          integer NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    dead         boolean NOT NULL DEFAULT false
);

-- RFC 3339 UTC with milliseconds, the only time format the API speaks.
CREATE FUNCTION lt_ts(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

CREATE FUNCTION lt_priority_name(p smallint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (ARRAY['low', 'normal', 'high', 'urgent'])[p + 1]
$$;

-- The task object of API.md. json (not jsonb) keeps the documented key order for a
-- single task. full = false is a list item: payload and result are left out (API.md);
-- that variant goes through jsonb to drop the keys, so its keys come in jsonb's order.
CREATE FUNCTION lt_task_json(t tasks, "full" boolean) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN "full" THEN o ELSE (o::jsonb - 'payload' - 'result')::json END
    FROM (SELECT json_build_object(
        'id', t.id,
        'type', t.type,
        'queue', t.queue,
        'priority', lt_priority_name(t.priority),
        'status', t.status,
        'progress', t.progress,
        'progress_message', t.progress_message,
        'payload', CASE WHEN "full" THEN t.payload END,
        'result', CASE WHEN "full" THEN t.result END,
        'error', t.error,
        'retry_count', CASE WHEN t.status = 'retry' THEN t.attempt
                            ELSE greatest(t.attempt - 1, 0) END,
        'max_retries', t.max_retries,
        'timeout_s', t.timeout_s,
        'cost', t.cost,
        'callback_url', t.callback_url,
        'metadata', t.metadata,
        'created_at', lt_ts(t.created_at),
        'run_at', lt_ts(t.run_at),
        'started_at', lt_ts(t.started_at),
        'completed_at', lt_ts(t.completed_at),
        'cancel_requested', t.cancel_requested) AS o) AS built
$$;
