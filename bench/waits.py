"""
waits.py -- what the database sessions of the stack were doing during a measurement,
sampled from pg_stat_activity every 20 ms: on the CPU (no wait event), waiting for the
WAL flush of a commit (IO:WALSync / LWLock:WALWrite), for a lock (Lock:*), or idle for
their program (Client:ClientRead). When the CPU is not saturated this is the profile
that says what bounds a figure: a commit per task, a lock every create takes, or the
program between its statements.
"""

import threading

import psycopg2

SAMPLE = """
SELECT coalesce(application_name, ''), state,
       coalesce(wait_event_type || ':' || wait_event, 'CPU')
  FROM pg_stat_activity
 WHERE backend_type = 'client backend' AND datname = current_database()
   AND pid <> pg_backend_pid()
"""


class WaitSampler(threading.Thread):
    """Samples until stop(); result() gives, per program (application_name prefix),
    the share of samples of its active sessions in each wait state, and how many of
    its sessions were active on average."""

    def __init__(self, db_url, interval=0.02):
        super().__init__(daemon=True)
        self.db_url = db_url
        self.interval = interval
        self.halt = threading.Event()
        self.samples = 0
        self.counts = {}  # program -> {state: n}
        self.error = None

    def run(self):
        try:
            conn = psycopg2.connect(self.db_url, connect_timeout=10)
            conn.autocommit = True
            with conn.cursor() as cur:
                while not self.halt.is_set():
                    cur.execute(SAMPLE)
                    self.samples += 1
                    for app, state, wait in cur.fetchall():
                        prog = app.split(":")[0].split(" ")[0] or "other"
                        key = wait if state == "active" else "idle (%s)" % wait
                        if state != "active" and not prog.startswith("longtask"):
                            continue
                        d = self.counts.setdefault(prog, {})
                        d[key] = d.get(key, 0) + 1
                    self.halt.wait(self.interval)
            conn.close()
        except psycopg2.Error as exc:
            self.error = str(exc)

    def stop(self):
        self.halt.set()
        self.join(10)
        return self.result()

    def result(self):
        out = {"samples": self.samples}
        if self.error:
            out["error"] = self.error
        for prog, d in sorted(self.counts.items()):
            total = sum(d.values())
            out[prog] = {
                "sessions_avg": round(total / self.samples, 2) if self.samples else None,
                "share": {k: round(v / total, 3)
                          for k, v in sorted(d.items(), key=lambda kv: -kv[1])
                          if v / total >= 0.01}}
        return out
