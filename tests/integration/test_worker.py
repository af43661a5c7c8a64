"""Failures and retries as the worker handles them: retryable failures back off with
growing, capped, fully jittered delays until the budget is spent; permanent failures end
at once; a task that recovers completes; POST /retry gives a finished task a new life.

The stack's `sleep` type has max_retries 3, backoff_base_ms 300, backoff_max_ms 2000, so
the jitter ceilings of the three retries are 300, 600 and 1200 ms.
"""

import contextlib

from ltapi import Api, TERMINAL, assert_problem, attempt_of, event_kinds, tenant_name

CEILINGS_MS = [300, 600, 1200]


@contextlib.contextmanager
def retry_log(stack):
    """Records every move of a task to `retry`: the time of the failure (the statement's
    now()) and the run_at it set, which the task row itself overwrites on the next retry.
    A test-only trigger, dropped afterwards."""
    stack.sql("CREATE TABLE it_retry_log (task_id uuid, attempt int, failed_at timestamptz, "
              "run_at timestamptz)")
    try:
        stack.sql("CREATE FUNCTION it_retry_log_fn() RETURNS trigger LANGUAGE plpgsql AS $$ "
                  "BEGIN INSERT INTO it_retry_log VALUES (NEW.id, NEW.attempt, now(), NEW.run_at); "
                  "RETURN NEW; END $$")
        stack.sql("CREATE TRIGGER it_retry_log_tr AFTER UPDATE ON tasks FOR EACH ROW "
                  "WHEN (NEW.status = 'retry' AND OLD.status IS DISTINCT FROM 'retry') "
                  "EXECUTE FUNCTION it_retry_log_fn()")
        yield
    finally:
        stack.sql("DROP TRIGGER IF EXISTS it_retry_log_tr ON tasks")
        stack.sql("DROP FUNCTION IF EXISTS it_retry_log_fn()")
        stack.sql("DROP TABLE IF EXISTS it_retry_log")


def without_progress(kinds):
    return [k for k in kinds if k != "progress"]


def test_retryable_failures_back_off_then_exhaust(stack):
    api = Api(stack, tenant_name("backoff"))
    n = 6
    with retry_log(stack):
        ids = [api.create_ok("sleep", {"ms": 20, "fail": "retryable"})["id"] for _ in range(n)]
        finals = [api.wait_status(i, TERMINAL, timeout=25) for i in ids]
        log = stack.sql("SELECT task_id::text, attempt, failed_at, run_at FROM it_retry_log "
                        "WHERE task_id = ANY(%s::uuid[]) ORDER BY task_id, failed_at", ids)

    third_delays = []
    for tid, final in zip(ids, finals):
        assert final["status"] == "failed", final
        assert final["metadata"].get("retry_exhausted") is True, final
        assert final["error"], final
        assert final["max_retries"] == 3
        assert final["retry_count"] == 3, final
        assert final["completed_at"] is not None
        assert attempt_of(stack, tid) == 4, "max_retries + 1 attempts"
        assert without_progress(event_kinds(stack, tid)) == \
            ["created"] + ["started", "retry"] * 3 + ["started", "failed"]

        mine = [row for row in log if row[0] == tid]
        assert [row[1] for row in mine] == [1, 2, 3], mine
        starts = [r[0] for r in stack.sql(
            "SELECT at FROM task_events WHERE task_id = %s AND kind = 'started' ORDER BY seq",
            tid)]
        for k, (_, _, failed_at, run_at) in enumerate(mine):
            delay_ms = (run_at - failed_at).total_seconds() * 1000
            # Full jitter: anywhere in [0, ceiling]; 5 ms for rounding.
            assert -1 <= delay_ms <= CEILINGS_MS[k] + 5, \
                "retry %d of %s waited %.0f ms, ceiling %d" % (k + 1, tid, delay_ms, CEILINGS_MS[k])
            # The next attempt did not start before its run_at.
            assert starts[k + 1] >= run_at, (starts, mine)
        third_delays.append((mine[2][3] - mine[2][2]).total_seconds() * 1000)

    # The ceiling grows: with six tasks, all third delays under the first ceiling (300 of
    # 1200 ms) would happen by chance once in ~4000 runs; a fixed backoff does it always.
    assert max(third_delays) > CEILINGS_MS[0], third_delays


