"""
test_reaper.py -- longtask-reaper against a real PostgreSQL: rescue of lapsed leases,
retention in batches, the workers table, the run lock, failures and the loop.

The module's stack runs no API, worker or reaper loop (the reaper runs only when a
test says so), and the tests write task rows directly, so every outcome is decided by
the reaper alone.
"""

import json
import os
import select
import signal
import subprocess

import psycopg2
import pytest

from ltapi import listening

LOCK_RUN = 7814997033146672498  # reaper/reaper_lock.h, LT_RPR_LOCK_RUN

CONFIG = {
    "reaper.batch_size": 2,
    "reaper.worker_dead_s": 60,
    "retention.completed_s": 3600,
    "retention.failed_s": 7200,
    "retention.cancelled_s": 60,
}


@pytest.fixture(scope="module")
def rs(make_module_stack, tmp_path_factory):
    metrics = tmp_path_factory.mktemp("metrics") / "longtask-reaper.prom"
    cfg = dict(CONFIG)
    cfg["reaper.metrics_file"] = str(metrics)
    s = make_module_stack(config=cfg, programs=(), reaper_loop=None)
    s.metrics_path = str(metrics)
    return s


@pytest.fixture
def clean(rs):
    rs.sql("DELETE FROM tasks")
    rs.sql("DELETE FROM workers")
    return rs


def insert_task(s, status="running", attempt=1, max_retries=3, lease="-10 seconds",
                completed=None, cancel_requested=False, queue="default", tenant="reaper-t"):
    """A task row as a worker would have left it; lease/completed are intervals from now."""
    rows = s.sql(
        """INSERT INTO tasks (id, tenant, type, queue, status, payload, attempt, max_retries,
                              timeout_s, started_at, lease_until, heartbeat_at, worker_id,
                              completed_at, cancel_requested, event_seq, progress)
           VALUES (gen_random_uuid(), %s, 'sleep', %s, %s, '{"ms": 1}', %s, %s, 60,
                   now() - interval '20 seconds',
                   CASE WHEN %s = 'running' THEN now() + %s::interval END,
                   CASE WHEN %s = 'running' THEN now() - interval '15 seconds' END,
                   CASE WHEN %s = 'running' THEN 'host:4242' END,
                   CASE WHEN %s::interval IS NULL THEN NULL ELSE now() + %s::interval END,
                   %s, 2, 40)
           RETURNING id::text""",
        tenant, queue, status, attempt, max_retries, status, lease, status, status,
        completed, completed, cancel_requested)
    tid = rows[0][0]
    s.sql("INSERT INTO task_events (task_id, seq, kind) VALUES (%s, 1, 'created'), "
          "(%s, 2, 'started')", tid, tid)
    return tid


def task(s, tid):
    rows = s.sql("SELECT status::text, attempt, run_at <= now() + interval '1 second' AND "
                 "run_at >= now() - interval '5 seconds', error, completed_at IS NOT NULL, "
                 "metadata, version, worker_id, lease_until, event_seq "
                 "FROM tasks WHERE id = %s", tid)
    if not rows:
        return None
    r = rows[0]
    return {"status": r[0], "attempt": r[1], "run_at_now": r[2], "error": r[3],
            "completed": r[4], "metadata": r[5], "version": r[6], "worker_id": r[7],
            "lease_until": r[8], "event_seq": r[9]}


def events(s, tid):
    return s.sql("SELECT seq, kind, message FROM task_events WHERE task_id = %s ORDER BY seq",
                 tid)


def test_rescue_lapsed_lease_goes_back_to_retry(clean):
    s = clean
    tid = insert_task(s, attempt=1, max_retries=3)
    with listening(s, "lt_q_default") as listener:
        rc, summary = s.reaper_once()
        assert rc == 0, s.log("reaper-once")[-2000:]
        assert summary["ok"] is True and summary["rescued"] == 1 and summary["failed"] == 0
        t = task(s, tid)
        assert t["status"] == "retry"
        assert t["run_at_now"] is True
        assert t["error"] == "worker lost (lease expired)"
        assert t["version"] == 2 and t["worker_id"] is None and t["lease_until"] is None
        assert t["completed"] is False
        assert "retry_exhausted" not in t["metadata"]
        ev = events(s, tid)
        assert [e[1] for e in ev] == ["created", "started", "rescued"]
        assert ev[-1][0] == t["event_seq"] == 3
        assert "host:4242" in ev[-1][2]
        # The queue is woken so an idle worker claims the task at once.
        def notified():
            if select.select([listener], [], [], 0.05)[0]:
                listener.poll()
            return [n.channel for n in listener.notifies]
        assert "lt_q_default" in s.wait_for(notified, timeout=5, what="NOTIFY lt_q_default")


