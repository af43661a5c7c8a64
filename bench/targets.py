#!/usr/bin/python3
"""
targets.py -- the figures of issue #6, each beside PostgreSQL's own ceiling measured by
pgbench on the same cluster in the same run, and whether each target is met.

One private stack started as `make run` starts it (deploy/dev/stack.py's Stack, fsync
on, nginx in front, 4 API processes, 2 worker children, reaper --loop 1) with two
settings changed for the load: quota.units_per_window 10^9 and quota.max_active 0
(unlimited), since 20,000-task bursts and minutes of creates exceed the default daily
quota and the 10,000 active-task limit. Then, in this order:

  ceilings        pgbench into bench_tasks (LIKE tasks INCLUDING ALL; see ceilings.py):
                  one-row INSERT tx/s at 1, 8 and 32 clients; 1,000-row INSERT ...
                  SELECT generate_series rows/s at 1 and 2 clients (the best is the
                  ceiling). Medians of --rounds runs of --seconds each.
  client ceiling  wrk alone against nginx (its own 404 page) and GET /healthz through the
                  API: what the load client and nginx can do at all on this machine.
  pickup latency  idle workers; 200 noop tasks created one at a time 20 ms apart
                  (POST /api/v1/tasks); started_at - created_at from the database.
  drain           worker children stopped (SIGSTOP); 20,000 noop tasks created through
                  the batch endpoint; ANALYZE (the planner knows the burst); children
                  resumed (SIGCONT); tasks/s = 20,000 / (max(completed_at) -
                  min(started_at)), and the wall time until none is left. A drain is
                  bounded (--drain-timeout, then tasks/s so far by the wall clock) and
                  repeated for a median only when cheap (the first under
                  --cheap-drain-s).
  burst after     the drain, on a table ANALYZEd while it held 10 finished tasks, no
  quiet           ANALYZE after the burst (autovacuum_enabled = false on tasks for the
                  run, reset after); the claim is EXPLAINed (custom and generic plan)
                  before the resume and checked against claim_plan.check_claim_plan.
  poll cost       a pending task (delay_s 3600); wrk GET /api/v1/tasks/{id}, plain and
                  with If-None-Match (304), 8 connections; and GET /readyz in the same
                  rounds (for the bound).
  single create   worker stopped (the API has the machine, as pgbench had); wrk POST
                  /api/v1/tasks, 8 keep-alive connections.
  batch create    wrk POST /api/v1/tasks/batch of 1,000 noop tasks, 2 connections.

Beside single create and poll cost the report gives the bound of this machine
(machine_bounds): what no implementation could exceed here, from the CPU that
PostgreSQL spent per pgbench INSERT and the HTTP path per GET /healthz in this run; and
a tighter bound from what API.md makes the request do: a create writes its task and
charges the quota in one transaction (pgbench's task_and_charge), a 304 asks the
database for the current tag (GET /readyz).

The tasks table is truncated (TRUNCATE tasks, which empties task_events too) and a
CHECKPOINT taken before every run. Results: bench/results/latest.json and latest.md.
Run: make bench, or
  LONGTASK_BIN=build/release/bin /usr/bin/python3 bench/targets.py [--rounds 3] [--seconds 5]
"""

import argparse
import datetime
import json
import os
import shutil
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "deploy", "dev"))
sys.path.insert(0, HERE)

import psycopg2  # noqa: E402
import requests  # noqa: E402

import benchlib  # noqa: E402
import ceilings  # noqa: E402
import http_load  # noqa: E402
from claim_plan import check_claim_plan, explain_claim, explain_claim_analyze  # noqa: E402
from report import write_markdown  # noqa: E402
from waits import WaitSampler  # noqa: E402
from stack import NGINX, PG_BIN, Stack  # noqa: E402

# `make run`'s own settings (deploy/dev/stack.py run()) plus the two quota changes.
MAKE_RUN_CONFIG = {"api.processes": 4, "worker.processes": 2}
BENCH_CONFIG = {"quota.units_per_window": 1000000000, "quota.max_active": 0}

NOOP = {"type": "noop", "payload": {"bench": True, "note": "x" * 32}}
PG_SETTINGS = ("server_version", "fsync", "synchronous_commit", "wal_sync_method",
               "full_page_writes", "wal_level", "shared_buffers", "max_wal_size",
               "checkpoint_timeout", "commit_delay", "max_connections", "autovacuum",
               "random_page_cost", "effective_cache_size", "jit")


