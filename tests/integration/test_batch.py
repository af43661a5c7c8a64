"""
test_batch.py -- POST /api/v1/tasks/batch: up to 1000 tasks in one transaction, in
order, all or nothing (the failing index named), charged together, and one wake-up per
queue.
"""

import select
import threading
import time

import pytest

from ltapi import Api, assert_problem, listening, task_count


@pytest.fixture(scope="module")
def bs(make_module_stack):
    return make_module_stack(config={
        "quota.units_per_window": 5000, "quota.max_active": 2000,
        "types": [{"name": "other.noop", "handler": "noop", "queue": "other", "cost": 2}]})


def batch(api, tasks, **kw):
    return api.request("POST", "/api/v1/tasks/batch", json={"tasks": tasks}, **kw)


def test_batch_creates_all_in_order(bs):
    api = Api(bs)
    entries = [{"type": "noop", "payload": {"i": i}, "metadata": {"client_ref": "r%d" % i}}
               for i in range(5)]
    r = batch(api, entries)
    assert r.status_code == 202, r.text
    tasks = r.json()["tasks"]
    assert [t["payload"]["i"] for t in tasks] == list(range(5))
    assert [t["metadata"]["client_ref"] for t in tasks] == ["r%d" % i for i in range(5)]
    assert all(t["status"] == "pending" and t["type"] == "noop" for t in tasks)
    assert len({t["id"] for t in tasks}) == 5
    assert r.headers["RateLimit-Policy"] == '"units";q=5000;w=86400'
    for t in tasks:
        api.wait_status(t["id"], "completed")
        events = api.history(t["id"])
        assert events[0]["kind"] == "created" and events[0]["seq"] == 1


def test_one_invalid_entry_creates_nothing(bs):
    api = Api(bs)
    entries = [{"type": "sleep", "payload": {"ms": 1}} for _ in range(20)]
    entries[17] = {"type": "sleep", "payload": {"ms": -5}}
    r = batch(api, entries)
    body = assert_problem(r, 422, "validation_failed")
    assert [e["field"] for e in body["errors"]] == ["tasks[17].payload.ms"]
    assert body["detail"].startswith("tasks[17].payload.ms")
    assert task_count(bs, api.tenant) == 0


def test_the_errors_of_every_entry_are_named(bs):
    api = Api(bs)
    r = batch(api, [{"type": "noop", "payload": {}}, {"type": "nope", "payload": {}},
                    {"type": "noop", "payload": {}, "extra": 1}])
    body = assert_problem(r, 400, "invalid_request")    # the most basic class wins
    fields = [e["field"] for e in body["errors"]]
    assert "tasks[1].type" in fields and "tasks[2].extra" in fields
    assert task_count(bs, api.tenant) == 0


@pytest.mark.parametrize("body,status", [
    ({}, 400), ({"tasks": {}}, 400), ({"tasks": []}, 422), ({"tasks": [], "x": 1}, 400),
    ({"tasks": [{"type": "noop", "payload": {}}] * 1001}, 422), ([], 400),
])
def test_malformed_batches(bs, body, status):
    api = Api(bs)
    r = api.request("POST", "/api/v1/tasks/batch", json=body)
    assert_problem(r, status)
    assert task_count(bs, api.tenant) == 0


def test_batch_is_charged_together_all_or_nothing(make_stack):
    s = make_stack(config={"quota.units_per_window": 10, "quota.max_active": 0},
                   programs=("api",), reaper_loop=None)
    api = Api(s)
    r = batch(api, [{"type": "noop", "payload": {}}] * 11)
    body = assert_problem(r, 429, "quota_exceeded")
    assert body["detail"] == "needs 11 units, 10 left in this window"
    assert int(r.headers["Retry-After"]) > 0
    assert task_count(s, api.tenant) == 0
    assert s.sql("SELECT coalesce(sum(units), 0) FROM quota_usage")[0][0] == 0
    r = batch(api, [{"type": "noop", "payload": {}}] * 10)
    assert r.status_code == 202, r.text
    assert r.headers["RateLimit"].startswith('"units";r=0;')
    assert task_count(s, api.tenant) == 10


