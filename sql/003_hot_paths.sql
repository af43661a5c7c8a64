-- 003: what keeps a create and a poll from costing O(queue depth) or O(the tenant's tasks).
--
-- The active-task limit (002) was checked by counting the tenant's live tasks on every
-- create, under a per-tenant advisory lock: O(min(active, max_active)) per create, all
-- of it serialised per tenant. quota_active keeps instead an upper bound of that count
-- per tenant: the exact count at the last recount, plus every task a create, batch or
-- retry made live since (in the same transaction, so a rollback takes its share back).
-- Only the API makes tasks live and every such path adds to the bound, so it never
-- understates; tasks leaving the live set (workers, reaper, cancels) touch nothing and
-- simply make it an overstatement. A create whose n tasks fit under the bound is
-- admitted by one conditional UPDATE of the row (its lock serialises the tenant's
-- creates exactly as the quota_usage row already does); only when the bound says "no"
-- does the create recount (through tasks_tenant_active_idx, no further than the limit)
-- while holding the row, and write the exact figure back. Far from the limit a create
-- costs O(1); near it, O(max_active) as before. No row = never counted: the first
-- limited create counts. Lock order: the quota_active row, then the quota_usage row.
CREATE TABLE quota_active (
    tenant text PRIMARY KEY,
    bound  bigint NOT NULL CHECK (bound >= 0)
);

-- eta_s: the recent average duration of a type is taken over its latest completions
-- (a bounded sample, newest first), not over every completion of the last 24 hours.
CREATE INDEX tasks_type_completed_idx ON tasks (type, completed_at DESC)
    WHERE status = 'completed';
