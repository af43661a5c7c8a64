"""
claim_plan.py -- the worker's claim statement, and whether PostgreSQL plans it as
DESIGN.md requires: a walk of the partial index tasks_claim_idx in ORDER BY order, so a
claim reads about as many index entries as it takes rows, whatever the table's
statistics say.

The statement is read from worker/store.c (the C string literal `sql_claim`), so what
is checked is what the worker runs, not a copy that could drift. It is PREPAREd without
parameter types, as the worker's PQprepare(conn, "lt_claim", sql, 0, NULL) does, so
PostgreSQL infers the same types ($1 text[], $2 bigint, $3 int, $4 text), and EXPLAINed
(no ANALYZE: nothing is claimed) under plan_cache_mode force_custom_plan and
force_generic_plan: a prepared statement switches to the generic plan after five
executions when that looks no dearer, so both must be good.

Used by bench/targets.py (burst after quiet) and tests/integration/test_claim_plan.py.
Standard library + psycopg2.
"""

import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
STORE_C = os.path.join(ROOT, "worker", "store.c")
CLAIM_INDEX = "tasks_claim_idx"


def statement_sql(name, path):
    """The text of `static const char <name>[] = "..." "...";` in a C file."""
    with open(path) as f:
        src = f.read()
    m = re.search(re.escape(name) +
                  r"\[\]\s*=\s*((?:\s*\"(?:[^\"\\]|\\.)*\")+)\s*;", src)
    if m is None:
        raise RuntimeError("no %s string literal in %s" % (name, path))
    parts = re.findall(r"\"((?:[^\"\\]|\\.)*)\"", m.group(1))
    text = "".join(parts)
    # The literal uses no escapes but \" and \\ (and \n for layout); undo those.
    return text.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")


def claim_sql(path=STORE_C):
    """The worker's claim (`sql_claim` in worker/store.c)."""
    return statement_sql("sql_claim", path)


def worker_session_settings(path=STORE_C):
    """Planner settings the worker gives its session with a literal value
    (`SET name = value`, `SET LOCAL name TO value`, `set_config('name', 'value', ...)` in
    worker/store.c), so the plans checked here are the plans the worker gets; e.g. a
    worker that sets plan_cache_mode = force_custom_plan never runs the generic plan."""
    with open(path) as f:
        src = f.read()
    found = {}
    for m in re.finditer(r"set_config\('(\w+)',\s*'([^']*)'", src):
        found[m.group(1)] = m.group(2)
    for m in re.finditer(r"\bSET\s+(?:LOCAL\s+|SESSION\s+)?(\w+)\s*(?:=|TO)\s*'?([\w.]+)'?",
                         src, re.IGNORECASE):
        if m.group(1).lower() not in ("status", "attempt", "result", "progress", "version"):
            found[m.group(1)] = m.group(2)
    # Column assignments of UPDATE ... SET look alike: keep only real settings.
    return {k: v for k, v in found.items() if k.startswith(("enable_", "plan_cache_mode",
                                                            "random_page_cost", "jit",
                                                            "cpu_", "work_mem"))}


def _apply_settings(cur, settings):
    for name, value in settings.items():
        cur.execute("SELECT set_config(%s, %s, false)", (name, value))


def explain_statement(cur, sql, args, modes, settings):
    """EXPLAIN (FORMAT JSON) of sql, PREPAREd without parameter types (as the programs'
    PQprepare(..., 0, NULL) does) and EXECUTEd with args, in each plan_cache_mode of
    modes, under the planner settings given (applied, then reset). The statement is
    deallocated after. Returns {mode: plan tree}."""
    _apply_settings(cur, settings)
    cur.execute("PREPARE lt_explained AS " + sql)
    plans = {}
    try:
        for mode in modes:
            cur.execute("SET plan_cache_mode = " + mode)
            cur.execute("EXPLAIN (FORMAT JSON, VERBOSE false, COSTS true) "
                        "EXECUTE lt_explained(%s)" % ", ".join(["%s"] * len(args)), args)
            doc = cur.fetchone()[0]
            if isinstance(doc, str):
                doc = json.loads(doc)
            plans[mode] = doc[0]["Plan"]
    finally:
        cur.execute("RESET plan_cache_mode")
        cur.execute("DEALLOCATE lt_explained")
        for name in settings:
            cur.execute("RESET " + name)
    return plans


def explain_claim(cur, queues=("default",), limit=32, lease_s=60, worker_id="bench:0",
                  modes=("force_custom_plan", "force_generic_plan")):
    """EXPLAIN (FORMAT JSON) of the prepared claim in each plan_cache_mode, on the
    cursor's connection, with the worker's own planner settings
    (worker_session_settings; when the worker forces a plan_cache_mode, only that mode
    is checked). Returns {mode: plan tree}."""
    settings = worker_session_settings()
    if "plan_cache_mode" in settings:
        modes = (settings.pop("plan_cache_mode"),)
    args = ("{" + ",".join(queues) + "}", str(limit), str(lease_s), worker_id)
    return explain_statement(cur, claim_sql(), args, modes, settings)


def plan_nodes(plan):
    """Every node of a plan tree, the root first."""
    yield plan
    for sub in plan.get("Plans", []):
        yield from plan_nodes(sub)


def _find_cte(plan, name):
    for node in plan_nodes(plan):
        if node.get("Subplan Name") == "CTE " + name:
            return node
    return None


