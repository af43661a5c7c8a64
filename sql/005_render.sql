-- 005: the task object is rendered without planning SQL functions at every call.
--
-- lt_task_json had a sub-SELECT, and lt_ts was declared IMMUTABLE over to_char, which is
-- only STABLE: PostgreSQL inlines neither, so every statement that rendered a task parsed
-- and planned lt_task_json's body and each of its four lt_ts calls anew. That was about a
-- fifth of the database's CPU time under a load of single creates (perf, make bench).
-- All three are now single expressions of honest volatility, which the planner inlines
-- into the calling statement.

CREATE OR REPLACE FUNCTION lt_ts(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- The object in the documented key order; payload and result are null unless full.
CREATE FUNCTION lt_task_object(t tasks, "full" boolean) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT json_build_object(
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
        'cancel_requested', t.cancel_requested)
$$;

-- As before: a list item (full = false) drops payload and result through jsonb.
CREATE OR REPLACE FUNCTION lt_task_json(t tasks, "full" boolean) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN "full" THEN lt_task_object(t, true)
                ELSE (lt_task_object(t, false)::jsonb - 'payload' - 'result')::json END
$$;
