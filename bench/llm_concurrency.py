#!/usr/bin/python3
"""
llm_concurrency.py -- how many slow LLM calls one worker child carries.

The claim of longtask's process model: many concurrent LLM calls cost one process and
one database connection per worker child, not one per call. This benchmark starts a
private stack exactly as `make run` does (fsync on, nginx in front, release binaries)
with 2 worker children of `worker.concurrency` each, points the default provider at the
fake provider (tests/tools/fake_llm.py) answering every call after DELAY ms, creates N
llm.chat tasks while the worker children are stopped (SIGSTOP), resumes them, and
measures until every task is completed:

  * tasks/s from the first start to the last completion (the database's own clocks),
  * the fake provider's peak number of calls in flight,
  * peak RSS (VmHWM) of every worker process, and RSS before and after the burst,
  * PostgreSQL connections held by the worker (pg_stat_activity, sampled).

It prints one JSON document (also written to bench/results/llm_concurrency.json) with
the command line and the machine. Run: make bench, or
  /usr/bin/python3 bench/llm_concurrency.py [--tasks 1000] [--concurrency 500] [--delay-ms 2000]
"""

import argparse
import concurrent.futures
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "deploy", "dev"))

import requests  # noqa: E402

from stack import Stack  # noqa: E402
import benchlib  # noqa: E402


def proc_status(pid):
    """VmRSS and VmHWM of pid in KiB, or None when it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return None
    return {k: int(fields[k].split()[0]) for k in ("VmRSS", "VmHWM") if k in fields}


def worker_pids(stack):
    master = stack.pids("worker")
    return ([master] if master else []) + stack.worker_children()


class Sampler(threading.Thread):
    """Samples worker RSS and database connections every 100 ms until stopped."""

    def __init__(self, stack, pids):
        super().__init__(daemon=True)
        self.stack = stack
        self.pids = pids
        self.stop_event = threading.Event()
        self.peak_rss = {pid: 0 for pid in pids}
        self.max_conns = 0

    def run(self):
        while not self.stop_event.is_set():
            for pid in self.pids:
                st = proc_status(pid)
                if st:
                    self.peak_rss[pid] = max(self.peak_rss[pid], st.get("VmRSS", 0))
            rows = self.stack.sql("SELECT count(*) FROM pg_stat_activity "
                                  "WHERE application_name LIKE 'longtask-worker%%'")
            self.max_conns = max(self.max_conns, rows[0][0])
            self.stop_event.wait(0.1)


def create_tasks(stack, tenant, n, delay_ms, clients=8):
    token = stack.token(tenant)
    body = {"type": "llm.chat", "max_retries": 0,
            "payload": {"messages": [{"role": "user",
                                      "content": "[fake:delay=%d] benchmark" % delay_ms}]}}
    ids = []

    def one(_):
        with requests.Session() as s:
            r = s.post(stack.url + "/api/v1/tasks", json=body, timeout=30,
                       headers={"Authorization": "Bearer " + token})
            r.raise_for_status()
            return r.json()["id"]

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        ids.extend(pool.map(one, range(n)))
    return ids


def run_round(stack, tenant, args, pids):
    """One burst: create the tasks with the worker children stopped, resume them, wait
    until every task is completed; returns the round's figures."""
    for pid in stack.worker_children():
        os.kill(pid, signal.SIGSTOP)
    t0 = time.monotonic()
    create_tasks(stack, tenant, args.tasks, args.delay_ms)
    create_s = time.monotonic() - t0
    stack.llm_reset()
    sampler = Sampler(stack, pids)
    sampler.start()
    t1 = time.monotonic()
    for pid in stack.worker_children():
        os.kill(pid, signal.SIGCONT)

    def all_done():
        rows = stack.sql("SELECT count(*) FILTER (WHERE status = 'completed'), "
                         "count(*) FILTER (WHERE status IN ('failed', 'cancelled')) "
                         "FROM tasks WHERE tenant = %s", tenant)
        done, bad = rows[0]
        if bad:
            raise RuntimeError("%d tasks failed; see %s" % (bad, stack.logdir))
        return done == args.tasks

    try:
        stack.wait_for(all_done, timeout=args.timeout, interval=0.05,
                       what="all tasks completed")
    finally:
        sampler.stop_event.set()
        sampler.join()
    wall_s = time.monotonic() - t1
    span = stack.sql("SELECT extract(epoch FROM max(completed_at) - min(started_at)) "
                     "FROM tasks WHERE tenant = %s", tenant)[0][0]
    return {"create_s": round(create_s, 3), "run_wall_s": round(wall_s, 3),
            "run_db_span_s": round(float(span), 3),
            "tasks_per_s": round(args.tasks / float(span), 1),
            "provider_max_in_flight": stack.llm_stats().get("max_in_flight"),
            "worker_db_connections_max": sampler.max_conns,
            "peak_rss_kib": dict(sampler.peak_rss)}



