"""
test_claim_plan.py -- the claim stays a walk of the partial index after a burst onto a
table that was ANALYZEd nearly empty (DESIGN.md, Semantics, Claim: "Check the plan with
EXPLAIN in a test, in exactly that situation").

The situation: a queue table that was quiet at its last ANALYZE (about ten rows, all
finished), then receives 20,000 ready rows with no ANALYZE after (autovacuum is off for
the table during the test, so its analyze cannot sneak in). The worker's own claim
statement (read from worker/store.c by bench/claim_plan.py) is prepared with the types
the worker's PQprepare infers and EXPLAINed as a custom and as a generic plan; each must
scan tasks_claim_idx in ORDER BY order, with no Sort in the claim and no Seq Scan or
Bitmap Heap Scan of tasks anywhere in the statement. Nothing claims meanwhile: the stack
runs the API alone. A second test checks that the claim's estimated cost stays below
jit_above_cost (unless the worker turns jit off): a claim JIT-compiled on every execution
costs hundreds of milliseconds.
"""

import os
import sys

import psycopg2
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "bench"))

from claim_plan import (check_claim_plan, explain_claim, plan_lines,  # noqa: E402
                        worker_session_settings)

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
            cur.execute("TRUNCATE tasks CASCADE")
            cur.execute(INSERT_ROWS, ("completed", True, True, QUIET))
            cur.execute("ANALYZE tasks")
            cur.execute("SELECT reltuples FROM pg_class WHERE relname = 'tasks'")
            assert cur.fetchone()[0] <= QUIET
            cur.execute(INSERT_ROWS, ("pending", False, False, BURST))
            cur.execute("SELECT count(*) FROM tasks WHERE status = 'pending'")
            assert cur.fetchone()[0] == BURST
            plans = explain_claim(cur)
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
    return {"plans": plans, "jit_above_cost": jit_above, "jit_on": jit_on}


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