class Bench:
    def __init__(self, args, stack):
        self.args = args
        self.stack = stack
        self.db = psycopg2.connect(stack.db_url, connect_timeout=10)
        self.db.autocommit = True
        self.token = stack.token("bench", exp_in=3 * 3600)
        self.auth = {"Authorization": "Bearer " + self.token}
        self.session = requests.Session()
        self.session.headers.update(self.auth)
        self.log = []
        with open(os.path.join(stack.pgdata, "postmaster.pid")) as f:
            self.postmaster = int(f.readline())

    def say(self, msg):
        line = "[%6.1fs] %s" % (time.monotonic() - self.args.t0, msg)
        self.log.append(line)
        print(line, file=sys.stderr, flush=True)

    def profile(self):
        return benchlib.CpuProfile(self.classify).start()

    def classify(self, pid, comm, ppid, pgrp):
        """The kind of a process of this stack (None for anything else on the machine:
        other stacks, other benchmarks, the other helpers' tests)."""
        if pid == self.postmaster or ppid == self.postmaster:
            return "postgres"
        for name, proc in self.stack.procs.items():
            if pgrp == proc.pid:
                return name if name != "llm" else "fake_llm"
        if pid == os.getpid():
            return "bench_python"
        return None

    def db_mark(self):
        """(next transaction id, WAL position): exact, unlike the lazily flushed
        pg_stat_* counters; see db_delta."""
        return self.q("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint, "
                      "pg_current_wal_lsn()")[0]

    def db_delta(self, mark, units):
        """Write transactions and WAL bytes since mark, in total and per unit (task)."""
        xid, wal = self.db_mark()
        nbytes = self.q("SELECT pg_wal_lsn_diff(%s, %s)::bigint", wal, mark[1])[0][0]
        xacts = xid - mark[0]  # db_mark itself only reads: it takes no xid
        return {"write_transactions": xacts, "wal_bytes": nbytes,
                "write_transactions_per_task": round(xacts / units, 3) if units else None,
                "wal_bytes_per_task": round(nbytes / units) if units else None}

    def q(self, sql, *params):
        with self.db.cursor() as cur:
            cur.execute(sql, params if params else None)
            return cur.fetchall() if cur.description is not None else []

    # ---- table state ----------------------------------------------------------------

    def reset_tasks(self):
        """Empty tasks (and, by its TRUNCATE trigger, task_events) and CHECKPOINT. Tasks
        a drain cut off at its time bound are cancelled first and the workers' last ones
        waited for. TRUNCATE can deadlock with a reaper or worker statement that locks
        the tables in the other order; PostgreSQL then cancels one side, and when that is
        ours it is tried again."""
        def settled():
            # Again each time: a create cut off at the end of a wrk run may still commit.
            self.q("UPDATE tasks SET status = 'cancelled', completed_at = now() "
                   "WHERE status IN ('pending', 'retry')")
            return self.active() == 0

        self.stack.wait_for(settled, timeout=60, interval=0.2, what="running tasks")
        self.q("SET lock_timeout = '10s'")
        for attempt in range(5):
            try:
                self.q("TRUNCATE tasks")
                break
            except (psycopg2.errors.DeadlockDetected, psycopg2.errors.LockNotAvailable):
                if attempt == 4:
                    raise
                time.sleep(0.2)
        self.q("CHECKPOINT")

    def active(self):
        return self.q("SELECT count(*) FROM tasks "
                      "WHERE status IN ('pending', 'running', 'retry')")[0][0]

    def pause_workers(self):
        pids = self.stack.worker_children()
        if not pids:
            raise RuntimeError("no worker children to pause")
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        return pids

    @staticmethod
    def resume_workers(pids):
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def create_batches(self, n, clients=4):
        """n noop tasks through POST /api/v1/tasks/batch (1,000 a request); wall s."""
        import concurrent.futures
        body = json.dumps({"tasks": [NOOP] * 1000})
        sessions = [requests.Session() for _ in range(clients)]
        for s in sessions:
            s.headers.update(dict(self.auth, **{"Content-Type": "application/json"}))
        nreq = n // 1000

        def one(k):
            for _ in range(k, nreq, clients):
                r = sessions[k].post(self.stack.url + "/api/v1/tasks/batch", data=body,
                                     timeout=120)
                if r.status_code != 202:
                    raise RuntimeError("batch create: HTTP %d %s" % (r.status_code, r.text[:300]))

        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            list(pool.map(one, range(clients)))
        for s in sessions:
            s.close()
        return time.monotonic() - t0

    def create_one(self, body=None):
        r = self.session.post(self.stack.url + "/api/v1/tasks", json=body or NOOP, timeout=30)
        if r.status_code != 202:
            raise RuntimeError("create: HTTP %d %s" % (r.status_code, r.text[:300]))
        return r.json()["id"]

    # ---- ceilings -------------------------------------------------------------------

    def ceilings(self):
        a = self.args
        table = ceilings.create_table(self.stack.db_url)
        plan = [("one_row", 1), ("one_row", 8), ("one_row", 32),
                ("rows_1000", 1), ("rows_1000", 2), ("task_and_charge", 8)]
        runs = ceilings.measure(PG_BIN, self.stack.db_url, plan, a.seconds, a.rounds,
                                on_run=lambda k, r: self.say("pgbench %s: %.1f tx/s, %.0f rows/s"
                                                             % (k, r["tps"], r["rows_per_s"])),
                                profile=self.profile)
        ceilings.drop_table(self.stack.db_url)
        for v in runs.values():
            v["median_tps"] = benchlib.median(r["tps"] for r in v["runs"])
            v["median_rows_per_s"] = benchlib.median(r["rows_per_s"] for r in v["runs"])
        best_1000 = max(("rows_1000_c1", "rows_1000_c2"),
                        key=lambda k: runs[k]["median_rows_per_s"])
        # PostgreSQL's CPU per transaction at 8 clients (the pgbench client not
        # counted), of the one-row INSERT and of task_and_charge: for the machine bounds
        # of single create.
        def pg_ms(key):
            ms = benchlib.median(1000 * r["cpu"]["cpu_s"].get("postgres", 0) / r["transactions"]
                                 for r in runs[key]["runs"] if r.get("transactions"))
            return round(ms, 4) if ms is not None else None

        return {"table": table, "runs": runs,
                "one_row_c8_pg_cpu_ms_per_tx": pg_ms("one_row_c8"),
                "task_and_charge_c8_pg_cpu_ms_per_tx": pg_ms("task_and_charge_c8"),
                "task_and_charge_tps_c8": runs["task_and_charge_c8"]["median_tps"],
                "one_row_tps_c1": runs["one_row_c1"]["median_tps"],
                "one_row_tps_c8": runs["one_row_c8"]["median_tps"],
                "one_row_tps_c32": runs["one_row_c32"]["median_tps"],
                "rows_1000_rows_per_s": runs[best_1000]["median_rows_per_s"],
                "rows_1000_best_clients": runs[best_1000]["runs"][0]["clients"]}

    # ---- HTTP client ceiling ----------------------------------------------------------

    def client_ceiling(self):
        a = self.args
        out = {}
        # nginx alone: its own 404 problem page (web/ may hold no files); the API: healthz.
        for name, url, nginx_only in (
                ("nginx_alone_404", self.stack.url + "/no-such-file", True),
                ("api_healthz", self.stack.url + "/healthz", False)):
            prof = self.profile()
            r = http_load.run(url, 8, a.seconds, status_errors_ok=nginx_only)
            r["cpu"] = prof.stop()
            # CPU of the HTTP path per request: the load client, nginx, the API.
            r["http_cpu_ms_per_req"] = (
                round(1000 * sum(r["cpu"]["cpu_s"].get(k, 0)
                                 for k in ("load_client", "nginx", "api")) / r["requests"], 4)
                if r["requests"] else None)
            out[name] = r
            self.say("client ceiling %s: %.0f req/s" % (name, r["req_per_s"]))
        return out

    # ---- pickup latency ---------------------------------------------------------------

    def pickup_round(self, n=200, gap_s=0.020, breakdown=False):
        """One round of the pickup target; breakdown=True adds where each pickup's time
        went (needs track_commit_timestamp: see pickup_breakdown)."""
        self.reset_tasks()
        self.stack.wait_for(lambda: len(self.stack.worker_children()) == 2, timeout=30,
                            what="worker children")
        time.sleep(1.0)  # the children are idle, waiting on LISTEN
        ids, post_ms = [], []
        t0 = time.monotonic()
        for i in range(n):
            delay = t0 + i * gap_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            t = time.monotonic()
            ids.append(self.create_one())
            post_ms.append((time.monotonic() - t) * 1000)
        self.stack.wait_for(lambda: self.active() == 0, timeout=60, what="pickup tasks done")
        rows = self.q("SELECT extract(epoch FROM started_at - created_at) * 1000 FROM tasks "
                      "WHERE id = ANY(%s::uuid[]) AND started_at IS NOT NULL", ids)
        lat = [float(r[0]) for r in rows]
        if len(lat) != n:
            raise RuntimeError("pickup: %d of %d tasks started" % (len(lat), n))
        out = {}
        if breakdown:
            # The `created` event (seq 1) is written by the create and never updated, so
            # its xmin is the create's transaction and its commit time the create's commit.
            rows = self.q("SELECT extract(epoch FROM pg_xact_commit_timestamp(e.xmin)"
                          "                      - t.created_at) * 1000,"
                          "       extract(epoch FROM t.started_at"
                          "                      - pg_xact_commit_timestamp(e.xmin)) * 1000"
                          "  FROM tasks t JOIN task_events e ON e.task_id = t.id AND e.seq = 1"
                          " WHERE t.id = ANY(%s::uuid[])", ids)
            for key, col in (("create_ms", 0), ("wake_ms", 1)):
                xs = [float(r[col]) for r in rows]
                out[key] = {"p50": round(benchlib.percentile(xs, 50), 3),
                            "p99": round(benchlib.percentile(xs, 99), 3)}
        return dict(out, **{
                "tasks": n, "gap_ms": gap_s * 1000,
                "p50_ms": round(benchlib.percentile(lat, 50), 3),
                "p99_ms": round(benchlib.percentile(lat, 99), 3),
                "max_ms": round(max(lat), 3),
                "post_p50_ms": round(benchlib.percentile(post_ms, 50), 3),
                "post_p99_ms": round(benchlib.percentile(post_ms, 99), 3),
                "samples_ms": sorted(round(x, 3) for x in lat)})

    def pickup_breakdown(self):
        """Where a pickup's time goes: one more pickup round on the cluster restarted
        with track_commit_timestamp on, which dates each create's commit. A diagnostic
        only, run last: every target runs with the setting off, as make run has it.
        created_at is the create transaction's start and started_at the claim's, so a
        pickup splits into the create (its statement and its commit's fsync) and the
        wake-up (the notification reaching the idle workers' sessions, the worker's
        claim reaching the database)."""
        self.q("ALTER SYSTEM SET track_commit_timestamp = on")
        self.db.close()
        self.stack.stop_postgres()
        self.stack.start_postgres()
        self.db = psycopg2.connect(self.stack.db_url, connect_timeout=10)
        self.db.autocommit = True
        with open(os.path.join(self.stack.pgdata, "postmaster.pid")) as f:
            self.postmaster = int(f.readline())
        try:
            if not self.stack.pids("worker"):
                self.stack.start_program("worker")
            self.stack.wait_for(
                lambda: self.q("SELECT count(*) FROM pg_stat_activity "
                               "WHERE application_name = 'longtask-worker'")[0][0] == 2,
                timeout=30, what="the worker children's sessions back")
            # Every API process reconnects and builds its plans again: run creates
            # through all of them before the round measures.
            ids = [self.create_one() for _ in range(40)]
            self.stack.wait_for(
                lambda: self.q("SELECT count(*) FROM tasks WHERE id = ANY(%s::uuid[]) "
                               "AND status = 'completed'", ids)[0][0] == len(ids),
                timeout=30, what="the warm-up tasks done")
            r = self.pickup_round(breakdown=True)
            r.pop("samples_ms")
            return r
        finally:
            self.q("ALTER SYSTEM RESET track_commit_timestamp")

    # ---- drains -----------------------------------------------------------------------

    def drain_round(self, n, analyze_after_create, timeout):
        """One drain of n noop tasks; the table must be in the wanted state already."""
        pids = self.pause_workers()
        result = {"tasks": n, "analyze_after_create": analyze_after_create}
        # Only this round's tasks count: the burst keeps the quiet tasks it ran before.
        since = self.q("SELECT clock_timestamp()")[0][0]
        try:
            result["create_s"] = round(self.create_batches(n), 3)
            if analyze_after_create:
                self.q("ANALYZE tasks")
            with self.db.cursor() as cur:
                plans = explain_claim(cur)
            result["plan_problems"] = {m: check_claim_plan(p) for m, p in plans.items()}
            result["claim_explain_analyze"] = explain_claim_analyze(self.db)
            prof = self.profile()
            waits = WaitSampler(self.stack.db_url)
            waits.start()
            mark = self.db_mark()
            t0 = time.monotonic()
            self.resume_workers(pids)
            pids = None
            deadline = t0 + timeout
            left = n
            while time.monotonic() < deadline:
                left = self.active()
                if left == 0:
                    break
                time.sleep(0.05)
            result["wall_s"] = round(time.monotonic() - t0, 3)
            result["cpu"] = prof.stop()
            result["db_waits"] = waits.stop()
        finally:
            if pids:
                self.resume_workers(pids)
        done, span = self.q("SELECT count(*) FILTER (WHERE status = 'completed'), "
                            "extract(epoch FROM max(completed_at) - min(started_at)) "
                            "FROM tasks WHERE started_at IS NOT NULL AND created_at >= %s",
                            since)[0]
        result["completed"] = done
        result["db"] = self.db_delta(mark, done)
        result["timed_out"] = left != 0
        result["db_span_s"] = round(float(span or 0), 3)
        if result["timed_out"]:
            # A drain cut off at the time bound: the rate so far, by the wall clock.
            result["tasks_per_s"] = round(done / result["wall_s"], 1)
        else:
            result["tasks_per_s"] = round(done / float(span), 1) if span else None
        result["tasks_per_s_wall"] = round(done / result["wall_s"], 1)
        return result

    def normal_drain(self):
        self.reset_tasks()
        return self.drain_round(self.args.drain_tasks, True, self.args.drain_timeout)

    def burst_drain(self):
        self.reset_tasks()
        self.q("ALTER TABLE tasks SET (autovacuum_enabled = false)")
        try:
            quiet_ids = [self.create_one() for _ in range(10)]
            self.stack.wait_for(lambda: self.active() == 0, timeout=30, what="quiet tasks")
            self.q("ANALYZE tasks")
            before = self.q("SELECT reltuples, last_analyze, last_autoanalyze FROM pg_class c "
                            "JOIN pg_stat_user_tables s ON s.relid = c.oid "
                            "WHERE c.relname = 'tasks'")[0]
            r = self.drain_round(self.args.drain_tasks, False, self.args.drain_timeout)
            after = self.q("SELECT last_analyze, last_autoanalyze FROM pg_stat_user_tables "
                           "WHERE relname = 'tasks'")[0]
            r["reltuples_at_analyze"] = before[0]
            r["quiet_tasks"] = len(quiet_ids)
            r["analyzed_during_burst"] = (after[0] != before[1]) or (after[1] != before[2])
        finally:
            self.q("ALTER TABLE tasks RESET (autovacuum_enabled)")
        self.q("ANALYZE tasks")
        return r

    # ---- HTTP measurements -------------------------------------------------------------

    def poll_cost(self):
        a = self.args
        self.reset_tasks()
        tid = self.create_one(dict(NOOP, delay_s=3600))
        url = self.stack.url + "/api/v1/tasks/" + tid
        r = self.session.get(url, timeout=10)
        etag = r.headers.get("ETag")
        if r.status_code != 200 or not etag:
            raise RuntimeError("GET task: HTTP %d, ETag %r" % (r.status_code, etag))
        r304 = self.session.get(url, headers={"If-None-Match": etag}, timeout=10)
        if r304.status_code != 304:
            raise RuntimeError("If-None-Match answered %d, not 304" % r304.status_code)
        # GET /readyz, interleaved with the two: no token, one database round trip (the
        # schema version). A 304 must ask the database for the current tag, so it does
        # at least as much (machine_bounds).
        plain, cond, ready = [], [], []
        for _ in range(a.rounds):
            plain.append(http_load.run(url, 8, a.seconds, headers=self.auth))
            cond.append(http_load.run(url, 8, a.seconds,
                                      headers=dict(self.auth, **{"If-None-Match": etag})))
            ready.append(http_load.run(self.stack.url + "/readyz", 8, a.seconds))
            self.say("poll: GET %.0f req/s, 304 %.0f req/s, readyz %.0f req/s"
                     % (plain[-1]["req_per_s"], cond[-1]["req_per_s"], ready[-1]["req_per_s"]))
        return {"etag": etag, "plain": plain, "not_modified": cond, "readyz": ready,
                "plain_req_per_s": benchlib.median(x["req_per_s"] for x in plain),
                "not_modified_req_per_s": benchlib.median(x["req_per_s"] for x in cond),
                "readyz_req_per_s": benchlib.median(x["req_per_s"] for x in ready)}

    def create_load(self, batch, connections, tenants=1, rounds=None):
        """wrk POSTs of `batch` noop tasks (1 = the single-create endpoint) on
        `connections` connections; tenants > 1 spreads the requests over that many
        tenants (a diagnostic: creates of one tenant serialise on its quota row)."""
        a = self.args
        if batch == 1:
            url, body = self.stack.url + "/api/v1/tasks", json.dumps(NOOP)
        else:
            url, body = (self.stack.url + "/api/v1/tasks/batch",
                         json.dumps({"tasks": [NOOP] * batch}))
        headers = dict(self.auth, **{"Content-Type": "application/json"})
        cycle = None
        if tenants > 1:
            cycle = ("Authorization", ["Bearer " + self.stack.token("bench-%d" % i,
                                                                   exp_in=3 * 3600)
                                       for i in range(tenants)])
        runs = []
        for _ in range(rounds or a.rounds):
            self.reset_tasks()
            prof = self.profile()
            waits = WaitSampler(self.stack.db_url)
            waits.start()
            mark = self.db_mark()
            r = http_load.run(url, connections, a.seconds, method="POST", body=body,
                              headers=headers, header_cycle=cycle)
            r["cpu"] = prof.stop()
            r["db_waits"] = waits.stop()
            r["tasks_per_s"] = round(r["req_per_s"] * batch, 1)
            r["db"] = self.db_delta(mark, r["requests"] * batch)
            runs.append(r)
            self.say("create batch=%d c=%d tenants=%d: %.0f tasks/s"
                     % (batch, connections, tenants, r["tasks_per_s"]))
        return {"batch": batch, "connections": connections, "tenants": tenants, "runs": runs,
                "tasks_per_s": benchlib.median(x["tasks_per_s"] for x in runs)}


