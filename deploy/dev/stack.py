#!/usr/bin/python3
"""
stack.py -- the whole longtask service on one machine, privately: a PostgreSQL
cluster, nginx, longtask-api, longtask-worker and longtask-reaper, every file under
one var directory, every process in its own process group so that stopping the
stack leaves nothing behind.

Two users share this class:
  * `make run` (deploy/dev/run.sh -> `stack.py run`): a development service in the
    foreground that prints a URL, a token and a curl example, and stops everything
    on Ctrl-C or SIGTERM;
  * the integration tests (tests/integration/conftest.py), which start stacks with
    test settings and poke at them (signals, restarts, SQL, reaper runs).

Standard library + psycopg2 + requests only; run by /usr/bin/python3.

PostgreSQL refuses to run as root. As root, initdb/pg_ctl run as an unprivileged user
(`postgres` when it exists, else a system user `longtask` created with useradd) via
runuser, and nginx's workers run as that user too; that user must be able to reach
the var directory, so a tree under /root is refused with a hint to use
LONGTASK_VAR=/var/tmp/longtask.
"""

import base64
import hashlib
import hmac
import json
import os
import pwd
import secrets
import shutil
import signal as _signal
import socket
import subprocess
import sys
import time

import psycopg2
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PG_BIN = os.environ.get("LONGTASK_PG_BIN", "/usr/lib/postgresql/15/bin")
NGINX = os.environ.get("LONGTASK_NGINX", shutil.which("nginx") or "/usr/sbin/nginx")
PROGRAMS = ("api", "worker", "reaper", "nginx")
# Stop order: nothing that produces work outlives what serves it.
STOP_ORDER = ("reaper", "worker", "api", "nginx")


class StackError(RuntimeError):
    """The stack could not be started or a program misbehaved."""