def plan_lines(plan, depth=0):
    """A compact text rendering of a JSON plan, one node a line (for reports)."""
    label = plan["Node Type"]
    if plan.get("Subplan Name"):
        label = "[%s] %s" % (plan["Subplan Name"], label)
    if plan.get("Index Name"):
        label += " using " + plan["Index Name"]
    if plan.get("Relation Name"):
        label += " on " + plan["Relation Name"]
    if plan.get("Sort Key"):
        label += " (sort: %s)" % ", ".join(plan["Sort Key"])
    label += "  rows=%s cost=%s..%s" % (plan.get("Plan Rows"), plan.get("Startup Cost"),
                                        plan.get("Total Cost"))
    if "Actual Rows" in plan:
        label += " actual_rows=%s loops=%s" % (plan["Actual Rows"], plan.get("Actual Loops"))
    out = ["  " * depth + label]
    for sub in plan.get("Plans", []):
        out.extend(plan_lines(sub, depth + 1))
    return out


def _sorts_tasks(node):
    """True when a scan of tasks feeds this Sort with no Limit in between (a Sort over
    the few rows of per-queue LIMITed walks is fine; a Sort over a scan is not)."""
    for sub in node.get("Plans", []):
        if sub["Node Type"] == "Limit":
            continue
        if sub.get("Relation Name") == "tasks" or _sorts_tasks(sub):
            return True
    return False


def _bitmap_indexes(node):
    """The indexes whose Bitmap Index Scans feed a Bitmap Heap Scan."""
    return {n.get("Index Name") for n in plan_nodes(node)
            if n["Node Type"] == "Bitmap Index Scan"}


def check_claim_plan(plan):
    """Problems with one claim plan, [] when it is the walk DESIGN.md asks for:
      * the claim CTE `c` reads tasks through an Index Scan of tasks_claim_idx,
      * with no Sort (or Incremental Sort) over that scan in `c`: the index gives the
        order (a Sort over per-queue walks, each under its own Limit, is allowed),
      * and no Seq Scan of tasks anywhere in the statement, nor a Bitmap Heap Scan fed by
        any index but the primary key (the UPDATE must reach the claimed rows by their
        ids, not by reading the table; a bitmap of the ids' pkey entries is that)."""
    problems = []
    c = _find_cte(plan, "c")
    if c is None:
        return ["no CTE c in the plan (has the claim's shape changed?)"]
    c_nodes = list(plan_nodes(c))
    walks = [n for n in c_nodes if n["Node Type"] in ("Index Scan", "Index Only Scan")
             and n.get("Index Name") == CLAIM_INDEX]
    if not walks:
        problems.append("the claim CTE does not scan %s with an Index Scan" % CLAIM_INDEX)
    for n in c_nodes:
        if n["Node Type"] in ("Sort", "Incremental Sort") and _sorts_tasks(n):
            problems.append("the claim CTE sorts the rows of its scan (%s on %s): every "
                            "ready row is read per claim"
                            % (n["Node Type"], ", ".join(n.get("Sort Key", []))))
    for n in plan_nodes(plan):
        if n.get("Relation Name") != "tasks":
            continue
        if n["Node Type"] == "Bitmap Heap Scan" and _bitmap_indexes(n) == {"tasks_pkey"}:
            continue
        if n["Node Type"] in ("Seq Scan", "Bitmap Heap Scan"):
            problems.append("%s on tasks%s" % (n["Node Type"], " in " + n["Subplan Name"]
                                                if n.get("Subplan Name") else ""))
    return problems


def explain_claim_analyze(conn, queues=("default",), limit=32, lease_s=60,
                          worker_id="bench:0"):
    """EXPLAIN (ANALYZE, BUFFERS) of one real claim inside a transaction that is rolled
    back: what a claim actually reads right now (the rows it claimed are released and
    nothing of it stays but a few dead tuples). Returns a summary of the claim CTE:
    the scan node, the rows it read, the rows it returned, buffers, the statement's
    execution time in ms, and the plan lines."""
    old = conn.autocommit
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            settings = worker_session_settings()
            # SET of a transaction that rolls back is undone with it.
            _apply_settings(cur, settings)
            # PREPARE and DEALLOCATE are not undone by ROLLBACK: pair them.
            cur.execute("PREPARE lt_bench_claim_a AS " + claim_sql())
            try:
                cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "
                            "EXECUTE lt_bench_claim_a(%s, %s, %s, %s)",
                            ("{" + ",".join(queues) + "}", str(limit), str(lease_s),
                             worker_id))
                doc = cur.fetchone()[0]
            finally:
                conn.rollback()
                cur.execute("DEALLOCATE lt_bench_claim_a")
                conn.rollback()
    finally:
        conn.rollback()
        conn.autocommit = old
    if isinstance(doc, str):
        doc = json.loads(doc)
    top = doc[0]
    plan = top["Plan"]
    c = _find_cte(plan, "c")
    scans = [n for n in plan_nodes(c or {"Node Type": "?"})
             if n.get("Relation Name") == "tasks"]
    scan = scans[0] if scans else {}
    jit = top.get("JIT") or {}
    timing = jit.get("Timing") or {}
    return {
        "execution_ms": top.get("Execution Time"),
        "planning_ms": top.get("Planning Time"),
        "total_cost": plan.get("Total Cost"),
        # Above jit_above_cost (100,000 by default; a disabled Sort adds 10^10) every
        # execution is JIT-compiled, which can cost far more than the claim itself.
        "jit_functions": jit.get("Functions"),
        "jit_total_ms": timing.get("Total") if isinstance(timing.get("Total"), (int, float))
        else None,
        "claimed": (c or {}).get("Actual Rows"),
        "scan": scan.get("Node Type"),
        "index": scan.get("Index Name"),
        "rows_read_by_scan": scan.get("Actual Rows"),
        "rows_removed_by_filter": scan.get("Rows Removed by Filter"),
        "shared_buffers_hit_read": [(c or {}).get("Shared Hit Blocks"),
                                    (c or {}).get("Shared Read Blocks")],
        "plan": plan_lines(plan),
    }