def test_spent_attempts_fail_with_retry_exhausted(clean):
    s = clean
    tid = insert_task(s, attempt=4, max_retries=3)
    last = insert_task(s, attempt=3, max_retries=3)  # the last attempt is still allowed
    rc, summary = s.reaper_once()
    assert rc == 0
    assert summary["failed"] == 1 and summary["rescued"] == 1
    t = task(s, tid)
    assert t["status"] == "failed" and t["completed"] is True
    assert t["error"] == "worker lost (lease expired)"
    assert t["metadata"]["retry_exhausted"] is True
    assert t["metadata"]["worker"] == "host:4242"
    assert [e[1] for e in events(s, tid)] == ["created", "started", "failed"]
    assert task(s, last)["status"] == "retry"


def test_cancel_requested_lapsed_task_is_cancelled(clean):
    s = clean
    tid = insert_task(s, attempt=1, cancel_requested=True)
    rc, summary = s.reaper_once()
    assert rc == 0 and summary["cancelled"] == 1 and summary["rescued"] == 0
    t = task(s, tid)
    assert t["status"] == "cancelled" and t["completed"] is True
    assert [e[1] for e in events(s, tid)][-1] == "cancelled"


def test_live_lease_is_left_alone(clean):
    s = clean
    tid = insert_task(s, lease="+30 seconds")
    pending = insert_task(s, status="pending", attempt=0)
    rc, summary = s.reaper_once()
    assert rc == 0 and summary["rescued"] == 0 and summary["failed"] == 0
    assert task(s, tid)["status"] == "running" and task(s, tid)["version"] == 1
    assert task(s, pending)["status"] == "pending"


def test_rescue_works_through_more_than_one_batch(clean):
    s = clean
    ids = [insert_task(s) for _ in range(5)]  # batch_size is 2
    rc, summary = s.reaper_once()
    assert rc == 0 and summary["rescued"] == 5
    assert {task(s, t)["status"] for t in ids} == {"retry"}


def test_retention_deletes_only_expired_finished_tasks_in_batches(clean):
    s = clean
    expired = [insert_task(s, status="completed", completed="-2 hours") for _ in range(5)]
    expired.append(insert_task(s, status="failed", completed="-3 hours"))
    expired += [insert_task(s, status="cancelled", completed="-2 minutes") for _ in range(2)]
    kept = [
        insert_task(s, status="completed", completed="-10 minutes"),
        insert_task(s, status="failed", completed="-1 hour"),   # failed keeps 2 h
        insert_task(s, status="cancelled", completed="-30 seconds"),
        insert_task(s, status="pending", attempt=0),
        insert_task(s, status="retry"),
        insert_task(s, lease="+30 seconds"),
    ]
    s.sql("UPDATE tasks SET created_at = now() - interval '30 days' WHERE id = ANY(%s::uuid[])",
          kept)
    rc, summary = s.reaper_once()
    assert rc == 0 and summary["ok"] is True
    assert summary["expired"] == 8
    # batch_size 2: completed 2+2+1, failed 1, cancelled 2 (a full batch, then an empty one).
    assert summary["expire_batches"] == 5
    left = {r[0] for r in s.sql("SELECT id::text FROM tasks")}
    assert left == set(kept)
    gone_events = s.sql("SELECT count(*) FROM task_events WHERE task_id = ANY(%s::uuid[])",
                        expired)[0][0]
    assert gone_events == 0
    kept_events = s.sql("SELECT count(*) FROM task_events WHERE task_id = ANY(%s::uuid[])",
                        kept)[0][0]
    assert kept_events == 2 * len(kept)
    rc, summary = s.reaper_once()
    assert rc == 0 and summary["expired"] == 0


def test_tasks_deleted_by_hand_take_their_events_with_them(clean):
    """An operator's DELETE or TRUNCATE of tasks, not only the reaper's expiry, leaves
    no events behind (sql/006_event_cascade.sql), and touches no other task's."""
    s = clean
    gone = [insert_task(s, status="completed", completed="-1 minute") for _ in range(2)]
    kept = insert_task(s, status="completed", completed="-1 minute")
    s.sql("DELETE FROM tasks WHERE id = ANY(%s::uuid[])", gone)
    assert s.sql("SELECT task_id::text, count(*) FROM task_events GROUP BY task_id") == \
        [(kept, 2)]
    s.sql("TRUNCATE tasks")
    assert s.sql("SELECT count(*) FROM task_events")[0][0] == 0


def test_silent_workers_are_marked_dead_and_long_dead_ones_deleted(clean):
    s = clean
    s.sql("""INSERT INTO workers (id, host, pid, heartbeat_at, dead) VALUES
             ('h:1', 'h', 1, now(), false),
             ('h:2', 'h', 2, now() - interval '2 minutes', false),
             ('h:3', 'h', 3, now() - interval '2 days', true)""")
    rc, summary = s.reaper_once()
    assert rc == 0
    assert summary["workers_dead"] == 1 and summary["workers_purged"] == 1
    assert s.sql("SELECT id, dead FROM workers ORDER BY id") == [("h:1", False), ("h:2", True)]