def free_port():
    """A TCP port nobody listens on right now (bind port 0, read it back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_token(secret, claims, alg="HS256"):
    """An HS256 JWT over claims (a dict). alg other than HS256 is written into the
    header unsigned-as-HS256, for tests of refused algorithms."""
    header = {"alg": alg, "typ": "JWT"}
    signing = _b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + \
        _b64url(json.dumps(claims, separators=(",", ":")).encode())
    if alg == "none":
        return signing + "."
    sig = hmac.new(secret.encode(), signing.encode(), hashlib.sha256).digest()
    return signing + "." + _b64url(sig)


def _cfg_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # libconfig strings use the same escapes
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_cfg_value(x) for x in v) + "]"
    raise TypeError("cannot write %r to a libconfig file" % (v,))


def render_config(settings):
    """libconfig text from a flat dict of dotted names ("worker.lease_s": 3) plus
    "types": a list of dicts (one group per type)."""
    groups = {}
    for key, value in settings.items():
        if key == "types":
            continue
        section, _, name = key.partition(".")
        if not name:
            raise ValueError("setting %r needs a section (section.name)" % key)
        groups.setdefault(section, {})[name] = value
    out = ["# written by deploy/dev/stack.py; rewritten on every start\n"]
    for section in sorted(groups):
        out.append("%s: {\n" % section)
        for name in sorted(groups[section]):
            out.append("    %s = %s;\n" % (name, _cfg_value(groups[section][name])))
        out.append("};\n")
    types = settings.get("types") or []
    if types:
        out.append("types = (\n")
        entries = []
        for t in types:
            body = " ".join("%s = %s;" % (k, _cfg_value(v)) for k, v in t.items())
            entries.append("    { %s }" % body)
        out.append(",\n".join(entries) + "\n);\n")
    return "".join(out)


class Stack:
    """A private longtask stack under var.

    config: dotted setting overrides for VAR/longtask.conf ("worker.lease_s": 3, and
    "types": [ {name=..., ...} ] which replaces the default type list).
    reaper_loop: seconds between reaper runs of the `--loop` process; None starts no
    reaper loop (the tests then call reaper_once()).
    programs: which of api/worker/reaper to start (nginx always starts).
    fsync: False for tests (initdb --no-sync, fsync=off), True for make run.
    valgrind: run the three programs under valgrind (default: LONGTASK_VALGRIND=1).
    """

    def __init__(self, var, port=None, config=None, reaper_loop=1,
                 programs=("api", "worker", "reaper"), fsync=False, valgrind=None,
                 bin_dir=None, database_url=None, ready_timeout=None, quiet=True):
        self.var = os.path.abspath(var)
        self.port = port or free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.overrides = dict(config or {})
        self.reaper_loop = reaper_loop
        self.programs = tuple(programs)
        self.fsync = fsync
        if valgrind is None:
            valgrind = os.environ.get("LONGTASK_VALGRIND") == "1"
        self.valgrind = valgrind
        self.bin_dir = bin_dir or os.environ.get("LONGTASK_BIN") or \
            os.path.join(ROOT, "build", "release", "bin")
        self.external_db = database_url or os.environ.get("LONGTASK_DATABASE_URL") or None
        self.ready_timeout = ready_timeout or (180 if valgrind else 30)
        self.quiet = quiet
        self.conf = os.path.join(self.var, "longtask.conf")
        self.socket = os.path.join(self.var, "run", "api.sock")
        self.logdir = os.path.join(self.var, "log")
        self.pgdata = os.path.join(self.var, "pg", "data")
        self.pgsock = os.path.join(self.var, "pg", "sock")
        self.pgport = None
        self.db_url = self.external_db
        self.procs = {}          # name -> Popen (the master of that program)
        self.pg_running = False
        self.started = False
        self.run_user = None     # the unprivileged user for postgres/nginx when root
        self.jwt_secret = None

    # ---- starting -------------------------------------------------------------------

    def start(self):
        """Starts everything and waits until /readyz answers 200 through nginx.
        On any failure stops what it started and raises StackError."""
        try:
            self._prepare_dirs()
            self.jwt_secret = self._secret()
            if self.external_db is None:
                self._start_cluster()
            self.write_config()
            self.migrate()
            self._write_nginx_conf()
            self.start_program("nginx")
            for name in ("api", "worker", "reaper"):
                if name in self.programs and not (name == "reaper" and
                                                  self.reaper_loop is None):
                    self.start_program(name)
            self.started = True
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _say(self, msg):
        if not self.quiet:
            print("longtask: " + msg, file=sys.stderr, flush=True)

    def _prepare_dirs(self):
        os.makedirs(self.var, exist_ok=True)
        # The unprivileged user (postgres, nginx workers) must traverse var and read
        # the socket directory; nothing secret lives in a world-readable file.
        os.chmod(self.var, 0o755)
        for d in ("run", "log", "nginx", "nginx/logs", "nginx/tmp", "pg"):
            os.makedirs(os.path.join(self.var, d), exist_ok=True)
        os.chmod(os.path.join(self.var, "run"), 0o755)
        if os.geteuid() == 0:
            self.run_user = self._unprivileged_user()
            if subprocess.run(["runuser", "-u", self.run_user, "--", "test", "-x",
                               os.path.join(self.var, "run")],
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode != 0:
                raise StackError(
                    "user %r (which runs PostgreSQL and nginx's workers, since we are root) "
                    "cannot reach %s; put the var directory where it can, e.g. "
                    "LONGTASK_VAR=/var/tmp/longtask" % (self.run_user, self.var))

    @staticmethod
    def _unprivileged_user():
        for name in ("postgres", "longtask"):
            try:
                pwd.getpwnam(name)
                return name
            except KeyError:
                pass
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                        "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                        "longtask"], check=True)
        return "longtask"

    def _secret(self):
        path = os.path.join(self.var, "jwt_secret")
        if not os.path.exists(path):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48) + "\n")
        os.chmod(path, 0o600)
        with open(path) as f:
            return f.read().strip()

    # ---- PostgreSQL -----------------------------------------------------------------

    def _as_pg(self, argv):
        if self.run_user is not None:
            return ["runuser", "-u", self.run_user, "--"] + argv
        return argv

    def _pg_ctl(self, *args, check=True):
        argv = self._as_pg([os.path.join(PG_BIN, "pg_ctl"), "-D", self.pgdata] + list(args))
        res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, stdin=subprocess.DEVNULL)
        if check and res.returncode != 0:
            raise StackError("pg_ctl %s failed (%d): %s\n%s" % (
                " ".join(args), res.returncode, res.stdout.strip(),
                self.log("postgres")[-3000:]))
        return res

    def _start_cluster(self):
        pgroot = os.path.join(self.var, "pg")
        if self.run_user is not None:
            shutil.chown(pgroot, self.run_user, self.run_user)
        os.makedirs(self.pgsock, exist_ok=True)
        if self.run_user is not None:
            shutil.chown(self.pgsock, self.run_user, self.run_user)
        if not os.path.exists(os.path.join(self.pgdata, "PG_VERSION")):
            self._say("creating a PostgreSQL cluster in %s" % self.pgdata)
            argv = [os.path.join(PG_BIN, "initdb"), "-D", self.pgdata, "-U", "longtask",
                    "-A", "trust", "-E", "UTF8", "--no-locale"]
            if not self.fsync:
                argv.append("--no-sync")
            res = subprocess.run(self._as_pg(argv), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True,
                                 stdin=subprocess.DEVNULL)
            if res.returncode != 0:
                raise StackError("initdb failed:\n" + res.stdout)
        elif self._pg_ctl("status", check=False).returncode == 0:
            # A cluster left running by a stack that was killed: take it over.
            self._say("stopping a PostgreSQL left running in %s" % self.pgdata)
            self._pg_ctl("stop", "-m", "fast", "-w", check=False)
        self.pgport = self.pgport or int(os.environ.get("LONGTASK_PG_PORT") or free_port())
        self.db_url = "postgresql://longtask@127.0.0.1:%d/longtask" % self.pgport
        self.start_postgres()
        self._create_database()

    def start_postgres(self):
        """Starts the private cluster (after stop_postgres) and waits until it answers."""
        if self.external_db is not None:
            raise StackError("LONGTASK_DATABASE_URL is set: no private cluster to start")
        opts = "-p %d -h 127.0.0.1 -k %s -c max_connections=200" % (self.pgport, self.pgsock)
        if not self.fsync:
            opts += " -F -c synchronous_commit=off -c full_page_writes=off"
        self._pg_ctl("-l", os.path.join(self.var, "pg", "postgres.log"), "-o", opts,
                     "-w", "-t", "60", "start")
        self.pg_running = True

    def stop_postgres(self):
        """Stops the private cluster (fast: sessions are cut, as in an outage)."""
        if self.external_db is not None:
            raise StackError("LONGTASK_DATABASE_URL is set: no private cluster to stop")
        if self.pg_running:
            self._pg_ctl("stop", "-m", "fast", "-w", "-t", "60", check=False)
            self.pg_running = False

    def _create_database(self):
        admin = "postgresql://longtask@127.0.0.1:%d/postgres" % self.pgport
        conn = psycopg2.connect(admin, connect_timeout=10)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = 'longtask'")
                if cur.fetchone() is None:
                    cur.execute("CREATE DATABASE longtask")
        finally:
            conn.close()

    def sql(self, query, *params):
        """Runs one statement (autocommit) and returns its rows as a list of tuples
        ([] for statements without rows)."""
        conn = psycopg2.connect(self.db_url, connect_timeout=10)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(query, params if params else None)
                return cur.fetchall() if cur.description is not None else []
        finally:
            conn.close()

    # ---- configuration --------------------------------------------------------------

    def settings(self):
        """The settings written to VAR/longtask.conf: defaults, then the overrides."""
        s = {
            "database.url": self.db_url,
            "api.socket": self.socket,
            "api.socket_mode": "0666",  # nginx's workers run as another user (dev only)
            "api.processes": 3,
            "worker.processes": 2,
            "log.level": "info",
        }
        s.update(self.overrides)
        return s

    def write_config(self):
        text = render_config(self.settings())
        tmp = self.conf + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.conf)

    def _write_nginx_conf(self):
        with open(os.path.join(ROOT, "nginx", "dev.conf.in")) as f:
            text = f.read()
        prefix = os.path.join(self.var, "nginx")
        user = "user %s;" % self.run_user if self.run_user is not None else ""
        for key, value in (("@PREFIX@", prefix), ("@PORT@", str(self.port)),
                           ("@SOCKET@", self.socket),
                           ("@WEBROOT@", os.path.join(ROOT, "web")), ("@USER@", user)):
            text = text.replace(key, value)
        with open(os.path.join(prefix, "nginx.conf"), "w") as f:
            f.write(text)

    # ---- programs -------------------------------------------------------------------

    def env(self):
        """The environment the programs run with."""
        e = dict(os.environ)
        e["LONGTASK_JWT_SECRET"] = self.jwt_secret
        e["LONGTASK_DATABASE_URL"] = self.db_url
        e["LONGTASK_CONFIG"] = self.conf
        e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        return e

    def binary(self, name):
        path = os.path.join(self.bin_dir, "longtask-" + name)
        if not os.access(path, os.X_OK):
            raise StackError("%s is missing; build it first (make)" % path)
        return path

    def _valgrind(self, name):
        if not self.valgrind:
            return []
        return ["valgrind", "--quiet", "--leak-check=full", "--show-leak-kinds=definite",
                "--errors-for-leak-kinds=definite",
                "--error-exitcode=97", "--track-fds=no",
                "--log-file=%s/valgrind-%s.%%p.log" % (self.logdir, name)]

    def command(self, name):
        if name == "nginx":
            prefix = os.path.join(self.var, "nginx")
            return [NGINX, "-e", "stderr", "-p", prefix, "-c",
                    os.path.join(prefix, "nginx.conf"), "-g", "daemon off;"]
        argv = self._valgrind(name) + [self.binary(name), "-c", self.conf]
        if name == "reaper":
            argv += ["--loop", str(self.reaper_loop)]
        return argv

    def start_program(self, name):
        """Starts one program in its own process group, stderr to VAR/log/<name>.log."""
        if name in self.procs and self.procs[name].poll() is None:
            raise StackError("%s is already running" % name)
        if name == "api" and os.path.exists(self.socket):
            os.unlink(self.socket)  # a socket left by a killed API would refuse the bind
        log = open(os.path.join(self.logdir, name + ".log"), "ab")
        try:
            self.procs[name] = subprocess.Popen(
                self.command(name), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env=self.env(), cwd=self.var, start_new_session=True,
                preexec_fn=_die_with_parent)
        finally:
            log.close()
        return self.procs[name].pid

    def stop_program(self, name, timeout=None):
        """SIGTERM to the program's process group, wait with a deadline, then SIGKILL.
        Returns the master's exit status (None if it was not running)."""
        proc = self.procs.get(name)
        if proc is None:
            return None
        if timeout is None:
            timeout = self._stop_timeout(name)
        pgid = proc.pid
        self._killpg(pgid, _signal.SIGTERM)
        rc = None
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._killpg(pgid, _signal.SIGKILL)
            rc = proc.wait(10)
        # Children of the master (worker children, exec'd handlers) go with the group.
        deadline = time.monotonic() + 5
        while self._group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if self._group_alive(pgid):
            self._killpg(pgid, _signal.SIGKILL)
            deadline = time.monotonic() + 5
            while self._group_alive(pgid) and time.monotonic() < deadline:
                time.sleep(0.05)
        del self.procs[name]
        return rc

    def _stop_timeout(self, name):
        t = 10
        if name == "worker":
            t = int(self.settings().get("worker.drain_s", 30)) + 10
        return t * (4 if self.valgrind else 1)

    @staticmethod
    def _killpg(pgid, sig):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    @staticmethod
    def _group_alive(pgid):
        # killpg(0) also "succeeds" for zombies; look for a live member in /proc.
        for pid in _proc_pids():
            st = _proc_stat(pid)
            if st is not None and st["pgrp"] == pgid and st["state"] != "Z":
                return True
        return False

    def restart(self, name):
        """Stops and starts one program; for api and nginx waits until ready again."""
        self.stop_program(name)
        self.start_program(name)
        if name in ("api", "nginx"):
            self.wait_ready()

    def pids(self, name):
        """The master pid of a running program (api/worker/reaper/nginx), else None."""
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return None
        return proc.pid

    def children(self, name):
        """Live pids whose parent is the program's master (from /proc)."""
        master = self.pids(name)
        if master is None:
            return []
        out = []
        for pid in _proc_pids():
            st = _proc_stat(pid)
            if st is not None and st["ppid"] == master and st["state"] != "Z":
                out.append(pid)
        return sorted(out)

    def worker_children(self):
        """Pids of the worker master's children."""
        return self.children("worker")

    def signal(self, name, sig):
        """Sends sig to the program's master."""
        pid = self.pids(name)
        if pid is None:
            raise StackError("%s is not running" % name)
        os.kill(pid, sig)

    def dead_programs(self):
        """Names of started programs whose master has exited, with the exit status."""
        return {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}

    def migrate(self, *extra):
        """Runs longtask-reaper --migrate; raises on failure; returns its stderr."""
        res = subprocess.run(self._valgrind("migrate") +
                             [self.binary("reaper"), "-c", self.conf, "--migrate"] +
                             list(extra), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=self.env(), timeout=120)
        with open(os.path.join(self.logdir, "migrate.log"), "a") as f:
            f.write(res.stderr)
        if res.returncode != 0:
            raise StackError("longtask-reaper --migrate failed (%d):\n%s" %
                             (res.returncode, res.stderr))
        return res.stderr

    def reaper(self, *args, timeout=120, env=None):
        """Runs longtask-reaper -c CONF ARGS...; returns (exit code, stderr text)."""
        e = self.env()
        e.update(env or {})
        res = subprocess.run(self._valgrind("reaper-once") +
                             [self.binary("reaper"), "-c", self.conf] + list(args),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=e, timeout=timeout)
        with open(os.path.join(self.logdir, "reaper-once.log"), "a") as f:
            f.write(res.stderr)
        return res.returncode, res.stderr

    def reaper_once(self, timeout=120, retry_skipped=True):
        """Runs `longtask-reaper --once`; returns (exit code, the reaper_run summary as
        a dict, or {} when none was logged). A run skipped on the advisory lock gives
        the reaper_skipped line plus "skipped": True; with retry_skipped (the default)
        a run that collided with the --loop reaper is retried until it gets the lock."""
        deadline = time.monotonic() + timeout
        while True:
            rc, err = self.reaper("--once", timeout=timeout)
            summary = {}
            for line in err.splitlines():
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(obj, dict):
                    continue
                if obj.get("event") == "reaper_run":
                    summary = obj
                elif obj.get("event") == "reaper_skipped" and not summary:
                    summary = dict(obj, skipped=True)
            if not (retry_skipped and summary.get("skipped")) or time.monotonic() > deadline:
                return rc, summary
            time.sleep(0.05)

    def log(self, name):
        """The text of a program's log (api, worker, reaper, nginx, migrate,
        reaper-once, postgres, nginx-error, nginx-access)."""
        paths = {
            "postgres": os.path.join(self.var, "pg", "postgres.log"),
            "nginx-error": os.path.join(self.var, "nginx", "logs", "error.log"),
            "nginx-access": os.path.join(self.var, "nginx", "logs", "access.log"),
        }
        path = paths.get(name, os.path.join(self.logdir, name + ".log"))
        try:
            with open(path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def sanitizer_reports(self):
        """Lines from the programs' logs where ASan, UBSan or valgrind reported errors."""
        found = []
        for fname in sorted(os.listdir(self.logdir)):
            with open(os.path.join(self.logdir, fname), errors="replace") as f:
                text = f.read()
            for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                           "runtime error:"):
                if marker in text:
                    found.append("%s: %s" % (fname, marker))
            if fname.startswith("valgrind-") and text.strip():
                found.append("%s: valgrind reported errors" % fname)
        return found

    # ---- waiting --------------------------------------------------------------------

    def wait_for(self, fn, timeout=10, interval=0.05, what="condition"):
        """Calls fn until it returns something truthy and returns that; raises
        AssertionError naming `what` when timeout seconds pass first."""
        if self.valgrind:
            timeout *= 4
        deadline = time.monotonic() + timeout
        last_exc = None
        while True:
            try:
                v = fn()
                if v:
                    return v
                last_exc = None
            except (requests.RequestException, psycopg2.Error) as exc:
                last_exc = exc
            if time.monotonic() >= deadline:
                raise AssertionError("timed out after %ss waiting for %s%s" % (
                    timeout, what, " (last error: %s)" % last_exc if last_exc else ""))
            time.sleep(interval)

    def wait_ready(self, timeout=None):
        """Waits until GET /readyz through nginx answers 200 (or, when no API was
        started, until nginx answers at all); fails early (with the log tail) when a
        program dies meanwhile."""
        deadline = time.monotonic() + (timeout or self.ready_timeout)
        last = "no answer"
        while time.monotonic() < deadline:
            dead = self.dead_programs()
            if dead:
                name, rc = sorted(dead.items())[0]
                raise StackError("%s exited with status %s while starting; its log ends:\n%s"
                                 % (name, rc, self.log(name)[-3000:]))
            try:
                r = requests.get(self.url + "/readyz", timeout=2)
                # Without an API (programs=() in a test) nginx answering is all there is.
                if r.status_code == 200 or "api" not in self.procs:
                    return
                last = "HTTP %d %s" % (r.status_code, r.text[:200])
            except requests.RequestException as exc:
                last = str(exc)
            time.sleep(0.1)
        raise StackError("the stack at %s was not ready in time (last: %s); api log ends:\n%s"
                         % (self.url, last, self.log("api")[-3000:]))

    # ---- tokens ---------------------------------------------------------------------

    def token(self, tenant="t1", exp_in=3600, **claims):
        """A signed HS256 token for tenant (claim sub) expiring in exp_in seconds.
        Extra claims are added; a claim given as None is left out (e.g. sub=None)."""
        now = int(time.time())
        body = {"sub": tenant, "iat": now, "exp": now + exp_in}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return make_token(self.jwt_secret, body)

    # ---- stopping -------------------------------------------------------------------

    def stop(self):
        """Stops every program (SIGTERM per group, deadline, SIGKILL) and PostgreSQL.
        Safe to call twice and after a failed start."""
        for name in STOP_ORDER:
            try:
                self.stop_program(name)
            except Exception as exc:  # keep stopping the rest
                print("longtask: stopping %s: %s" % (name, exc), file=sys.stderr)
        if self.external_db is None and os.path.exists(os.path.join(self.pgdata, "PG_VERSION")):
            self.stop_postgres()
            if self._pg_ctl("status", check=False).returncode == 0:
                self._pg_ctl("stop", "-m", "immediate", "-w", check=False)
        self.started = False