def ratio(x, y):
    return round(x / y, 3) if x is not None and y else None


def machine_bounds(res):
    """What no implementation could exceed on this machine, for the two targets whose
    yardstick leaves out work the measurement must do, from figures of the same run:

    single create  the load client, nginx, the API and PostgreSQL share the cores. A
                   create costs at least the HTTP path of GET /healthz (no token, no
                   body, no database) plus PostgreSQL's CPU for one pgbench INSERT, so
                   creates/s <= cores / (healthz's CPU per request + that INSERT's).
                   A second, tighter bound puts the CPU of ceilings.py's
                   task_and_charge (the task and its quota charge in one statement, the
                   least API.md's create writes) in place of the INSERT's; and that
                   script's own tx/s, with no HTTP at all, is a bound too.
    poll cost      a 304 does all a healthz does and more (a token, a lookup), so it
                   cannot outrun healthz: the ratio is at most healthz req/s / GET req/s.
                   Tighter: API.md's 304 answers "the current tag", which only the
                   database knows (workers commit in other processes), so a 304 makes
                   at least one database round trip, as GET /readyz (no token) does;
                   the ratio is at most readyz req/s / GET req/s, both taken in
                   poll_cost's interleaved rounds.

    Returns {"single_create": {...}, "poll": {...}} with the bound as a rate and as a
    ratio in the target's own terms; None where a figure is missing."""
    c = res["ceilings"]
    hz = (res.get("client_ceiling") or {}).get("api_healthz") or {}
    http_ms = hz.get("http_cpu_ms_per_req")
    pg_ms = c.get("one_row_c8_pg_cpu_ms_per_tx")
    cores = os.cpu_count() or 1
    out = {"single_create": None, "poll": None}
    if http_ms and pg_ms:
        rate = cores * 1000 / (http_ms + pg_ms)
        out["single_create"] = {
            "creates_per_s": round(rate), "ratio": ratio(rate, c["one_row_tps_c8"]),
            "cores": cores, "http_cpu_ms_per_req": http_ms, "pg_cpu_ms_per_insert": pg_ms}
        charge_ms = c.get("task_and_charge_c8_pg_cpu_ms_per_tx")
        if charge_ms:
            rate = cores * 1000 / (http_ms + charge_ms)
            tps = c.get("task_and_charge_tps_c8")
            out["single_create"]["task_and_charge"] = {
                "creates_per_s": round(rate), "ratio": ratio(rate, c["one_row_tps_c8"]),
                "pg_cpu_ms_per_tx": charge_ms, "pgbench_tps": tps,
                "pgbench_ratio": ratio(tps, c["one_row_tps_c8"])}
    plain = (res.get("poll") or {}).get("plain_req_per_s")
    if hz.get("req_per_s") and plain:
        out["poll"] = {"req_per_s": hz["req_per_s"], "ratio": ratio(hz["req_per_s"], plain)}
        ready = res["poll"].get("readyz_req_per_s")
        if ready:
            out["poll"]["one_round_trip"] = {"req_per_s": ready, "ratio": ratio(ready, plain)}
    return out


