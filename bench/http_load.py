"""
http_load.py -- HTTP load through nginx with wrk (Debian package `wrk`): a C load
generator with keep-alive connections, so the client costs far less CPU per request
than the service under test. Python threads with requests would spend more CPU per
request than nginx and the API together and cap the figures on a 2-core machine.

Each run writes a small Lua script (method, body, headers, and a done() hook that
prints the summary as one JSON line) and parses that line. A run is invalid when any
request failed (connect/read/write errors, timeouts, or a status outside 2xx/3xx),
and run() raises then: a figure made of error answers would flatter the service.
"""

import json
import os
import shutil
import subprocess
import tempfile

LUA_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"lat_p50_us":%d,"lat_p99_us":%d,"lat_max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def have_wrk():
    return shutil.which("wrk") is not None


def _lua_string(s):
    """A Lua long-bracket string literal holding s verbatim."""
    level = 0
    while ("]" + "=" * level + "]") in s:
        level += 1
    eq = "=" * level
    return "[%s[%s]%s]" % (eq, s, eq)


def run(url, connections, seconds, method="GET", body=None, headers=None, threads=None,
        timeout_s=30, status_errors_ok=False, header_cycle=None):
    """One wrk run (status_errors_ok: answers of 4xx/5xx are expected, e.g. nginx's own
    404 page as the measure of nginx alone; header_cycle: (name, [values]) sets that header
    to the next value on every request, e.g. one token per tenant); returns {"requests",
    "req_per_s", "lat_p50_ms", ...} and the command."""
    if not have_wrk():
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    threads = threads or max(1, min(connections, os.cpu_count() or 1))
    lines = ["wrk.method = %s" % _lua_string(method)]
    if body is not None:
        lines.append("wrk.body = %s" % _lua_string(body))
    for k, v in (headers or {}).items():
        # spaces inside the brackets: "[[[" would open a long string
        lines.append("wrk.headers[ %s ] = %s" % (_lua_string(k), _lua_string(v)))
    if header_cycle:
        name, values = header_cycle
        lines.append("local cycle = {%s}" % ", ".join(_lua_string(v) for v in values))
        lines.append("local n = 0")
        lines.append("request = function()\n  n = n + 1\n"
                     "  wrk.headers[ %s ] = cycle[(n %% #cycle) + 1]\n"
                     "  return wrk.format()\nend" % _lua_string(name))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="longtask-wrk-",
                                     delete=False) as f:
        f.write("\n".join(lines) + "\n" + LUA_DONE)
        script = f.name
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", "%ds" % seconds,
            "--timeout", "%ds" % timeout_s, "-s", script, url]
    try:
        res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=seconds + timeout_s + 30)
    finally:
        os.unlink(script)
    doc = None
    for line in res.stdout.splitlines():
        if line.startswith("WRKJSON "):
            doc = json.loads(line[len("WRKJSON "):])
    if doc is None:
        raise RuntimeError("wrk gave no summary (%d):\n%s" % (res.returncode, res.stdout[-2000:]))
    kinds = ("connect", "read", "write", "timeout") + (() if status_errors_ok else ("status",))
    errors = {k: doc[k] for k in kinds if doc[k]}
    if errors:
        raise RuntimeError("wrk saw failed requests %s on %s %s:\n%s"
                           % (errors, method, url, res.stdout[-1500:]))
    secs = doc["duration_us"] / 1e6
    return {"connections": connections, "threads": threads, "seconds": round(secs, 2),
            "requests": doc["requests"], "req_per_s": round(doc["requests"] / secs, 1),
            "lat_p50_ms": round(doc["lat_p50_us"] / 1000, 2),
            "lat_p99_ms": round(doc["lat_p99_us"] / 1000, 2),
            "lat_max_ms": round(doc["lat_max_us"] / 1000, 2),
            "command": "wrk -t %d -c %d -d %ds --timeout %ds -s <lua: %s%s> %s" % (
                threads, connections, seconds, timeout_s, method,
                " + %d-byte body" % len(body) if body is not None else "", url)}