def _die_with_parent():
    """preexec_fn: the program gets SIGTERM if the process that started it dies (a
    harness killed with SIGKILL must not leave a stack running)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(_signal.SIGTERM))  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _proc_pids():
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def _proc_stat(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    rest = data[data.rfind(")") + 2:].split()
    return {"state": rest[0], "ppid": int(rest[1]), "pgrp": int(rest[2])}


# ---- make run -----------------------------------------------------------------------

def run():
    """`make run`: the development service in the foreground."""
    var = os.path.abspath(os.environ.get("LONGTASK_VAR") or os.path.join(os.getcwd(), "var"))
    port = int(os.environ.get("LONGTASK_PORT") or 8080)
    stop_flag = []

    def on_signal(signum, _frame):
        stop_flag.append(signum)

    _signal.signal(_signal.SIGINT, on_signal)
    _signal.signal(_signal.SIGTERM, on_signal)

    stack = Stack(var, port=port, fsync=True, quiet=False,
                  config={"api.processes": 4, "worker.processes": 2})
    try:
        stack.start()
    except StackError as exc:
        print("longtask: %s" % exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130

    token = stack.token("dev", exp_in=30 * 24 * 3600)
    with open(os.path.join(var, "dev.env"), "w") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write("LONGTASK_URL=%s\nLONGTASK_TOKEN=%s\nLONGTASK_DATABASE_URL=%s\n"
                "LONGTASK_JWT_SECRET=%s\n" % (stack.url, token, stack.db_url, stack.jwt_secret))
    print("""
