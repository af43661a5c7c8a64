"""Faults provoked on the running stack: a worker child killed mid-task, the worker
stopped with SIGTERM while tasks run, PostgreSQL stopped under the API and the worker.
Each time no task is lost, none finishes twice, and the programs recover by themselves.

These tests change the shared stack (a program restarted, the database bounced) and put
it back as they found it before they end, pass or fail.
"""

import os
import signal
import time

import requests

from ltapi import Api, TERMINAL, assert_problem, attempt_of, event_kinds, tenant_name

DRAIN_S = 2  # worker.drain_s of the test configuration


def worker_pid_of(stack, task_id):
    wid = stack.sql("SELECT worker_id FROM tasks WHERE id = %s", task_id)[0][0]
    assert wid and ":" in wid, wid
    return int(wid.rsplit(":", 1)[1])


def terminal_events(stack, task_id):
    return [k for k in event_kinds(stack, task_id) if k in TERMINAL]


def wait_children(stack, n, exclude=()):
    return stack.wait_for(lambda: len([p for p in stack.worker_children() if p not in exclude])
                          == n and stack.worker_children(),
                          timeout=15, what="%d worker children" % n)


def test_killed_worker_child_task_is_rescued_and_completes_once(stack):
    api = Api(stack, tenant_name("kill9"))
    task = api.create_ok("sleep", {"ms": 2000})
    api.wait_status(task["id"], "running", timeout=10)
    pid = worker_pid_of(stack, task["id"])
    assert pid in stack.worker_children(), (pid, stack.worker_children())

    os.kill(pid, signal.SIGKILL)
    # The lease (3 s) lapses, the reaper (every 1 s) puts it back, a child runs it again.
    stack.wait_for(lambda: "rescued" in event_kinds(stack, task["id"]), timeout=10,
                   what="the rescued event")
    final = api.wait_status(task["id"], TERMINAL, timeout=15)
    assert final["status"] == "completed", final
    assert final["result"] == {"slept_ms": 2000}
    assert final["retry_count"] == 1, final
    assert attempt_of(stack, task["id"]) == 2
    kinds = [k for k in event_kinds(stack, task["id"]) if k != "progress"]
    assert kinds == ["created", "started", "rescued", "started", "completed"], kinds
    assert terminal_events(stack, task["id"]) == ["completed"]
    # The master replaced the child it lost.
    wait_children(stack, 2, exclude=(pid,))
    assert pid not in stack.worker_children()


def test_sigterm_drains_then_hands_back_without_charging(stack):
    api = Api(stack, tenant_name("drain"))
    long_task = api.create_ok("sleep", {"ms": 5000})["id"]
    short_task = api.create_ok("sleep", {"ms": 800})["id"]
    api.wait_status(long_task, "running", timeout=10)
    api.wait_status(short_task, "running", timeout=10)
    master = stack.procs["worker"]
    try:
        t0 = time.monotonic()
        stack.signal("worker", signal.SIGTERM)
        rc = master.wait(timeout=DRAIN_S + 5)
        took = time.monotonic() - t0
        assert rc == 0, "worker exited %r; log ends:\n%s" % (rc, stack.log("worker")[-2000:])
        assert took < DRAIN_S + 3, "drain took %.1f s" % took

        # The short task finished during the drain, on its first attempt.
        short = api.task(short_task)
        assert short["status"] == "completed", short
        assert attempt_of(stack, short_task) == 1
        # The long one went back to retry, ready now, with no attempt charged.
        long_ = api.task(long_task)
        assert long_["status"] == "retry", long_
        assert long_["retry_count"] == 0, long_
        assert attempt_of(stack, long_task) == 0
        row = stack.sql("SELECT run_at <= now(), lease_until, worker_id FROM tasks "
                        "WHERE id = %s", long_task)[0]
        assert row == (True, None, None), row
        last = stack.sql("SELECT kind, message FROM task_events WHERE task_id = %s "
                         "ORDER BY seq DESC LIMIT 1", long_task)[0]
        assert last[0] == "retry", last
        assert "handed back" in (last[1] or ""), last
        assert terminal_events(stack, long_task) == []
    finally:
        stack.restart("worker")
    wait_children(stack, 2)
    # Back at work, the handed-back task runs to the end, as its first charged attempt.
    final = api.wait_status(long_task, TERMINAL, timeout=15)
    assert final["status"] == "completed", final
    assert attempt_of(stack, long_task) == 1
    assert terminal_events(stack, long_task) == ["completed"]


def test_database_outage_answers_503_and_loses_nothing(stack):
    api = Api(stack, tenant_name("pgdown"))
    before = api.create_ok("noop", {}, delay_s=1)["id"]   # pending through the outage
    stack.stop_postgres()
    try:
        r = api.get(before, timeout=20)
        assert_problem(r, 503)
        assert r.headers.get("Retry-After", "").isdigit(), r.headers
        r = api.request("POST", "/api/v1/tasks", json={"type": "noop", "payload": {}},
                        timeout=20)
        assert_problem(r, 503)
        assert r.headers.get("Retry-After", "").isdigit(), r.headers
        assert_problem(api.list(), 503)

        health = requests.get(stack.url + "/healthz", timeout=10)
        assert health.status_code == 200, health.text
        ready = requests.get(stack.url + "/readyz", timeout=20)
        assert ready.status_code == 503, ready.text
    finally:
        stack.start_postgres()
    stack.wait_for(lambda: api.get(before).status_code == 200, timeout=20,
                   what="the API to answer again")
    stack.wait_ready(timeout=20)
    # The refused create left nothing behind; only the task from before exists.
    assert api.count_rows() == 1
    after = api.create_ok("noop", {})["id"]
    for tid in (before, after):
        final = api.wait_status(tid, TERMINAL, timeout=20)
        assert final["status"] == "completed", final
        assert terminal_events(stack, tid) == ["completed"]
    assert stack.dead_programs() == {}, "a program died in the outage: %r; logs:\n%s" % (
        stack.dead_programs(), {n: stack.log(n)[-1500:] for n in stack.dead_programs()})
    wait_children(stack, 2)