def measurements(res):
    """The target table: one row a target, each with its figure, ceiling, ratio, met,
    and for two of them the bound of this machine (machine_bounds)."""
    c = res["ceilings"]
    rows = []
    bounds = machine_bounds(res)

    def row(name, how, figure, unit, ceiling, ceiling_name, rat, target, met, bound=None):
        rows.append({"measurement": name, "how": how, "figure": figure, "unit": unit,
                     "ceiling": ceiling, "ceiling_name": ceiling_name, "ratio": rat,
                     "target": target, "met": bool(met) if met is not None else None,
                     "machine_bound": bound})

    d = res["drain"]["tasks_per_s"]
    r = ratio(d, c["rows_1000_rows_per_s"])
    row("drain", "20,000 noop tasks created while workers SIGSTOPped, then SIGCONT; "
        "median of %d" % len(res["drain"]["runs"]), d, "tasks/s", c["rows_1000_rows_per_s"],
        "pgbench 1,000-row INSERT rows/s", r, ">= 0.20 of ceiling", r is not None and r >= 0.20)
    p = res["pickup"]
    row("pickup latency p50", "200 tasks 20 ms apart, idle workers, started_at - created_at; "
        "median of %d rounds" % len(p["runs"]), p["p50_ms"], "ms", None, None, None,
        "<= 2 ms", p["p50_ms"] <= 2)
    row("pickup latency p99", "as above", p["p99_ms"], "ms", None, None, None, "<= 10 ms",
        p["p99_ms"] <= 10)
    s = res["single_create"]["tasks_per_s"]
    r = ratio(s, c["one_row_tps_c8"])
    row("single create", "wrk POST /api/v1/tasks, 8 keep-alive connections, through nginx",
        s, "tasks/s", c["one_row_tps_c8"], "pgbench one-row INSERT tx/s, 8 clients", r,
        ">= 0.80 of ceiling", r is not None and r >= 0.80, bounds["single_create"])
    b = res["batch_create"]["tasks_per_s"]
    r = ratio(b, c["rows_1000_rows_per_s"])
    row("batch create", "wrk POST /api/v1/tasks/batch of 1,000, %d connections, through nginx"
        % res["batch_create"]["connections"], b, "tasks/s", c["rows_1000_rows_per_s"],
        "pgbench 1,000-row INSERT rows/s", r, ">= 0.30 of ceiling", r is not None and r >= 0.30)
    bq = res["burst"]["tasks_per_s"]
    r = ratio(bq, d)
    row("burst after quiet", "the drain on a table ANALYZEd with 10 rows, no ANALYZE after; "
        "median of %d" % len(res["burst"]["runs"]), bq, "tasks/s", d, "the normal drain", r,
        ">= 0.90 of normal drain", r is not None and r >= 0.90)
    ok = res["burst"]["plan_ok"]
    row("burst: claim walks partial index", "EXPLAIN of the worker's claim (custom and generic "
        "plan) at the start of the burst", "yes" if ok else "no", "", None, None, None,
        "Index Scan of tasks_claim_idx, no Sort", ok)
    pc = res["poll"]
    r = ratio(pc["not_modified_req_per_s"], pc["plain_req_per_s"])
    row("poll cost", "wrk GET of a pending task with If-None-Match (304), 8 connections",
        pc["not_modified_req_per_s"], "req/s", pc["plain_req_per_s"], "plain GET req/s", r,
        ">= 2.0 x plain GET", r is not None and r >= 2.0, bounds["poll"])
    return rows