longtask is running at %(url)s
  database:  %(db)s
  logs:      %(var)s/log/
  settings:  %(var)s/dev.env  (source it: . %(var)s/dev.env)

Development token (tenant "dev", valid 30 days):
  %(token)s

Try it:
  id=$(curl -s -H "Authorization: Bearer %(token)s" -H 'Content-Type: application/json' \\
        -d '{"type":"sleep","payload":{"ms":1000}}' %(url)s/api/v1/tasks \\
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  curl -s -H "Authorization: Bearer %(token)s" %(url)s/api/v1/tasks/$id

Ctrl-C stops everything.
""" % {"url": stack.url, "db": stack.db_url, "var": var, "token": token}, flush=True)

    rc = 0
    while not stop_flag:
        dead = stack.dead_programs()
        if dead:
            for name, status in sorted(dead.items()):
                print("longtask: %s exited unexpectedly (status %s); see %s/log/%s.log; "
                      "stopping everything" % (name, status, var, name), file=sys.stderr)
            rc = 1
            break
        time.sleep(0.2)
    print("longtask: stopping", file=sys.stderr, flush=True)
    # A second Ctrl-C must not abandon the stop half-way.
    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
    _signal.signal(_signal.SIGTERM, _signal.SIG_IGN)
    stack.stop()
    print("longtask: stopped", file=sys.stderr, flush=True)
    return rc


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] != "run":
        print("usage: stack.py run", file=sys.stderr)
        sys.exit(2)
    sys.exit(run())
