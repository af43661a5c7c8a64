"""The life of a task through the real stack: create, run, complete, read its history,
schedule it later, cancel it, poll it cheaply with ETags, count it in the stats.

Every test uses tenants of its own, so what it sees is only what it made.
"""

import datetime
import os
import signal
import time

from ltapi import (Api, TERMINAL, UUID7_RE, event_kinds, format_ts, parse_ts, tenant_name,
                   utcnow, uuid7_unix_ms, assert_problem)


def check_events_in_order(events):
    """seq counts 1, 2, 3 … and times never go back."""
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1)), events
    times = [parse_ts(e["at"]) for e in events]
    assert times == sorted(times), events


def row_state(stack, task_id):
    return tuple(stack.sql("SELECT status::text, attempt, started_at FROM tasks WHERE id = %s",
                           task_id)[0])


def test_noop_create_answers_202_and_completes(stack):
    api = Api(stack, tenant_name("noop"))
    r = api.create("noop", {}, metadata={"client_ref": "book-42"})
    assert r.status_code == 202, r.text
    task = r.json()
    assert UUID7_RE.match(task["id"]), task["id"]
    assert r.headers.get("Location") == "/api/v1/tasks/" + task["id"]
    assert task["type"] == "noop"
    assert task["status"] == "pending"
    assert task["priority"] == "normal"
    assert task["progress"] == 0
    assert task["payload"] == {}
    assert task["result"] is None and task["error"] is None
    assert task["retry_count"] == 0
    assert task["metadata"] == {"client_ref": "book-42"}
    assert task["started_at"] is None and task["completed_at"] is None
    created = parse_ts(task["created_at"])
    assert parse_ts(task["run_at"]) >= created
    # The id carries its creation time.
    assert abs(uuid7_unix_ms(task["id"]) - created.timestamp() * 1000) < 2000

    done = api.wait_status(task["id"], TERMINAL, timeout=10)
    assert done["status"] == "completed", done
    assert done["result"] == {}
    assert done["progress"] == 100
    assert done["error"] is None
    assert done["retry_count"] == 0
    started, completed = parse_ts(done["started_at"]), parse_ts(done["completed_at"])
    assert created <= started <= completed
    assert done["metadata"]["client_ref"] == "book-42"
    assert isinstance(done["metadata"].get("duration_ms"), (int, float))
    assert done["metadata"]["duration_ms"] >= 0
    assert isinstance(done["metadata"].get("worker"), str) and done["metadata"]["worker"]

    events = api.history(task["id"])
    check_events_in_order(events)
    assert [e["kind"] for e in events] == ["created", "started", "completed"], events
    assert parse_ts(events[1]["at"]) == started
    assert parse_ts(events[-1]["at"]) == completed


def test_sleep_reports_progress_and_result(stack):
    api = Api(stack, tenant_name("sleep"))
    task = api.create_ok("sleep", {"ms": 800})
    assert task["payload"] == {"ms": 800}

    # Progress seen while it runs never goes back.
    seen = []

    def finished():
        t = api.task(task["id"])
        seen.append(t["progress"])
        return t["status"] in TERMINAL and t

    done = stack.wait_for(finished, timeout=10, interval=0.03, what="the sleep task to finish")
    assert done["status"] == "completed", done
    assert done["result"] == {"slept_ms": 800}
    assert seen == sorted(seen), seen
    assert any(0 < p < 100 for p in seen), "no intermediate progress was visible: %r" % seen
    ran = parse_ts(done["completed_at"]) - parse_ts(done["started_at"])
    assert ran.total_seconds() >= 0.79, ran

    events = api.history(task["id"])
    check_events_in_order(events)
    assert [e["kind"] for e in events] == \
        ["created", "started", "progress", "progress", "progress", "completed"], events
    assert [e["progress"] for e in events if e["kind"] == "progress"] == [25, 50, 75]


def test_ids_are_uuidv7_and_sort_by_creation(stack):
    api = Api(stack, tenant_name("ids"))
    ids = []
    for _ in range(6):
        ids.append(api.create_ok("noop", {})["id"])
    for i in ids:
        assert UUID7_RE.match(i), i
    assert len(set(ids)) == len(ids)
    assert sorted(ids) == ids, "ids made one after another must sort in creation order"
    # Newest first in the list, which is the reverse of the id order.
    listed = [t["id"] for t in api.list(limit=50).json()["tasks"]]
    assert listed == list(reversed(ids))