def test_run_is_skipped_while_another_holds_the_lock(clean):
    s = clean
    tid = insert_task(s)
    holder = psycopg2.connect(s.db_url)
    holder.autocommit = True
    try:
        holder.cursor().execute("SELECT pg_advisory_lock(%s)", (LOCK_RUN,))
        rc, summary = s.reaper_once(retry_skipped=False)
        assert rc == 0
        assert summary.get("skipped") is True, summary
        assert task(s, tid)["status"] == "running"
        holder.cursor().execute("SELECT pg_advisory_unlock(%s)", (LOCK_RUN,))
        rc, summary = s.reaper_once()
        assert rc == 0 and summary["rescued"] == 1
    finally:
        holder.close()


def test_two_concurrent_runs_one_skips(clean):
    s = clean
    holder = psycopg2.connect(s.db_url)
    holder.autocommit = True
    try:
        # The lock held by "the other run" makes the race deterministic.
        holder.cursor().execute("SELECT pg_advisory_lock(%s)", (LOCK_RUN,))
        procs = [subprocess.Popen([s.binary("reaper"), "-c", s.conf, "--once"],
                                  stderr=subprocess.PIPE, text=True, env=s.env())
                 for _ in range(2)]
        outs = [p.communicate(timeout=60)[1] for p in procs]
        assert [p.returncode for p in procs] == [0, 0]
        assert all('"event":"reaper_skipped"' in o for o in outs)
    finally:
        holder.close()
    rc, summary = s.reaper_once()
    assert rc == 0 and summary["ok"] is True


def sample(text, name):
    """The value of an unlabelled sample in Prometheus text."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("no sample %s in:\n%s" % (name, text))


def test_metrics_textfile_is_written_atomically(clean):
    s = clean
    insert_task(s)
    rc, _ = s.reaper_once()
    assert rc == 0
    with open(s.metrics_path) as f:
        text = f.read()
    assert "# TYPE longtask_reaper_last_success_timestamp_seconds gauge" in text
    assert "# TYPE longtask_reaper_rescued_total counter" in text
    before = sample(text, "longtask_reaper_rescued_total")
    insert_task(s)
    s.reaper_once()
    with open(s.metrics_path) as f:
        after = sample(f.read(), "longtask_reaper_rescued_total")
    assert after == before + 1
    assert not os.path.exists(s.metrics_path + ".tmp")


def test_bad_usage_exits_2(rs):
    for args in ([], ["--once", "--loop", "1"], ["--loop", "0"], ["--loop", "x"], ["--nope"],
                 ["--once", "extra"]):
        rc, err = rs.reaper(*args)
        assert rc == 2, args
        assert "usage: longtask-reaper" in err


def test_bad_config_exits_2(rs, tmp_path):
    bad = tmp_path / "bad.conf"
    bad.write_text("reaper: { batch_size = \"many\"; };\n")
    res = subprocess.run([rs.binary("reaper"), "-c", str(bad), "--once"], text=True,
                         stderr=subprocess.PIPE, env=rs.env(), timeout=30)
    assert res.returncode == 2
    assert "reaper.batch_size" in res.stderr


def test_database_down_exits_nonzero(rs):
    # An address nothing listens on stands for an unreachable database.
    url = "postgresql://longtask@127.0.0.1:1/longtask"
    rc, err = rs.reaper("--once", env={"LONGTASK_DATABASE_URL": url})
    assert rc == 1
    lines = [json.loads(x) for x in err.splitlines() if x.startswith("{")]
    assert any(x["event"] == "reaper_failed" and "cannot connect" in x["msg"] for x in lines)
    assert any(x["event"] == "reaper_run" and x["ok"] is False for x in lines)
    rc, err = rs.reaper("--migrate", env={"LONGTASK_DATABASE_URL": url})
    assert rc == 1


def test_loop_survives_an_outage_and_stops_cleanly_on_sigterm(make_stack):
    s = make_stack(programs=(), reaper_loop=1)
    s.start_program("reaper")
    s.wait_for(lambda: '"event":"reaper_run"' in s.log("reaper"), what="a first reaper run")
    s.stop_postgres()
    s.wait_for(lambda: '"ok":false' in s.log("reaper"), timeout=15,
               what="a failed reaper run during the outage")
    assert s.pids("reaper") is not None, "the loop must outlive a failed run"
    s.start_postgres()
    mark = len(s.log("reaper"))
    s.wait_for(lambda: '"ok":true' in s.log("reaper")[mark:], timeout=15,
               what="a successful run after reconnecting")
    proc = s.procs["reaper"]
    s.signal("reaper", signal.SIGTERM)
    assert proc.wait(10) == 0
    assert '"event":"reaper_stopped"' in s.log("reaper")
