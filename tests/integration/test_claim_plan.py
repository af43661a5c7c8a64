"""
test_claim_plan.py -- the claim stays a walk of the partial index after a burst onto a
table that was ANALYZEd nearly empty (DESIGN.md, Semantics, Claim: "Check the plan with
EXPLAIN in a test, in exactly that situation").

The situation: a queue table that was quiet at its last ANALYZE (about ten rows, all
finished), then receives 20,000 ready rows with no ANALYZE after (autovacuum is off for
the table during the test, so its analyze cannot sneak in). The worker's own claim
statement (read from worker/store.c by bench/claim_plan.py) is prepared with the types
the worker's PQprepare infers and EXPLAINed as a custom and as a generic plan; each must
scan tasks_claim_idx in ORDER BY order, with no Sort in the claim and no Seq Scan of
tasks anywhere in the statement (nor a Bitmap Heap Scan but through the primary key). The
worker's batched completion, in the same situation, must reach its rows by primary key
too: the worker runs generic plans, built once from whatever the statistics said. Nothing
claims meanwhile: the stack
runs the API alone. A second test checks that the claim's estimated cost stays below
jit_above_cost (unless the worker turns jit off): a claim JIT-compiled on every execution
costs hundreds of milliseconds.
"""

import json
import os
import sys

import psycopg2
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "bench"))

from conftest import wait_for  # noqa: E402
from ltapi import Api  # noqa: E402
from claim_plan import (check_claim_plan, explain_claim, explain_statement,  # noqa: E402
                        plan_lines, plan_nodes, statement_sql, worker_session_settings)

WRITER_C = os.path.join(os.path.dirname(os.path.dirname(HERE)), "worker", "writer.c")

BURST = 20000
QUIET = 10

# Rows shaped as the API writes them (uuid ids, tenant, type, queue, payload, ...).
INSERT_ROWS = """
INSERT INTO tasks (id, tenant, type, queue, priority, status, payload, max_retries,
                   timeout_s, cost, event_seq, created_at, run_at, started_at, completed_at)
SELECT gen_random_uuid(), 'plan', 'noop', 'default', 1, %s::task_status,
       '{"n": 1}'::jsonb, 3, 60, 1, 1, now(), now() - interval '1 second',
       CASE WHEN %s THEN now() END, CASE WHEN %s THEN now() END
  FROM generate_series(1, %s)
"""