def test_delay_s_and_run_at_hold_the_task_until_then(stack):
    api = Api(stack, tenant_name("delay"))
    by_delay = api.create_ok("noop", {}, delay_s=2)
    lag = parse_ts(by_delay["run_at"]) - parse_ts(by_delay["created_at"])
    assert 1.95 <= lag.total_seconds() <= 2.1, by_delay

    wanted = format_ts(utcnow() + datetime.timedelta(seconds=1.5))
    by_time = api.create_ok("noop", {}, run_at=wanted)
    assert by_time["run_at"] == wanted, by_time
    assert by_time["status"] == "pending"

    # Until shortly before their run_at, both stay pending and unstarted.
    earliest = min(parse_ts(by_delay["run_at"]), parse_ts(by_time["run_at"]))
    checks = 0
    while (earliest - utcnow()).total_seconds() > 0.15:
        for t in (by_delay, by_time):
            now = api.task(t["id"])
            assert now["status"] == "pending" and now["started_at"] is None, now
        checks += 1
        time.sleep(0.1)
    assert checks >= 5

    for t in (by_delay, by_time):
        done = api.wait_status(t["id"], TERMINAL, timeout=10)
        assert done["status"] == "completed", done
        run_at, started = parse_ts(done["run_at"]), parse_ts(done["started_at"])
        assert started >= run_at, done
        # Polled at 200 ms (and woken at the earliest run_at it knows): not much later.
        assert (started - run_at).total_seconds() < 1.5, done


def test_priority_then_run_at_decides_the_order(make_stack):
    # One child claiming one task at a time makes the claim order visible in
    # started_at; with batches every task of a claim shares one started_at.
    st = make_stack(config={"worker.processes": 1, "worker.concurrency": 1,
                            "worker.claim_batch": 1})
    api = Api(st, tenant_name("prio"))
    children = st.worker_children()
    assert len(children) == 1, children
    os.kill(children[0], signal.SIGSTOP)
    try:
        # Created in an order that disagrees with the expected run order.
        low = api.create_ok("sleep", {"ms": 50}, priority="low")["id"]
        normal = [api.create_ok("sleep", {"ms": 50}, priority="normal")["id"] for _ in range(3)]
        high = api.create_ok("sleep", {"ms": 50}, priority="high")["id"]
        urgent = api.create_ok("sleep", {"ms": 50}, priority="urgent")["id"]
        # Equal priority runs in run_at order, not creation order: give the normal ones
        # run_at times in reverse creation order (all in the past, so all are ready), and
        # the low one the oldest run_at of all, which priority must still overrule.
        # One statement, so every run_at is measured from the same now().
        st.sql("UPDATE tasks t SET run_at = now() - make_interval(secs => v.age) "
               "FROM (VALUES (%s::uuid, 0.3), (%s::uuid, 0.4), (%s::uuid, 0.5), (%s::uuid, 0.9))"
               " AS v(id, age) WHERE t.id = v.id", normal[0], normal[1], normal[2], low)
        assert st.sql("SELECT count(*) FROM tasks WHERE tenant = %s AND status = 'pending'",
                      api.tenant)[0][0] == 6
    finally:
        os.kill(children[0], signal.SIGCONT)
    expected = [urgent, high, normal[2], normal[1], normal[0], low]
    for tid in expected:
        assert api.wait_status(tid, TERMINAL, timeout=15)["status"] == "completed"
    rows = st.sql("SELECT id::text, started_at FROM tasks WHERE tenant = %s "
                  "ORDER BY started_at", api.tenant)
    started = [r[0] for r in rows]
    assert len({r[1] for r in rows}) == len(rows), "claims must be one at a time here: %r" % rows
    assert started == expected, "started in %r, expected %r" % (started, expected)