def test_batch_respects_the_active_limit(make_stack):
    s = make_stack(config={"quota.max_active": 5}, programs=("api",), reaper_loop=None)
    api = Api(s)
    assert batch(api, [{"type": "noop", "payload": {}}] * 3).status_code == 202
    assert_problem(batch(api, [{"type": "noop", "payload": {}}] * 3), 429,
                   "active_limit_exceeded")
    assert batch(api, [{"type": "noop", "payload": {}}] * 2).status_code == 202
    assert task_count(s, api.tenant) == 5


def _notified(conn, timeout):
    """The channels notified on conn: waits (up to timeout) for the first, then one
    round trip on conn collects any the server had already sent after it."""
    deadline = time.monotonic() + timeout
    while not conn.notifies and time.monotonic() < deadline:
        if select.select([conn], [], [], 0.2)[0]:
            conn.poll()
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
    got = [n.channel for n in conn.notifies]
    conn.notifies.clear()
    return got


def test_a_create_wakes_its_queue_once_committed(bs):
    # The NOTIFY is sent after the create's commit (fcgi/api_create.c, st_wake_task): whoever
    # hears it must already see the task.
    api = Api(bs)
    with listening(bs, "lt_q_other") as conn, conn.cursor() as cur:
        r = api.create("other.noop", {}, delay_s=600)
        assert r.status_code == 202, r.text
        assert _notified(conn, 3) == ["lt_q_other"]
        cur.execute("SELECT status FROM tasks WHERE id = %s", (r.json()["id"],))
        assert cur.fetchall() == [("pending",)]


def test_a_create_notifies_in_its_commit_only_when_no_other_is_in_flight(make_stack):
    """A single create with no other create in flight in any API process notifies inside
    its own transaction (one transaction id for the create and its wake-up); while
    another process's create is in flight it sends the wake-up in a transaction of its
    own after its commit (two), so notifying commits never queue behind each other
    (fcgi/api_inflight.h). Either way the notification comes once and finds the task."""
    # Without limits every single create takes the fast path, from each process's first.
    s = make_stack(config={"api.processes": 2, "quota.units_per_window": 0,
                           "quota.max_active": 0}, programs=("api",), reaper_loop=None)
    s.sql("ALTER SYSTEM SET autovacuum = off")  # an autoanalyze would take an id too
    s.sql("SELECT pg_reload_conf()")
    s.sql("CREATE FUNCTION it_hold_fn() RETURNS trigger LANGUAGE plpgsql AS $$ "
          "BEGIN PERFORM pg_sleep(3); RETURN NEW; END $$")
    s.sql("CREATE TRIGGER it_hold_tr BEFORE INSERT ON tasks FOR EACH ROW "
          "WHEN (NEW.payload ? 'hold') EXECUTE FUNCTION it_hold_fn()")
    api = Api(s)

    def mark():
        """A transaction id of our own: the ids between two marks went to the API."""
        return s.sql("SELECT pg_current_xact_id()::text::bigint")[0][0]

    def xids_since(before):
        return mark() - before - 1

    try:
        with listening(s, "lt_q_default") as conn, conn.cursor() as cur:
            for _ in range(4):
                before = mark()
                r = api.create("noop", {}, delay_s=600)
                assert r.status_code == 202, r.text
                assert _notified(conn, 3) == ["lt_q_default"]
                assert xids_since(before) == 1
                cur.execute("SELECT status FROM tasks WHERE id = %s", (r.json()["id"],))
                assert cur.fetchall() == [("pending",)]

            held = {}
            thread = threading.Thread(target=lambda: held.update(
                r=Api(s, tenant=api.tenant).create("noop", {"hold": True}, delay_s=600)))
            thread.start()
            try:
                s.wait_for(lambda: s.sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                    "'longtask-api' AND wait_event = 'PgSleep'")[0][0] == 1,
                    timeout=10, what="a create held in its insert")
                before = mark()
                r = api.create("noop", {}, delay_s=600)
                assert r.status_code == 202, r.text
                assert _notified(conn, 3) == ["lt_q_default"]
                assert xids_since(before) == 2
                assert "r" not in held  # the other create was in flight all along
            finally:
                thread.join(10)
            assert not thread.is_alive(), "the held create did not come back"
            assert held["r"].status_code == 202, held["r"].text
            assert _notified(conn, 3) == ["lt_q_default"]
    finally:
        s.sql("DROP TRIGGER IF EXISTS it_hold_tr ON tasks")
        s.sql("DROP FUNCTION IF EXISTS it_hold_fn()")
    assert task_count(s, api.tenant) == 4 + 2