def pg_settings(bench):
    return {name: bench.q("SHOW " + name)[0][0] for name in PG_SETTINGS}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="runs per measurement (median)")
    ap.add_argument("--seconds", type=int, default=5, help="duration of a pgbench/wrk run")
    ap.add_argument("--drain-tasks", type=int, default=20000)
    ap.add_argument("--cheap-drain-s", type=float, default=20,
                    help="a drain slower than this is run once, not --rounds times")
    ap.add_argument("--drain-timeout", type=float, default=45,
                    help="time bound of one drain (a drain cut off is reported as such)")
    ap.add_argument("--batch-connections", type=int, default=2)
    ap.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    ap.add_argument("--command", default=None, help="the command to record (make bench)")
    args = ap.parse_args()
    args.t0 = time.monotonic()
    if not http_load.have_wrk():
        print("targets.py: wrk is missing; install it (apt-get install wrk) or run make bench "
              "as root, which installs it", file=sys.stderr)
        return 2

    var = tempfile.mkdtemp(prefix="longtask-bench-", dir=os.environ.get("LONGTASK_BENCH_TMP",
                                                                          "/var/tmp"))
    os.chmod(var, 0o755)
    os.environ.pop("LONGTASK_DATABASE_URL", None)  # always a private cluster
    stack = Stack(var, config=dict(MAKE_RUN_CONFIG, **BENCH_CONFIG), fsync=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    res = {"benchmark": "targets (issue #6)",
           "command": args.command or " ".join([sys.executable] + sys.argv),
           "script": " ".join([sys.executable] + sys.argv),
           "started_at": started.isoformat(timespec="seconds"),
           "machine": benchlib.machine(), "versions": benchlib.versions(PG_BIN, NGINX),
           "filesystem": benchlib.filesystem(var), "loadavg_at_start": benchlib.loadavg()}
    bench = None
    try:
        stack.start()
        stack.wait_for(lambda: len(stack.worker_children()) == 2, timeout=30,
                       what="worker children")
        bench = Bench(args, stack)
        bench.say("stack up at %s (var %s)" % (stack.url, var))
        res["settings"] = {
            "longtask": {k: v for k, v in stack.settings().items() if k != "database.url"},
            "reaper_loop_s": stack.reaper_loop, "fsync": True, "through": "nginx",
            "postgresql": pg_settings(bench), "rounds": args.rounds,
            "run_seconds": args.seconds, "drain_tasks": args.drain_tasks,
            "drain_timeout_s": args.drain_timeout, "load_client": "wrk (C, keep-alive)",
            "noop_body": NOOP}
        res["ceilings"] = bench.ceilings()
        res["client_ceiling"] = bench.client_ceiling()
        pick = []
        for _ in range(args.rounds):
            pick.append(bench.pickup_round())
            bench.say("pickup: p50 %.2f ms, p99 %.2f ms" % (pick[-1]["p50_ms"],
                                                           pick[-1]["p99_ms"]))
        allsamples = [x for p in pick for x in p["samples_ms"]]
        res["pickup"] = {"runs": pick, "p50_ms": benchlib.median(p["p50_ms"] for p in pick),
                         "p99_ms": benchlib.median(p["p99_ms"] for p in pick),
                         "pooled_p50_ms": benchlib.percentile(allsamples, 50),
                         "pooled_p99_ms": benchlib.percentile(allsamples, 99)}
        for key, fn in (("drain", bench.normal_drain), ("burst", bench.burst_drain)):
            runs = []
            for i in range(args.rounds):
                runs.append(fn())
                # Medians of 3 where cheap: a drain slower than --cheap-drain-s is
                # measured once, which keeps the whole run inside its time bound.
                if i == 0 and runs[0]["wall_s"] > args.cheap_drain_s:
                    bench.say("%s took %.1f s (> %.0f s): one run only"
                              % (key, runs[0]["wall_s"], args.cheap_drain_s))
                    break
                bench.say("%s: %s tasks/s (db span %.2f s, wall %.2f s, timed out %s)" % (
                    key, runs[-1]["tasks_per_s"], runs[-1]["db_span_s"], runs[-1]["wall_s"],
                    runs[-1]["timed_out"]))
            res[key] = {"runs": runs,
                        "tasks_per_s": benchlib.median(r["tasks_per_s"] for r in runs),
                        "plan_ok": all(not any(r["plan_problems"].values()) for r in runs)}
        # The rest measures the API alone: the worker goes, as it was idle under pgbench.
        stack.stop_program("worker")
        res["poll"] = bench.poll_cost()
        res["single_create"] = bench.create_load(1, 8)
        res["batch_create"] = bench.create_load(1000, args.batch_connections)
        # Diagnostics, one run each: the same loads spread over 8 tenants.
        res["diagnostics"] = {
            "single_create_8_tenants": bench.create_load(1, 8, tenants=8, rounds=1),
            "batch_create_8_tenants": bench.create_load(1000, args.batch_connections,
                                                        tenants=8, rounds=1)}
        res["pickup_breakdown"] = bench.pickup_breakdown()
        bench.say("pickup breakdown: create p50 %.2f ms, wake-up p50 %.2f ms" % (
            res["pickup_breakdown"]["create_ms"]["p50"],
            res["pickup_breakdown"]["wake_ms"]["p50"]))
        res["measurements"] = measurements(res)
    except Exception:
        import traceback
        res["error"] = traceback.format_exc()
        print(res["error"], file=sys.stderr)
    finally:
        if bench is not None:
            res["progress_log"] = bench.log
            bench.db.close()
        stack.stop()
    res["duration_s"] = round(time.monotonic() - args.t0, 1)
    res["loadavg_at_end"] = benchlib.loadavg()
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "latest.json"), "w") as f:
        json.dump(res, f, indent=2, default=str)
        f.write("\n")
    md = write_markdown(res, os.path.join(args.out_dir, "latest.md"))
    print(md)
    if res.get("error"):
        print("targets.py: the run failed; the stack's logs are kept in %s" % var,
              file=sys.stderr)
        return 1
    shutil.rmtree(var, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