def test_queue_position_counts_ready_tasks_ahead_up_to_the_cap(make_stack):
    # No worker: the queue only grows. A stack of its own, so the queue is ours alone.
    st = make_stack(programs=("api",), reaper_loop=None)
    api = Api(st, tenant_name("qpos"))
    first = api.create_ok("noop", {})
    assert first["queue_position"] == 0
    assert api.create_ok("noop", {})["queue_position"] == 1
    # Not ready yet: it waits behind the ready ones, and counts for nobody.
    assert api.create_ok("noop", {}, delay_s=60)["queue_position"] == 2
    assert api.create_ok("noop", {})["queue_position"] == 2
    assert api.create_ok("noop", {}, priority="urgent")["queue_position"] == 0
    low = api.create_ok("noop", {}, priority="low")
    assert low["queue_position"] == 4
    assert api.task(first["id"])["queue_position"] == 1   # the urgent one went ahead
    # A deep queue: the count stops at 100 (README, Decisions), read "at least 100".
    r = api.request("POST", "/api/v1/tasks/batch",
                    json={"tasks": [{"type": "noop", "payload": {}}] * 150})
    assert r.status_code == 202, r.text
    assert api.create_ok("noop", {})["queue_position"] == 100
    assert api.task(low["id"])["queue_position"] == 100
    assert api.task(first["id"])["queue_position"] == 1
    # A conditional GET answers from the ETag alone, and a wrong id is still 404.
    r = api.get(first["id"])
    etag = r.headers["ETag"]
    r = api.get(first["id"], headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.headers["ETag"] == etag and r.content == b""
    r = api.get(first["id"], headers={"If-None-Match": 'W/"pending-0"'})
    assert r.status_code == 200 and r.json()["queue_position"] == 1
    missing = "01937c4e-8f2a-7b3c-9d1e-2f3a4b5c6d7e"
    assert_problem(api.get(missing, headers={"If-None-Match": etag}), 404, "not_found")


def test_cancel_pending_task(stack):
    api = Api(stack, tenant_name("cxp"))
    task = api.create_ok("noop", {}, delay_s=60)
    r = api.cancel(task["id"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == task["id"]
    assert body["status"] == "cancelled"
    assert body["completed_at"] is not None
    after = api.task(task["id"])
    assert after["status"] == "cancelled"
    assert [e["kind"] for e in api.history(task["id"])] == ["created", "cancelled"]
    # It never ran and never will: cancelled is terminal, so the worker skips it.
    assert row_state(stack, task["id"]) == ("cancelled", 0, None)


def test_cancel_running_task_stops_it_within_a_heartbeat(stack):
    api = Api(stack, tenant_name("cxr"))
    task = api.create_ok("sleep", {"ms": 20000})
    api.wait_status(task["id"], "running", timeout=10)
    t0 = time.monotonic()
    r = api.cancel(task["id"])
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["id"] == task["id"]
    assert body["cancel_requested"] is True
    assert body["status"] == "running"
    done = api.wait_status(task["id"], TERMINAL, timeout=10)
    elapsed = time.monotonic() - t0
    assert done["status"] == "cancelled", done
    # Told at once (NOTIFY), at the latest by the next heartbeat (1 s): plus margin.
    assert elapsed < 2.5, "cancellation took %.2f s" % elapsed
    assert done["completed_at"] is not None
    assert done["result"] is None
    kinds = event_kinds(stack, task["id"])
    assert kinds[-1] == "cancelled", kinds
    assert sum(k in TERMINAL for k in kinds) == 1, kinds
    # Cancelling it again is a conflict.
    assert_problem(api.cancel(task["id"]), 409, "task_finished")


def test_cancel_finished_task_is_a_conflict(stack):
    api = Api(stack, tenant_name("cxf"))
    task = api.create_ok("noop", {})
    api.wait_status(task["id"], "completed", timeout=10)
    before = api.history(task["id"])
    etag = api.get(task["id"]).headers.get("ETag")
    assert_problem(api.cancel(task["id"]), 409, "task_finished")
    after = api.get(task["id"])
    assert after.json()["status"] == "completed"
    assert after.headers.get("ETag") == etag, "a refused cancel must change nothing"
    assert api.history(task["id"]) == before


def test_etag_and_if_none_match(stack):
    api = Api(stack, tenant_name("etag"))
    task = api.create_ok("noop", {}, delay_s=60)
    r = api.get(task["id"])
    assert r.status_code == 200
    tag = r.headers.get("ETag")
    assert tag and tag.startswith('W/"') and tag.endswith('"'), tag
    assert "pending" in tag, tag

    again = api.get(task["id"], headers={"If-None-Match": tag})
    assert again.status_code == 304, again.text
    assert again.content == b""
    assert again.headers.get("ETag") == tag

    other = api.get(task["id"], headers={"If-None-Match": 'W/"pending-999999"'})
    assert other.status_code == 200 and other.json()["id"] == task["id"]

    assert api.cancel(task["id"]).status_code == 200
    changed = api.get(task["id"], headers={"If-None-Match": tag})
    assert changed.status_code == 200, changed.text
    assert changed.json()["status"] == "cancelled"
    new_tag = changed.headers.get("ETag")
    assert new_tag and new_tag != tag and new_tag.startswith('W/"'), new_tag
    assert api.get(task["id"], headers={"If-None-Match": new_tag}).status_code == 304


def test_stats_count_the_tenants_tasks_by_status(stack):
    api = Api(stack, tenant_name("stats"))
    empty = api.stats()["stats"]
    assert empty == {s: 0 for s in ("pending", "running", "retry", "completed", "failed",
                                    "cancelled")}, empty
    done = [api.create_ok("noop", {})["id"] for _ in range(2)]
    failed = api.create_ok("sleep", {"ms": 1, "fail": "permanent"})["id"]
    pending = [api.create_ok("noop", {}, delay_s=60)["id"] for _ in range(2)]
    cancelled = api.create_ok("noop", {}, delay_s=60)["id"]
    assert api.cancel(cancelled).status_code == 200
    for tid in done:
        api.wait_status(tid, "completed", timeout=10)
    api.wait_status(failed, "failed", timeout=10)

    body = api.stats()
    assert body["stats"] == {"pending": 2, "running": 0, "retry": 0, "completed": 2,
                             "failed": 1, "cancelled": 1}, body
    # The same counts straight from the table.
    rows = dict(stack.sql("SELECT status::text, count(*) FROM tasks WHERE tenant = %s "
                          "GROUP BY status", api.tenant))
    assert {k: v for k, v in body["stats"].items() if v} == rows
    by_type = {t["type"]: t for t in body.get("by_type", [])}
    assert by_type["noop"]["completed_24h"] == 2, body
    assert by_type["sleep"]["failed_24h"] == 1, body
    for tid in pending:
        api.cancel(tid)