def test_a_refused_create_keeps_the_session_in_step(make_stack):
    """A create and its wake-up go to the database in one pipelined write
    (fcgi/api_prep.c, lt_api_prep_exec_then). One the database refuses answers 500,
    creates, charges and wakes nothing, and leaves the session usable: the next create
    on the same process runs on the same backend, and its wake-up arrives."""
    s = make_stack(config={"api.processes": 1}, programs=("api",), reaper_loop=None)
    api = Api(s)

    def backends():
        return s.sql("SELECT pid FROM pg_stat_activity WHERE application_name = "
                     "'longtask-api'")

    s.sql("CREATE FUNCTION it_refuse_insert_fn() RETURNS trigger LANGUAGE plpgsql AS $$ "
          "BEGIN RAISE EXCEPTION 'insert refused by the test'; END $$")
    s.sql("CREATE TRIGGER it_refuse_insert_tr BEFORE INSERT ON tasks FOR EACH ROW "
          "WHEN (NEW.payload ? 'refuse_insert') EXECUTE FUNCTION it_refuse_insert_fn()")
    try:
        with listening(s) as conn:
            assert api.create("noop", {}).status_code == 202
            before = backends()
            assert len(before) == 1, before
            with conn.cursor() as cur:
                cur.execute('LISTEN "lt_q_default"')
            assert_problem(api.create("noop", {"refuse_insert": True}), 500)
            assert "insert refused by the test" in s.log("api")
            for _ in range(3):  # one wake-up each, none for the refused create before them
                r = api.create("noop", {})
                assert r.status_code == 202, r.text
                assert _notified(conn, 3) == ["lt_q_default"]
            assert backends() == before
    finally:
        s.sql("DROP TRIGGER IF EXISTS it_refuse_insert_tr ON tasks")
        s.sql("DROP FUNCTION IF EXISTS it_refuse_insert_fn()")
    assert task_count(s, api.tenant) == 4
    assert api.request("GET", "/api/v1/quota").json()["units_used"] == 4


def test_one_notify_per_queue(bs):
    api = Api(bs)
    with listening(bs, "lt_q_default", "lt_q_other") as conn:
        entries = ([{"type": "noop", "payload": {}, "delay_s": 600}] * 30 +
                   [{"type": "other.noop", "payload": {}}] * 30)
        r = batch(api, entries)
        assert r.status_code == 202, r.text
        got = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            if select.select([conn], [], [], 0.2)[0]:
                conn.poll()
                got += [n.channel for n in conn.notifies]
                conn.notifies.clear()
        assert sorted(got) == ["lt_q_default", "lt_q_other"]
    costs = bs.sql("SELECT type, cost, queue FROM tasks WHERE tenant = %s GROUP BY 1, 2, 3",
                   api.tenant)
    assert sorted(costs) == [("noop", 1, "default"), ("other.noop", 2, "other")]
    q = api.request("GET", "/api/v1/quota").json()
    assert q["units_used"] == 30 + 60


def test_a_batch_of_1000(bs):
    api = Api(bs)
    r = batch(api, [{"type": "noop", "payload": {"i": i}} for i in range(1000)])
    assert r.status_code == 202, r.text
    assert [t["payload"]["i"] for t in r.json()["tasks"]] == list(range(1000))
    assert task_count(bs, api.tenant) == 1000


def test_get_on_the_batch_path_is_405(bs):
    api = Api(bs)
    r = api.request("GET", "/api/v1/tasks/batch")
    assert_problem(r, 405)
    assert r.headers["Allow"] == "POST"
