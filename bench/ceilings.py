"""
ceilings.py -- what PostgreSQL itself commits on the stack's own cluster when nothing
but pgbench talks to it: the yardstick every longtask figure is divided by.

The ceiling table is `bench_tasks (LIKE tasks INCLUDING ALL)` in the longtask database:
the same columns, defaults, CHECKs and indexes (the partial claim index, the unique
idempotency index, ...). LIKE does not copy the table's storage parameters
(fillfactor, per-table autovacuum settings), so they are copied from pg_class.reloptions
with ALTER TABLE ... SET. Rows look like what the API inserts: a uuid id, tenant, type,
queue, priority, a small jsonb payload, max_retries, timeout_s, cost, metadata, run_at,
event_seq, quota_window (the id is gen_random_uuid(), where the API sends a UUIDv7 made
in C: the ceiling is not flattered by an ordered key).

Three scripts, each run with -n (no vacuum), -M prepared, a fixed duration, the tables
truncated and a CHECKPOINT taken before every run:
  one_row   INSERT ... VALUES (...): one row per transaction (at 1, 8 and 32 clients);
  rows_1000 INSERT ... SELECT ... FROM generate_series(1, 1000): 1,000 rows per
            transaction; rows/s = transactions/s x 1,000.
  task_and_charge
            not a ceiling but a yardstick for single create (at 8 clients): the least
            a create of API.md must write, in one statement. API.md charges the quota
            "in the same transaction as the insert", so: the tenant's quota row
            UPDATEd (units + cost, only while under its cap), and the task INSERTed only
            if that row said yes. The quota table is `bench_quota (LIKE quota_usage
            INCLUDING ALL)` with one row per client (pgbench's :client_id as the
            stripe), so clients never wait on each other's row, and the cap is never
            reached. Nothing else: no `created` event (a reader could render it from
            the task row), no queue position, no body: each of those makes a create
            dearer, so what this script costs is a floor under any implementation.
"""

import os
import re
import subprocess
import tempfile

import psycopg2

PAYLOAD = '{"bench": true, "note": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}'

COLUMNS = ("id, tenant, type, queue, priority, payload, max_retries, timeout_s, cost, "
           "metadata, run_at, event_seq, quota_window")
VALUES = ("gen_random_uuid(), 'bench', 'noop', 'default', 1::smallint, '%s'::jsonb, 3, 60, 1, "
          "'{}'::jsonb, now(), 1, now()" % PAYLOAD)

QUOTA_WINDOW = "2000-01-01 00:00:00+00"
QUOTA_STRIPES = 64  # above the most clients a script is run with

SCRIPTS = {
    "one_row": "INSERT INTO bench_tasks (%s) VALUES (%s);\n" % (COLUMNS, VALUES),
    "rows_1000": "INSERT INTO bench_tasks (%s) SELECT %s FROM generate_series(1, 1000);\n"
                 % (COLUMNS, VALUES),
    "task_and_charge": (
        "WITH charge AS (\n"
        "  UPDATE bench_quota SET units = units + 1\n"
        "   WHERE tenant = 'bench' AND window_start = '%s' AND stripe = :client_id\n"
        "     AND units + 1 <= cap\n"
        "  RETURNING 1)\n"
        "INSERT INTO bench_tasks (%s) SELECT %s FROM charge;\n"
        % (QUOTA_WINDOW, COLUMNS, VALUES)),
}
ROWS_PER_TX = {"one_row": 1, "rows_1000": 1000, "task_and_charge": 1}


def _connect(db_url):
    conn = psycopg2.connect(db_url, connect_timeout=10)
    conn.autocommit = True
    return conn


def _like(cur, name, source):
    """CREATE TABLE name (LIKE source INCLUDING ALL), then source's storage parameters,
    which LIKE does not copy; returns name's reloptions as set."""
    cur.execute("DROP TABLE IF EXISTS %s" % name)
    cur.execute("CREATE TABLE %s (LIKE %s INCLUDING ALL)" % (name, source))
    cur.execute("SELECT reloptions FROM pg_class WHERE relname = %s", (source,))
    opts = cur.fetchone()[0] or []
    if opts:
        cur.execute("ALTER TABLE %s SET (%s)" % (name, ", ".join(opts)))
    cur.execute("SELECT reloptions FROM pg_class WHERE relname = %s", (name,))
    return cur.fetchone()[0] or []