def test_permanent_failure_fails_at_once(stack):
    api = Api(stack, tenant_name("perm"))
    task = api.create_ok("sleep", {"ms": 20, "fail": "permanent"})
    final = api.wait_status(task["id"], TERMINAL, timeout=10)
    assert final["status"] == "failed", final
    assert final["retry_count"] == 0
    assert final["error"], final
    assert final["metadata"].get("retry_exhausted") in (None, False), final
    assert final["completed_at"] is not None
    assert attempt_of(stack, task["id"]) == 1
    assert without_progress(event_kinds(stack, task["id"])) == ["created", "started", "failed"]


def test_retryable_failure_then_success_completes(stack):
    """The payload decides the failure, so the test repairs it in SQL while the task waits
    in `retry` (a conditional UPDATE: it only touches a task that is in `retry`)."""
    api = Api(stack, tenant_name("recover"))
    task = api.create_ok("sleep", {"ms": 20, "fail": "retryable"})

    def repaired():
        return stack.sql("UPDATE tasks SET payload = payload - 'fail' "
                         "WHERE id = %s AND status = 'retry' RETURNING attempt", task["id"])

    rows = stack.wait_for(repaired, timeout=15, interval=0.01, what="the task to wait in retry")
    failed_attempts = rows[0][0]
    assert 1 <= failed_attempts <= 3
    final = api.wait_status(task["id"], TERMINAL, timeout=10)
    assert final["status"] == "completed", final
    assert final["result"] == {"slept_ms": 20}
    assert final["error"] is None
    assert final["retry_count"] == failed_attempts
    assert "retry_exhausted" not in final["metadata"] or \
        final["metadata"]["retry_exhausted"] is False
    assert attempt_of(stack, task["id"]) == failed_attempts + 1
    kinds = without_progress(event_kinds(stack, task["id"]))
    assert kinds == ["created"] + ["started", "retry"] * failed_attempts + \
        ["started", "completed"], kinds


def test_post_retry_runs_a_failed_task_again(stack):
    api = Api(stack, tenant_name("again"))
    task = api.create_ok("sleep", {"ms": 20, "fail": "permanent"})
    assert api.wait_status(task["id"], TERMINAL, timeout=10)["status"] == "failed"
    stack.sql("UPDATE tasks SET payload = payload - 'fail' WHERE id = %s", task["id"])

    r = api.retry(task["id"])
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["id"] == task["id"]
    assert body["status"] == "pending", body
    assert body["retry_count"] == 0 and body["completed_at"] is None, body

    final = api.wait_status(task["id"], TERMINAL, timeout=10)
    assert final["status"] == "completed", final
    assert final["result"] == {"slept_ms": 20}
    assert final["error"] is None
    kinds = without_progress(event_kinds(stack, task["id"]))
    first_failed = kinds.index("failed")
    assert kinds[:first_failed + 1] == ["created", "started", "failed"], kinds
    # After the retry: one more run and exactly one new terminal event.
    rest = kinds[first_failed + 1:]
    assert rest[-2:] == ["started", "completed"], kinds
    assert sum(k in TERMINAL for k in rest) == 1, kinds
    # Done is done: a completed task cannot be retried.
    assert_problem(api.retry(task["id"]), 409)


def test_post_retry_runs_a_cancelled_task(stack):
    api = Api(stack, tenant_name("again-cx"))
    task = api.create_ok("sleep", {"ms": 1000})
    api.wait_status(task["id"], "running", timeout=10)
    assert api.cancel(task["id"]).status_code == 202
    assert api.wait_status(task["id"], TERMINAL, timeout=5)["status"] == "cancelled"

    r = api.retry(task["id"])
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "pending"
    final = api.wait_status(task["id"], TERMINAL, timeout=10)
    assert final["status"] == "completed", final
    assert final["result"] == {"slept_ms": 1000}
    kinds = without_progress(event_kinds(stack, task["id"]))
    assert kinds[:3] == ["created", "started", "cancelled"], kinds
    assert kinds[-2:] == ["started", "completed"], kinds


