-- 002: quotas (units per window, active-task limit, per-tenant overrides) and what the
-- Idempotency-Key and the refund on cancel need.
--
-- Units are charged in the create transaction by a conditional upsert on the tenant's
-- row for the current window, so concurrent creates serialise on that row and never
-- over-admit. The active-task limit is counted from tasks itself (the partial index
-- below keeps the count proportional to the tenant's live tasks), under a per-tenant
-- transaction advisory lock held by creates only: no counter that every worker
-- completion and reaper rescue would have to update (and could deadlock on when one
-- statement touches the rows of several tenants).

-- Units charged per tenant and window. Windows are aligned to the Unix epoch (a day
-- window resets at 00:00 UTC); the reaper deletes rows older than two windows.
CREATE TABLE quota_usage (
    tenant       text NOT NULL,
    window_start timestamptz NOT NULL,
    units        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, window_start)
);

-- Per-tenant overrides of the configuration's quota defaults; NULL = the default.
-- Managed with `longtask-admin quota set|show|clear`.
CREATE TABLE tenant_quotas (
    tenant           text PRIMARY KEY,
    units_per_window bigint CHECK (units_per_window >= 0),   -- 0 = unlimited
    max_active       integer CHECK (max_active >= 0),         -- 0 = unlimited
    window_s         integer CHECK (window_s > 0),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- The window a task's units were charged to; NULL when nothing is owed back (never
-- charged, or already refunded). A cancel before the first start refunds cost there.
ALTER TABLE tasks ADD COLUMN quota_window timestamptz;

-- The active-task count of a tenant: only live rows are in it.
CREATE INDEX tasks_tenant_active_idx ON tasks (tenant)
    WHERE status IN ('pending', 'running', 'retry');

-- The reaper retires idempotency keys after 24 hours, oldest first.
CREATE INDEX tasks_idempotency_created_idx ON tasks (created_at)
    WHERE idempotency_key IS NOT NULL;

-- The start of the current window of w seconds (aligned to the epoch), at now() --
-- the transaction's clock, so one transaction sees one window.
CREATE FUNCTION lt_quota_window_start(w integer) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT 'epoch'::timestamptz
           + (floor(extract(epoch FROM now()) / w) * w) * interval '1 second'
$$;