@pytest.fixture(scope="module")
def burst_plans(make_module_stack):
    """The plans of the claim after a burst onto quiet statistics: {mode: plan}."""
    s = make_module_stack(programs=("api",), reaper_loop=None)
    conn = psycopg2.connect(s.db_url, connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("ALTER TABLE tasks SET (autovacuum_enabled = false)")
            cur.execute("TRUNCATE tasks")
            cur.execute(INSERT_ROWS, ("completed", True, True, QUIET))
            cur.execute("ANALYZE tasks")
            cur.execute("SELECT reltuples FROM pg_class WHERE relname = 'tasks'")
            assert cur.fetchone()[0] <= QUIET
            cur.execute(INSERT_ROWS, ("pending", False, False, BURST))
            cur.execute("SELECT count(*) FROM tasks WHERE status = 'pending'")
            assert cur.fetchone()[0] == BURST
            plans = explain_claim(cur)
            writes = explain_writes(cur)
            writes.update(explain_writes(cur, API_WRITES, worker=False))
            cur.execute("SELECT last_analyze IS NOT NULL, last_autoanalyze FROM "
                        "pg_stat_user_tables WHERE relname = 'tasks'")
            analyzed, auto = cur.fetchone()
            assert analyzed and auto is None, "an analyze ran after the burst"
            cur.execute("SHOW jit_above_cost")
            jit_above = float(cur.fetchone()[0])
            cur.execute("SHOW jit")
            jit_on = cur.fetchone()[0] == "on"
            cur.execute("ALTER TABLE tasks RESET (autovacuum_enabled)")
    finally:
        conn.close()
    return {"plans": plans, "writes": writes, "jit_above_cost": jit_above,
            "jit_on": jit_on}


# The worker's other statements on tasks, each with sample parameters: (file, literal).
STORE_C = os.path.join(os.path.dirname(WRITER_C), "store.c")
WRITES = [
    (WRITER_C, "sql_completed", lambda ids: (ids[0], "1", "{}", "5", "plan:0")),
    (WRITER_C, "sql_completed_batch", lambda ids: (json.dumps(
        [{"id": i, "attempt": 1, "result": {}, "duration_ms": 1} for i in ids]), "plan:0")),
    (WRITER_C, "sql_retry", lambda ids: (ids[0], "1", "1000", "boom", "boom; retry in 1 s")),
    (WRITER_C, "sql_failed", lambda ids: (ids[0], "1", "boom", "5", "plan:0", "f")),
    (WRITER_C, "sql_cancelled", lambda ids: (ids[0], "1", "5", "plan:0")),
    (WRITER_C, "sql_handback", lambda ids: (ids[0], "1")),
    (STORE_C, "sql_heartbeat", lambda ids: ("{" + ",".join(ids) + "}", "plan:0", "plan", "0",
                                            "60")),
    (STORE_C, "sql_progress", lambda ids: (ids[0], "1", "50", "half")),
    (STORE_C, "sql_partial", lambda ids: (ids[0], "1", "{}", "50", "t", "half")),
]


# The API's statements on one task of a tenant that change it by its status: the API runs
# them with PostgreSQL's default planner settings.
API_STORE_C = os.path.join(os.path.dirname(os.path.dirname(HERE)), "fcgi", "api_store.c")
API_WRITES = [
    (API_STORE_C, "SQL_CANCEL_WAITING", lambda ids: (ids[0], "plan")),
    (API_STORE_C, "SQL_CANCEL_RUNNING", lambda ids: (ids[0], "plan")),
    (API_STORE_C, "SQL_RETRY", lambda ids: (ids[0], "plan", "0")),
    (API_STORE_C, "SQL_RETRY_COST", lambda ids: (ids[0], "plan")),
]


def explain_writes(cur, writes=WRITES, worker=True):
    """EXPLAIN of each of writes for 32 pending tasks, custom and generic, under the
    worker's session settings (or the defaults): {(name, mode): plan}."""
    cur.execute("SELECT id::text FROM tasks WHERE status = 'pending' LIMIT 32")
    ids = [r[0] for r in cur.fetchall()]
    settings = worker_session_settings() if worker else {}
    settings.pop("plan_cache_mode", None)
    plans = {}
    for path, name, params in writes:
        found = explain_statement(cur, statement_sql(name, path), params(ids),
                                  ("force_custom_plan", "force_generic_plan"), settings)
        plans.update({(name, mode): plan for mode, plan in found.items()})
    return plans


def test_worker_writes_reach_rows_by_primary_key(burst_plans):
    """A completion, heartbeat or progress write, or the API's cancel or retry, must find
    its rows by id whatever the statistics say. Analysed while quiet, the table seems to
    hold no running row, and a status = 'running' guard then makes any partial index that
    covers running rows look like a one-row scan; tasks_tenant_active_idx really holds
    the whole backlog."""
    report = []
    for (name, mode), plan in sorted(burst_plans["writes"].items()):
        scans = [(n["Node Type"], n.get("Index Name")) for n in plan_nodes(plan)
                 if n.get("Relation Name") == "tasks" or (
                     n["Node Type"] == "Bitmap Index Scan"
                     and n.get("Index Name", "").startswith("tasks_"))]
        bad = [s for s in scans if s[0] == "Seq Scan" or
               (s[0] in ("Index Scan", "Index Only Scan", "Bitmap Index Scan")
                and s[1] != "tasks_pkey")]
        if bad or not scans:
            report.append("%s (%s):\n    %s" % (name, mode, "\n    ".join(plan_lines(plan))))
    assert not report, "statements that read tasks other than by primary key:\n" + \
        "\n".join(report)


def test_claim_walks_partial_index_after_burst_on_quiet_stats(burst_plans):
    plans = burst_plans["plans"]
    report = []
    for mode, plan in sorted(plans.items()):
        problems = check_claim_plan(plan)
        if problems:
            report.append("%s plan: %s\n    %s" % (mode, "; ".join(problems),
                                                  "\n    ".join(plan_lines(plan))))
    assert not report, "the claim does not walk the partial index after a burst:\n" + \
        "\n".join(report)


def test_claim_is_not_jit_compiled(burst_plans):
    """A claim whose estimated cost passes jit_above_cost (a disabled Sort alone adds
    10^10) is JIT-compiled on every execution: hundreds of milliseconds for a statement
    that reads 32 index entries. The worker must keep the cost below the threshold or
    turn jit off for its session."""
    settings = worker_session_settings()
    jit_on = settings.get("jit", "on" if burst_plans["jit_on"] else "off") not in (
        "off", "false", "0")
    if not jit_on:
        return
    for mode, plan in sorted(burst_plans["plans"].items()):
        assert plan["Total Cost"] < burst_plans["jit_above_cost"], (
            "the %s claim plan costs %s, above jit_above_cost %s: every claim is JIT-compiled "
            "(set jit = off in the worker's session, or keep the cost down)"
            % (mode, plan["Total Cost"], burst_plans["jit_above_cost"]))


def _tasks_scans(s):
    """(sequential scans, index scans) of tasks, as the statistics have them so far."""
    return tuple(s.sql("SELECT seq_scan, coalesce(idx_scan, 0) FROM pg_stat_user_tables "
                       "WHERE relname = 'tasks'")[0])


def test_api_lookups_stay_on_indexes_after_a_burst(make_stack):
    """The API's prepared statements run generic plans, built once per session from the
    statistics of that moment (fcgi/api_store.c, SQL_SESSION). Built while tasks was
    ANALYZEd empty, they must still probe indexes after a burst of 20,000 rows with no
    ANALYZE since: a create, a GET and a conditional GET then read no row by a
    sequential scan of tasks. One API process, so one session holds every plan."""
    s = make_stack(config={"api.processes": 1}, programs=("api",), reaper_loop=None)
    api = Api(s)
    s.sql("ALTER TABLE tasks SET (autovacuum_enabled = false)")
    try:
        s.sql("ANALYZE tasks")
        task = api.create_ok("noop", {})
        path = "/api/v1/tasks/" + task["id"]
        for _ in range(8):  # past the five custom plans of each statement
            api.create_ok("noop", {})
            etag = api.request("GET", path).headers["ETag"]
            assert api.request("GET", path, headers={"If-None-Match": etag}).status_code == 304
        s.sql(INSERT_ROWS, "pending", False, False, BURST)
        assert s.sql("SELECT last_autoanalyze FROM pg_stat_user_tables "
                     "WHERE relname = 'tasks'") == [(None,)], "an analyze ran after the burst"
        before = _tasks_scans(s)
        rounds = 10
        for _ in range(rounds):
            api.create_ok("noop", {})
            r = api.request("GET", path)
            assert r.status_code == 200, r.text
            r = api.request("GET", path, headers={"If-None-Match": r.headers["ETag"]})
            assert r.status_code == 304, r.text
        # Each request reads tasks at least once; the session's counts reach the
        # statistics when it goes idle.
        wait_for(lambda: sum(_tasks_scans(s)) - sum(before) >= 3 * rounds, timeout=15,
                 what="the API's reads of tasks in the statistics")
        after = _tasks_scans(s)
        assert after[0] == before[0], (
            "%d sequential scans of tasks (and %d index scans) for %d creates and %d GETs "
            "after the burst" % (after[0] - before[0], after[1] - before[1], rounds,
                                 2 * rounds))
    finally:
        s.sql("ALTER TABLE tasks RESET (autovacuum_enabled)")