def test_retry_of_running_task_is_a_conflict(stack):
    api = Api(stack, tenant_name("again-run"))
    task = api.create_ok("sleep", {"ms": 5000})
    api.wait_status(task["id"], "running", timeout=10)
    n_events = len(event_kinds(stack, task["id"]))
    assert_problem(api.retry(task["id"]), 409)
    assert api.task(task["id"])["status"] == "running"
    assert len(event_kinds(stack, task["id"])) == n_events
    assert api.cancel(task["id"]).status_code == 202
    api.wait_status(task["id"], TERMINAL, timeout=5)


# ---- a completion and the next claim share one transaction ------------------------------

def _one_slot_child(make_stack):
    """One child with one slot: a task that finishes leaves exactly one slot, and the
    claim that took it came back full (a backlog), so the child's next turn writes the
    completion and claims together."""
    st = make_stack(config={"worker.processes": 1, "worker.concurrency": 1})
    st.wait_for(lambda: len(st.worker_children()) == 1, timeout=15, what="one worker child")
    return st


def _event_xmin(stack, task_id, kind):
    rows = stack.sql("SELECT xmin::text FROM task_events WHERE task_id = %s AND kind = %s",
                     task_id, kind)
    assert len(rows) == 1, (task_id, kind, rows)
    return rows[0][0]


def test_completion_and_next_claim_commit_together(make_stack):
    st = _one_slot_child(make_stack)
    api = Api(st, tenant_name("pair"))
    first = api.create_ok("sleep", {"ms": 400})["id"]
    st.wait_for(lambda: api.task(first)["status"] == "running", timeout=10,
                what="the first task to run")
    second = api.create_ok("noop", {})["id"]   # waits: the only slot is taken
    assert api.task(second)["status"] == "pending"
    for tid in (first, second):
        assert api.wait_status(tid, TERMINAL, timeout=15)["status"] == "completed"
    # Rows of one transaction carry its id: the first task's `completed` event and the
    # second's `started` event were written by the same commit.
    assert _event_xmin(st, first, "completed") == _event_xmin(st, second, "started")
    assert without_progress(event_kinds(st, first)) == ["created", "started", "completed"]


def test_failed_claim_does_not_take_the_completion_with_it(make_stack):
    """The pair is all or nothing: a claim that fails rolls the completion back with it,
    and the completion is then written on its own -- once -- while the claim keeps
    failing; nothing is lost and nothing runs twice."""
    st = _one_slot_child(make_stack)
    api = Api(st, tenant_name("pairfail"))
    st.sql("CREATE FUNCTION it_refuse_claim_fn() RETURNS trigger LANGUAGE plpgsql AS $$ "
           "BEGIN RAISE EXCEPTION 'claim refused by the test'; END $$")
    try:
        st.sql("CREATE TRIGGER it_refuse_claim_tr BEFORE UPDATE ON tasks FOR EACH ROW "
               "WHEN (NEW.status = 'running' AND NEW.payload ? 'refuse_claim') "
               "EXECUTE FUNCTION it_refuse_claim_fn()")
        first = api.create_ok("sleep", {"ms": 400})["id"]
        st.wait_for(lambda: api.task(first)["status"] == "running", timeout=10,
                    what="the first task to run")
        refused = api.create_ok("noop", {"refuse_claim": True})["id"]
        done = api.wait_status(first, TERMINAL, timeout=15)
        assert done["status"] == "completed", done
        assert without_progress(event_kinds(st, first)) == ["created", "started", "completed"]
        st.wait_for(lambda: "claim refused by the test" in st.log("worker"), timeout=10,
                    what="the refused claim in the worker's log")
        row = st.sql("SELECT status::text, attempt FROM tasks WHERE id = %s", refused)[0]
        assert row == ("pending", 0), row
    finally:
        st.sql("DROP TRIGGER IF EXISTS it_refuse_claim_tr ON tasks")
        st.sql("DROP FUNCTION IF EXISTS it_refuse_claim_fn()")
    # The claim works again at the next poll.
    assert api.wait_status(refused, TERMINAL, timeout=15)["status"] == "completed"
    assert without_progress(event_kinds(st, refused)) == ["created", "started", "completed"]
