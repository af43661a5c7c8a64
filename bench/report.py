"""
report.py -- bench/results/latest.md from the result document of targets.py: the
machine, versions, settings and command, then every target with its figure, ceiling,
ratio and whether it is met, then the ceilings, the client's own ceiling, the CPU by
process kind, and the claim plans.
"""


def benchlib_median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2


def _fmt(x, unit=""):
    if x is None:
        return "—"
    if isinstance(x, float):
        x = ("%.0f" % x) if abs(x) >= 100 else ("%.2f" % x)
    return ("%s %s" % (x, unit)).strip()


def _cpu_line(cpu):
    if not cpu:
        return "—"
    share = cpu.get("cpu_share_of_machine", {})
    parts = ["%s %.0f%%" % (k, v * 100) for k, v in sorted(share.items(), key=lambda kv: -kv[1])
             if v >= 0.01]
    return ", ".join(parts) + " of %s s" % cpu.get("wall_s")


def _db_line(r):
    db = r.get("db")
    if not db:
        return ""
    return "; %s write transactions/task, %s WAL bytes/task" % (
        db["write_transactions_per_task"], db["wal_bytes_per_task"])


def _waits_line(r):
    w = r.get("db_waits")
    if not w:
        return ""
    parts = []
    for prog, d in w.items():
        if not isinstance(d, dict):
            continue
        top = ", ".join("%s %.0f%%" % (k, v * 100) for k, v in list(d["share"].items())[:4])
        parts.append("%s (%s sessions): %s" % (prog, d["sessions_avg"], top))
    return "\n  - database sessions: " + "; ".join(parts) if parts else ""


def _bound_cell(b):
    """A machine bound in the target table: its ratio, and the tighter one of what a
    create must write when there is one."""
    if not b:
        return "—"
    t = b.get("task_and_charge")
    if t:
        return "%s; with the task and its quota charge %s, pgbench alone %s" % (
            _fmt(b["ratio"]), _fmt(t["ratio"]), _fmt(t["pgbench_ratio"]))
    t = b.get("one_round_trip")
    if t:
        return "%s; %s with one database round trip" % (_fmt(b["ratio"]), _fmt(t["ratio"]))
    return _fmt(b["ratio"])


def _bound_lines(rows):
    """How the machine bounds of the target table were reached (targets.machine_bounds)."""
    out = []
    for r in rows:
        b = r.get("machine_bound")
        if not b:
            continue
        if "creates_per_s" in b:
            out.append(
                "- bound of %s: %s cores / (%s ms of CPU for the HTTP path of one GET /healthz "
                "(load client + nginx + API) + %s ms of PostgreSQL CPU for one pgbench INSERT "
                "at 8 clients) = %s creates/s = %s of the ceiling; no create through this HTTP "
                "path can cost less than both together." % (
                    r["measurement"], b["cores"], b["http_cpu_ms_per_req"],
                    b["pg_cpu_ms_per_insert"], _fmt(b["creates_per_s"]), _fmt(b["ratio"])))
            t = b.get("task_and_charge")
            if t:
                out.append(
                    "- bound of %s with what API.md makes a create write: with %s ms, the "
                    "PostgreSQL CPU of pgbench's task_and_charge at 8 clients (the task row "
                    "and its quota charge in one statement; see ceilings.py), in place of the "
                    "INSERT's: %s creates/s = %s of the ceiling. That script alone, with no "
                    "HTTP, commits %s tx/s = %s of the ceiling." % (
                        r["measurement"], t["pg_cpu_ms_per_tx"], _fmt(t["creates_per_s"]),
                        _fmt(t["ratio"]), _fmt(t["pgbench_tps"]), _fmt(t["pgbench_ratio"])))
        else:
            out.append(
                "- bound of %s: GET /healthz (no token, no database) answered %s req/s; a 304 "
                "does that and more, so it is at most %s x the plain GET." % (
                    r["measurement"], _fmt(b["req_per_s"]), _fmt(b["ratio"])))
            t = b.get("one_round_trip")
            if t:
                out.append(
                    "- bound of %s with one database round trip: a 304 answers the current "
                    "tag (API.md), which only the database knows, so it asks it at least once, "
                    "as GET /readyz (no token, one query) does. /readyz answered %s req/s in "
                    "the same interleaved rounds: at most %s x the plain GET." % (
                        r["measurement"], _fmt(t["req_per_s"]), _fmt(t["ratio"])))
    return (["", "Machine bounds:", ""] + out) if out else []


