-- 004: one tenant's creates no longer queue behind each other's commits.
--
-- Until now every create of a tenant updated the same quota_usage row (and, with an
-- active-task limit, the same quota_active row) and held that row lock until its COMMIT,
-- fsync included: a tenant's creates committed one at a time, never in a group, however
-- many API processes there were. Both tables are now split into stripes, one per API
-- process (the process's slot in the prefork pool), so the creates of one process queue
-- only behind that process's previous create, which has already finished.
--
-- The limits stay exact by escrow. Each stripe row carries a cap, its share of the limit,
-- and lim, the limit that share was cut from. The sum of the caps of a (tenant, window)
-- never exceeds the limit, and a stripe admits on its own only while its units (or its
-- bound of live tasks) stay within its cap: the fast path is one conditional UPDATE of
-- the process's own row. When that fails (cap used up, no row yet, or lim differs from
-- the limit now configured), the create takes the tenant's advisory lock, locks every
-- stripe row, decides on the exact sum (for live tasks: a recount of tasks), and hands the
-- remaining room out again in equal shares. Close to the limit every create takes that
-- path, as every create used to; far from it, a create touches one row nobody else holds.
--
-- While a limit is 0 (unlimited) the rows' lim is set to 0, so the first create after a
-- limit comes back decides on an exact sum or count, never on shares of an older limit.
-- units of one stripe may go below 0 (a refund lands on the refunding process's stripe);
-- the sum is what is used.

ALTER TABLE quota_usage
    ADD COLUMN stripe smallint NOT NULL DEFAULT 0 CHECK (stripe >= 0),
    ADD COLUMN cap bigint NOT NULL DEFAULT 0,
    ADD COLUMN lim bigint NOT NULL DEFAULT -1;
ALTER TABLE quota_usage DROP CONSTRAINT quota_usage_pkey;
ALTER TABLE quota_usage ADD PRIMARY KEY (tenant, window_start, stripe);

ALTER TABLE quota_active
    ADD COLUMN stripe smallint NOT NULL DEFAULT 0 CHECK (stripe >= 0),
    ADD COLUMN cap bigint NOT NULL DEFAULT 0,
    ADD COLUMN lim bigint NOT NULL DEFAULT -1;
ALTER TABLE quota_active DROP CONSTRAINT quota_active_pkey;
ALTER TABLE quota_active ADD PRIMARY KEY (tenant, stripe);
