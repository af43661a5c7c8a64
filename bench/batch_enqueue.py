#!/usr/bin/python3
"""
batch_enqueue.py -- how fast tasks get in: POST /api/v1/tasks/batch with batches of 100
and of 1000, against the baseline of one POST /api/v1/tasks per task, all through nginx.

A private stack exactly as `make run` starts it (fsync on, release binaries, nginx in
front) but with the API alone (no worker claiming, no reaper), so the figure is the
enqueue path only: validation, the quota charge, the multi-row INSERT, the events, one
NOTIFY per queue, the commit, and the response with every task. Quotas stay on (a large
unit budget, so every batch is charged; the active-task limit is off, since nothing
drains the queue during the run).

Each mode creates --tasks tasks from --clients concurrent HTTP clients; tasks/s is
tasks / wall time; every mode runs --rounds times and the median is reported (the
runs are listed too). One JSON document goes to stdout and bench/results/
batch_enqueue.json, with the command line and the machine. Run:
  /usr/bin/python3 bench/batch_enqueue.py [--tasks 10000] [--clients 4] [--rounds 3]
"""

import argparse
import concurrent.futures
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "deploy", "dev"))

import requests  # noqa: E402

from stack import Stack  # noqa: E402
import benchlib  # noqa: E402



def run_mode(stack, token, tasks, batch, clients):
    """Creates `tasks` tasks in requests of `batch` (1 = the single-create endpoint);
    returns (wall seconds, requests made)."""
    entry = {"type": "noop", "payload": {"bench": True, "note": "x" * 32}}
    if batch == 1:
        url, body = stack.url + "/api/v1/tasks", entry
    else:
        url, body = stack.url + "/api/v1/tasks/batch", {"tasks": [entry] * batch}
    data = json.dumps(body)
    nreq = tasks // batch
    sessions = [requests.Session() for _ in range(clients)]
    for s in sessions:
        s.headers.update({"Authorization": "Bearer " + token,
                          "Content-Type": "application/json"})

    def worker(k):
        s = sessions[k]
        for _ in range(k, nreq, clients):
            r = s.post(url, data=data, timeout=120)
            if r.status_code != 202:
                raise RuntimeError("HTTP %d: %s" % (r.status_code, r.text[:300]))

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    wall = time.monotonic() - t0
    for s in sessions:
        s.close()
    return wall, nreq


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=10000, help="tasks per run of a mode")
    ap.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--api-processes", type=int, default=4)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "batch_enqueue.json"))
    args = ap.parse_args()

    var = tempfile.mkdtemp(prefix="longtask-bench-", dir=os.environ.get("LONGTASK_BENCH_TMP",
                                                                          "/var/tmp"))
    os.chmod(var, 0o755)
    config = {"api.processes": args.api_processes, "log.level": "warn",
              "quota.units_per_window": 1000000000, "quota.max_active": 0}
    stack = Stack(var, config=config, fsync=True, programs=("api",), reaper_loop=None)
    modes = [("single", 1), ("batch_100", 100), ("batch_1000", 1000)]
    result = {}
    try:
        stack.start()
        token = stack.token("bench")
        run_mode(stack, token, 200, 100, 1)  # warm up connections and caches
        runs = {name: [] for name, _ in modes}
        for _ in range(args.rounds):
            for name, batch in modes:
                n = args.tasks if batch > 1 else max(args.tasks // 5, 1000)
                wall, nreq = run_mode(stack, token, n, batch, args.clients)
                runs[name].append({"tasks": nreq * batch, "requests": nreq,
                                   "wall_s": round(wall, 3),
                                   "tasks_per_s": round(nreq * batch / wall, 1)})
        total = stack.sql("SELECT count(*) FROM tasks")[0][0]
        result = {
            "benchmark": "batch_enqueue",
            "command": " ".join([sys.executable] + sys.argv),
            "machine": benchlib.machine(),
            "settings": {"tasks_per_run": args.tasks, "clients": args.clients,
                         "rounds": args.rounds, "api_processes": args.api_processes,
                         "fsync": True, "through": "nginx", "worker": False,
                         "quota": "units charged, active limit off"},
            "median_tasks_per_s": {name: statistics.median(r["tasks_per_s"] for r in rs)
                                   for name, rs in runs.items()},
            "runs": runs,
            "tasks_in_table_at_end": total,
        }
        result["speedup_vs_single"] = {
            name: round(result["median_tasks_per_s"][name]
                        / result["median_tasks_per_s"]["single"], 1)
            for name, _ in modes}
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
