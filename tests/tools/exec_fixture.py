#!/usr/bin/python3
"""exec_fixture.py -- a test command for longtask's exec handler. The payload (stdin)
picks what it does:

  {"mode": "env"}              result {"env": <its whole environment>, "cwd": ...}
  {"mode": "fail", "code": n, "stderr": "..."}
                               writes stderr, exits n
  {"mode": "hang", "marker": "...", "ignore_term": bool}
                               re-executes itself with the marker in its argv, starts a
                               grandchild (also carrying the marker) that sleeps, reports
                               {"progress": 10, "message": "<pid> <grandchild pid>"} and
                               sleeps; tests then look for the marker in /proc to prove the
                               whole process group was killed.

The marker reaches argv only through this fixture's own choice: the worker never puts
anything from a request on a command line.
"""

import json
import os
import signal
import subprocess
import sys
import time


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def hang(marker, ignore_term):
    if ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen(
        [sys.executable, "-c", "import time, signal\n"
         "signal.signal(signal.SIGTERM, signal.SIG_IGN) if %r else None\n"
         "time.sleep(300)" % bool(ignore_term), "--marker=" + marker],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    emit({"progress": 10, "message": "%d %d" % (os.getpid(), child.pid)})
    time.sleep(300)
    return 0


def main():
    if len(sys.argv) >= 3 and sys.argv[1].startswith("--marker="):
        return hang(sys.argv[1][len("--marker="):], sys.argv[2] == "1")
    payload = json.loads(sys.stdin.read())
    mode = payload.get("mode")
    if mode == "env":
        emit({"progress": 50, "message": "reading the environment"})
        emit({"result": {"env": dict(os.environ), "cwd": os.getcwd()}})
        return 0
    if mode == "fail":
        sys.stderr.write(payload.get("stderr", "") + "\n")
        return int(payload.get("code", 1))
    if mode == "hang":
        marker = payload["marker"]
        os.execv(sys.executable, [sys.executable, os.path.abspath(__file__),
                                  "--marker=" + marker,
                                  "1" if payload.get("ignore_term") else "0"])
    sys.stderr.write("unknown mode %r\n" % (mode,))
    return 2


if __name__ == "__main__":
    sys.exit(main())
