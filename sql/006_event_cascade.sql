-- 006: a task's events still go with it, without a foreign key checked at every event.
--
-- The foreign key from task_events to tasks ran a check per event row: a lookup of the
-- task by primary key and a FOR KEY SHARE lock on it, with a WAL record for the lock. A
-- batch create paid that 1,000 times per request, and every task drained paid it for
-- its `started` and `completed` events. Without it, in runs alternating the binaries
-- before and after this file on one machine: batch create 28,400-29,300 -> 34,300-44,400
-- tasks/s, the drain 14,948-17,090 -> 17,362-20,072 tasks/s. It protected nothing the
-- writers do not already guarantee: every event is inserted by the statement that
-- inserts its task or updates the task's row, so the row exists and is locked by that
-- transaction until it commits, and the reaper's expiry skips locked rows.
--
-- What the key also did, deleting a task's events with the task, two statement
-- triggers now do for any DELETE or TRUNCATE of tasks, by an operator's hand included:
-- one set-based DELETE per statement, from the statement's transition table of the
-- deleted rows.

ALTER TABLE task_events DROP CONSTRAINT task_events_task_id_fkey;

CREATE FUNCTION lt_task_events_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM task_events e USING lt_gone g WHERE e.task_id = g.id;
    RETURN NULL;
END
$$;

CREATE FUNCTION lt_task_events_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE task_events;
    RETURN NULL;
END
$$;

CREATE TRIGGER tasks_delete_events AFTER DELETE ON tasks
    REFERENCING OLD TABLE AS lt_gone
    FOR EACH STATEMENT EXECUTE FUNCTION lt_task_events_delete();

CREATE TRIGGER tasks_truncate_events AFTER TRUNCATE ON tasks
    FOR EACH STATEMENT EXECUTE FUNCTION lt_task_events_truncate();
