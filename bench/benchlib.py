"""
benchlib.py -- what every longtask benchmark shares: the machine and software it ran
on, medians, and a CPU profile by process kind (where the CPU went during one
measurement: PostgreSQL, the API, the worker, nginx, the load client).

Standard library only.
"""

import os
import platform
import shutil
import statistics
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def machine():
    """CPU model, cores, memory, kernel, and the file system the benchmark writes to."""
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
                                / 2 ** 30, 1)}


def _first_line(argv):
    try:
        res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
    return lines[0].strip() if lines else None


def versions(pg_bin, nginx):
    """Versions of the software in the measurement path (None when not installed)."""
    return {
        "postgresql": _first_line([os.path.join(pg_bin, "postgres"), "--version"]),
        "pgbench": _first_line([os.path.join(pg_bin, "pgbench"), "--version"]),
        "nginx": _first_line([nginx, "-v"]),
        "gcc": _first_line(["gcc", "--version"]),
        "wrk": _first_line(["wrk", "-v"]) if shutil.which("wrk") else None,
        "python": platform.python_version(),
    }


def filesystem(path):
    """The file system type and device under path (fsync cost depends on it)."""
    line = _first_line(["sh", "-c", "df -PT %s | tail -1" % path])
    if not line:
        return None
    parts = line.split()
    return {"device": parts[0], "type": parts[1]} if len(parts) > 1 else {"raw": line}


def loadavg():
    """/proc/loadavg's 1, 5 and 15 minute figures: other work on the machine shows here."""
    try:
        with open("/proc/loadavg") as f:
            return [float(x) for x in f.read().split()[:3]]
    except OSError:
        return None


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def percentile(xs, p):
    """The p-th percentile (0..100) of xs by the nearest-rank method."""
    xs = sorted(xs)
    if not xs:
        return None
    k = max(1, int(-(-p * len(xs) // 100)))  # ceil(p/100 * n), at least 1
    return xs[min(k, len(xs)) - 1]


# ---- CPU by process kind ------------------------------------------------------------


def _cpu_snapshot(classify):
    """{pid: (kind, own ticks, ticks of reaped children)} of every process that
    classify(pid, comm, ppid, pgrp) names a kind for (None: not ours, left out; other
    benchmarks or tests may share the machine)."""
    snap = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                data = f.read()
        except OSError:
            continue
        comm = data[data.find("(") + 1:data.rfind(")")]
        rest = data[data.rfind(")") + 2:].split()
        kind = classify(int(entry), comm, int(rest[1]), int(rest[2]))
        if kind is None:
            continue
        # fields 14-17 of stat (utime stime cutime cstime) are rest[11:15]
        own = int(rest[11]) + int(rest[12])
        reaped = int(rest[13]) + int(rest[14])
        snap[int(entry)] = (kind, own, reaped)
    return snap


class CpuProfile:
    """CPU seconds by process kind between start() and stop(): processes alive at both
    ends count their difference, processes born in between all of theirs, and processes
    that exited in between through their parent's reaped-children time (a PostgreSQL
    backend through the postmaster) less what they had spent before start(). Load
    clients this process ran and waited for (wrk, pgbench) are counted from os.times()
    as `load_client`. Approximate, and enough to see which kind was saturated.
    classify: see _cpu_snapshot."""

    def __init__(self, classify):
        self.classify = classify
        self.t0 = None
        self.before = None
        self.self_children0 = None
        self.result = None

    def start(self):
        self.before = _cpu_snapshot(self.classify)
        self.self_children0 = os.times()
        self.t0 = time.monotonic()
        return self

    def stop(self):
        wall = time.monotonic() - self.t0
        after = _cpu_snapshot(self.classify)
        ticks = {}
        me = os.getpid()
        for pid, (kind, own, reaped) in after.items():
            if pid == me:
                reaped = self.before.get(pid, (kind, 0, 0))[2]  # counted below instead
            if pid in self.before and self.before[pid][0] == kind:
                d = own - self.before[pid][1] + reaped - self.before[pid][2]
            else:
                d = own + reaped
            ticks[kind] = ticks.get(kind, 0) + max(d, 0)
        # A process that exited in between reached its parent's reaped time with all of
        # its CPU, also what it spent before start() (an API child retired after
        # api.max_requests, and its database backend): take that part out again.
        for pid, (kind, own, reaped) in self.before.items():
            if pid not in after and pid != me:
                ticks[kind] = ticks.get(kind, 0) - (own + reaped)
        ticks = {k: max(v, 0) for k, v in ticks.items()}
        t1 = os.times()
        clients = (t1.children_user + t1.children_system -
                   self.self_children0.children_user - self.self_children0.children_system)
        secs = {k: round(v / CLK_TCK, 2) for k, v in sorted(ticks.items())}
        secs["load_client"] = round(clients, 2)
        self.result = {"wall_s": round(wall, 2), "cpu_s": secs,
                       "cpu_share_of_machine": {
                           k: round(v / (wall * (os.cpu_count() or 1)), 3)
                           for k, v in secs.items() if wall > 0}}
        return self.result