def render(res):
    out = ["# longtask benchmark (issue #6)", ""]
    out.append("Command: `%s`  " % res.get("command"))
    out.append("Script: `%s`  " % res.get("script"))
    out.append("Started %s, took %s s; load average %s at the start, %s at the end "
               "(2 cores: above 2, other work shared the machine)." % (
                   res.get("started_at"), res.get("duration_s"), res.get("loadavg_at_start"),
                   res.get("loadavg_at_end")))
    out.append("")
    m = res.get("machine", {})
    out.append("Machine: %s, %s cores, %s GiB, kernel %s; file system %s." % (
        m.get("cpu"), m.get("cores"), m.get("memory_gib"), m.get("kernel"),
        res.get("filesystem")))
    v = res.get("versions", {})
    out.append("Versions: " + "; ".join("%s: %s" % (k, v[k]) for k in sorted(v)) + ".")
    s = res.get("settings", {})
    if s:
        pg = s.get("postgresql", {})
        out.append("PostgreSQL settings: " + ", ".join("%s=%s" % (k, pg[k]) for k in sorted(pg))
                   + ".")
        lt = s.get("longtask", {})
        out.append("longtask settings (as `make run`, plus the quota changes): " +
                   ", ".join("%s=%s" % (k, lt[k]) for k in sorted(lt)) +
                   "; reaper --loop %s; %d runs of %d s per figure (median); drain of %d tasks."
                   % (s.get("reaper_loop_s"), s.get("rounds"), s.get("run_seconds"),
                      s.get("drain_tasks")))
    if res.get("error"):
        out += ["", "**The run failed:** `%s`" % res["error"].strip().splitlines()[-1]]
    rows = res.get("measurements")
    if rows:
        out += ["", "## Targets", "",
                "| measurement | figure | ceiling | ratio | target | met | bound of this "
                "machine (ratio) |",
                "|---|---|---|---|---|---|---|"]
        for r in rows:
            ceiling = ("%s (%s)" % (_fmt(r["ceiling"]), r["ceiling_name"])
                       if r["ceiling"] is not None else "—")
            b = r.get("machine_bound")
            out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                r["measurement"], _fmt(r["figure"], r["unit"]), ceiling,
                _fmt(r["ratio"]), r["target"],
                "yes" if r["met"] else "**no**", _bound_cell(b)))
        out += ["", "How each is taken:", ""]
        for r in rows:
            out.append("- %s: %s." % (r["measurement"], r["how"]))
        out += _bound_lines(rows)
    c = res.get("ceilings")
    if c:
        out += ["", "## Ceilings (pgbench, same cluster, same run)", "",
                "Table: `bench_tasks` (%s, %d indexes, reloptions %s)." % (
                    c["table"]["like"], c["table"]["indexes"], c["table"]["reloptions"]) +
                (" Quota rows of task_and_charge: `%s`." % c["table"]["quota"]
                 if c["table"].get("quota") else ""), "",
                "| script | clients | median tx/s | median rows/s | runs (tx/s) |",
                "|---|---|---|---|---|"]
        for key, val in c["runs"].items():
            out.append("| %s | %d | %s | %s | %s |" % (
                key.rsplit("_c", 1)[0], val["runs"][0]["clients"], _fmt(val["median_tps"]),
                _fmt(val["median_rows_per_s"]),
                ", ".join(_fmt(r["tps"]) for r in val["runs"])))
        first = next(iter(c["runs"].values()))["runs"][0]
        out += ["", "pgbench: `%s`" % first["command"]]
    cc = res.get("client_ceiling")
    if cc:
        out += ["", "## The load client's own ceiling (wrk, 8 connections)", ""]
        for k, r in cc.items():
            out.append("- %s: %s req/s (p99 %s ms); CPU: %s" % (
                k, _fmt(r["req_per_s"]), r["lat_p99_ms"], _cpu_line(r.get("cpu"))))
    p = res.get("pickup")
    if p:
        out += ["", "## Pickup latency, per round", ""]
        for i, r in enumerate(p["runs"]):
            out.append("- round %d: started_at - created_at p50 %s ms, p99 %s ms, max %s ms; "
                       "the client's POST took p50 %s ms, p99 %s ms" % (
                           i + 1, r["p50_ms"], r["p99_ms"], r["max_ms"], r["post_p50_ms"],
                           r["post_p99_ms"]))
        b = res.get("pickup_breakdown")
        if b:
            out.append("- where it goes (one more round, run last on the cluster restarted "
                       "with track_commit_timestamp on, which dates each commit): created_at "
                       "to the create's commit p50 %s ms, p99 %s ms (the create statement and "
                       "its commit's fsync); the create's commit to started_at p50 %s ms, p99 "
                       "%s ms (the notification, sent in the create's commit when no other create "
                       "is in flight, reaching the idle workers' sessions, and the worker's "
                       "claim reaching the database); that round's "
                       "pickup p50 %s ms, p99 %s ms" % (
                           b["create_ms"]["p50"], b["create_ms"]["p99"], b["wake_ms"]["p50"],
                           b["wake_ms"]["p99"], b["p50_ms"], b["p99_ms"]))
        if c:
            out.append("- for scale: pgbench's one-row INSERT at 1 client averaged %s ms a "
                       "transaction (mostly the commit's fsync)" % benchlib_median(
                           [r["latency_avg_ms"] for r in c["runs"]["one_row_c1"]["runs"]]))
    dg = res.get("diagnostics")
    if dg:
        out += ["", "## Diagnostics (not targets)", ""]
        for k, d in dg.items():
            r = d["runs"][0]
            out.append("- %s: %s tasks/s (batch %d, %d connections, %d tenants): %s%s" % (
                k, r["tasks_per_s"], d["batch"], d["connections"], d["tenants"],
                _cpu_line(r.get("cpu")), _db_line(r) + _waits_line(r)))
    out += ["", "## Where the CPU went (share of the machine, by process kind)", ""]
    for key, label in (("drain", "drain"), ("burst", "burst after quiet")):
        for i, r in enumerate(res.get(key, {}).get("runs", [])):
            out.append("- %s run %d (%s tasks/s, db span %s s): %s%s" % (
                label, i + 1, r["tasks_per_s"], r["db_span_s"], _cpu_line(r.get("cpu")),
                _db_line(r) + _waits_line(r)))
    for key in ("single_create", "batch_create"):
        for i, r in enumerate(res.get(key, {}).get("runs", [])):
            out.append("- %s run %d (%s tasks/s): %s%s" % (
                key, i + 1, r["tasks_per_s"], _cpu_line(r.get("cpu")),
                _db_line(r) + _waits_line(r)))
    for key, label in (("drain", "normal drain (ANALYZE after the burst)"),
                       ("burst", "burst after quiet (stats of 10 rows)")):
        runs = res.get(key, {}).get("runs", [])
        if not runs:
            continue
        a = runs[0]["claim_explain_analyze"]
        out += ["", "## Claim at the start of the %s" % label, "",
                "Problems: %s" % (runs[0]["plan_problems"] or "none"), "",
                "One claim, EXPLAIN (ANALYZE, BUFFERS) rolled back: %s ms (planning %s ms; "
                "total cost %s; JIT: %s functions, %s ms), claimed %s, %s %s read %s rows "
                "(removed by filter %s), buffers hit/read %s." % (
                    a["execution_ms"], a.get("planning_ms"), a.get("total_cost"),
                    a.get("jit_functions"), a.get("jit_total_ms"), a["claimed"], a["scan"],
                    a["index"] or "", a["rows_read_by_scan"], a["rows_removed_by_filter"],
                    a["shared_buffers_hit_read"]), "", "```"]
        out += a["plan"]
        out.append("```")
    return "\n".join(out) + "\n"


def write_markdown(res, path):
    text = render(res)
    with open(path, "w") as f:
        f.write(text)
    return text