def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=500, help="worker.concurrency")
    ap.add_argument("--children", type=int, default=2, help="worker.processes")
    ap.add_argument("--delay-ms", type=int, default=2000, help="the fake provider's delay")
    ap.add_argument("--rounds", type=int, default=3,
                    help="bursts in a row on the same processes (memory must stay flat)")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "llm_concurrency.json"))
    args = ap.parse_args()

    var = tempfile.mkdtemp(prefix="longtask-bench-", dir=os.environ.get("LONGTASK_BENCH_TMP",
                                                                          "/var/tmp"))
    os.chmod(var, 0o755)
    config = {
        "worker.processes": args.children,
        "worker.concurrency": args.concurrency,
        "worker.claim_batch": min(1000, args.concurrency),
        "worker.poll_interval_ms": 1000,
        "providers": [{"name": "default", "max_concurrent": args.concurrency,
                       "timeout_s": 120}],
        "log.level": "warn",
    }
    # The fake provider is started by the stack; the programs' LONGTASK_LLM_BASE_URL
    # overrides the default provider's base_url.
    os.environ.pop("LONGTASK_LLM_BASE_URL", None)
    stack = Stack(var, config=config, fsync=True, reaper_loop=5)
    result = {}
    try:
        stack.start()
        stack.wait_for(lambda: len(stack.worker_children()) == args.children, timeout=30,
                       what="worker children")
        pids = worker_pids(stack)
        idle = {pid: proc_status(pid) for pid in pids}
        rounds = [run_round(stack, "bench-%d" % r, args, pids) for r in range(args.rounds)]
        after = {pid: proc_status(pid) for pid in pids}
        best = max(rounds, key=lambda r: r["tasks_per_s"])
        result = {
            "benchmark": "llm_concurrency",
            "command": " ".join([sys.executable] + sys.argv),
            "machine": benchlib.machine(),
            "settings": {"tasks": args.tasks, "worker_processes": args.children,
                         "worker_concurrency": args.concurrency,
                         "provider_delay_ms": args.delay_ms, "fsync": True,
                         "rounds": args.rounds},
            "ideal_s": round(args.delay_ms / 1000.0 * args.tasks
                             / min(args.tasks, args.children * args.concurrency), 3),
            "tasks_per_s_best": best["tasks_per_s"],
            "rounds": rounds,
            "worker_rss_kib": [
                {"pid": pid, "role": "master" if i == 0 else "child",
                 "idle": (idle.get(pid) or {}).get("VmRSS"),
                 "peak_by_round": [r["peak_rss_kib"].get(pid) for r in rounds],
                 "peak_hwm": (after.get(pid) or {}).get("VmHWM"),
                 "after": (after.get(pid) or {}).get("VmRSS")}
                for i, pid in enumerate(pids)],
        }
    finally:
        stack.stop()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(json.dumps(result, indent=2))
    shutil.rmtree(var, ignore_errors=True)


if __name__ == "__main__":
    main()