def _indexes(cur, name):
    cur.execute("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
                "WHERE c.relname = %s", (name,))
    return cur.fetchone()[0]


def create_table(db_url):
    """Creates bench_tasks like tasks (and bench_quota like quota_usage); returns what
    it carried over (for the report)."""
    conn = _connect(db_url)
    try:
        with conn.cursor() as cur:
            bench_opts = _like(cur, "bench_tasks", "tasks")
            n_tasks, n_bench = _indexes(cur, "tasks"), _indexes(cur, "bench_tasks")
            _like(cur, "bench_quota", "quota_usage")
    finally:
        conn.close()
    if n_bench != n_tasks:
        raise RuntimeError("bench_tasks has %d indexes, tasks %d" % (n_bench, n_tasks))
    return {"like": "LIKE tasks INCLUDING ALL", "indexes": n_bench,
            "reloptions": bench_opts, "quota": "bench_quota (LIKE quota_usage INCLUDING ALL)"}


def drop_table(db_url):
    conn = _connect(db_url)
    try:
        with conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS bench_tasks, bench_quota")
    finally:
        conn.close()


def reset(db_url):
    """TRUNCATE the tables, put back the quota rows (units 0) and CHECKPOINT, so every
    run starts alike."""
    conn = _connect(db_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SET lock_timeout = '20s'")
            cur.execute("TRUNCATE bench_tasks, bench_quota")
            cur.execute("INSERT INTO bench_quota (tenant, window_start, stripe, units, cap, lim) "
                        "SELECT 'bench', %s, s, 0, 1000000000000, 1000000000000 "
                        "FROM generate_series(0, %s) AS s", (QUOTA_WINDOW, QUOTA_STRIPES - 1))
            cur.execute("CHECKPOINT")
    finally:
        conn.close()


def pgbench(pg_bin, db_url, script, clients, seconds, workdir):
    """One pgbench run of SCRIPTS[script]; returns its figures (tps without the
    connection time, rows/s, latency average) and the command line."""
    path = os.path.join(workdir, script + ".sql")
    with open(path, "w") as f:
        f.write(SCRIPTS[script])
    threads = max(1, min(clients, os.cpu_count() or 1))
    argv = [os.path.join(pg_bin, "pgbench"), "-n", "-M", "prepared", "-f", path,
            "-c", str(clients), "-j", str(threads), "-T", str(seconds), db_url]
    res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=seconds + 60)
    if res.returncode != 0:
        raise RuntimeError("pgbench failed (%d):\n%s" % (res.returncode, res.stdout[-2000:]))
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", res.stdout)
    lat = re.search(r"latency average = ([0-9.]+) ms", res.stdout)
    txs = re.search(r"number of transactions actually processed: (\d+)", res.stdout)
    if m is None:
        raise RuntimeError("no tps in pgbench output:\n" + res.stdout[-2000:])
    tps = float(m.group(1))
    return {"clients": clients, "threads": threads, "seconds": seconds,
            "transactions": int(txs.group(1)) if txs else None,
            "tps": round(tps, 1), "rows_per_s": round(tps * ROWS_PER_TX[script], 1),
            "latency_avg_ms": float(lat.group(1)) if lat else None,
            "command": " ".join(argv[:-1] + ["<db_url>"])}


def measure(pg_bin, db_url, plan, seconds, rounds, on_run=None, profile=None):
    """Runs every (script, clients) of plan `rounds` times, interleaved (so a slow
    moment of the machine spreads over all of them). Returns
    {"one_row_c8": {"runs": [...], ...}, ...}; on_run(key, run) is called after each.
    profile: None, or a callable returning a started benchlib.CpuProfile, whose figures
    become each run's "cpu"."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="longtask-pgbench-") as workdir:
        for _ in range(rounds):
            for script, clients in plan:
                key = "%s_c%d" % (script, clients)
                reset(db_url)
                prof = profile() if profile else None
                run = pgbench(pg_bin, db_url, script, clients, seconds, workdir)
                if prof is not None:
                    run["cpu"] = prof.stop()
                out.setdefault(key, {"script": SCRIPTS[script].strip(), "runs": []})
                out[key]["runs"].append(run)
                if on_run:
                    on_run(key, run)
    reset(db_url)
    return out
