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
# Stop order: nothing that produces work outlives what serves it (the fake LLM provider,
# `llm`, serves the workers: it goes last).
STOP_ORDER = ("reaper", "worker", "api", "nginx", "llm")
FAKE_LLM = os.path.join(ROOT, "tests", "tools", "fake_llm.py")
FAKE_LLM_KEY = "fake-key"


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
    if isinstance(v, float):
        # libconfig floats need a decimal point and no bare exponent: 0.2, 3.0
        text = ("%.12f" % v).rstrip("0")
        return text + "0" if text.endswith(".") else text
    if isinstance(v, str):
        return json.dumps(v)  # libconfig strings use the same escapes
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_cfg_value(x) for x in v) + "]"
    raise TypeError("cannot write %r to a libconfig file" % (v,))


# Top-level settings that are lists of groups rather than scalars in a section.
GROUP_LISTS = ("types", "providers")


def render_config(settings):
    """libconfig text from a flat dict of dotted names ("worker.lease_s": 3) plus the
    lists of groups "types" and "providers" (each a list of dicts, one group each)."""
    groups = {}
    for key, value in settings.items():
        if key in GROUP_LISTS:
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
    for key in GROUP_LISTS:
        entries = settings.get(key) or []
        if not entries:
            continue
        out.append("%s = (\n" % key)
        body = []
        for entry in entries:
            fields = " ".join("%s = %s;" % (k, _cfg_value(v)) for k, v in entry.items())
            body.append("    { %s }" % fields)
        out.append(",\n".join(body) + "\n);\n")
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
    llm_base_url: an OpenAI-compatible provider for the programs (default:
    $LONGTASK_LLM_BASE_URL); without one the stack runs the fake provider
    tests/tools/fake_llm.py as the program `llm` (see the "fake LLM provider" section).
    """

    def __init__(self, var, port=None, config=None, reaper_loop=1,
                 programs=("api", "worker", "reaper"), fsync=False, valgrind=None,
                 bin_dir=None, database_url=None, ready_timeout=None, quiet=True,
                 llm_base_url=None):
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
        self._init_llm(llm_base_url)

    # ---- starting -------------------------------------------------------------------

    def start(self):
        """Starts everything and waits until /readyz answers 200 through nginx.
        On any failure stops what it started and raises StackError."""
        try:
            self._prepare_dirs()
            self.jwt_secret = self._secret()
            self._start_llm()
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
        self._llm_env(e)
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
        if name == "llm":
            return self._llm_command()
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
        if name == "llm":
            self._llm_before_start()
        log = open(os.path.join(self.logdir, name + ".log"), "ab")
        try:
            self.procs[name] = subprocess.Popen(
                self.command(name), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env=self._llm_own_env() if name == "llm" else self.env(),
                cwd=self.var, start_new_session=True,
                preexec_fn=_die_with_parent)
        finally:
            log.close()
        if name == "llm":
            self._llm_wait_ready()
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

    # ---- the fake LLM provider --------------------------------------------------------
    # Unless a real provider is named (llm_base_url= or $LONGTASK_LLM_BASE_URL), the stack
    # runs tests/tools/fake_llm.py as one more program, `llm`: its own process group, log
    # VAR/log/llm.log, stopped last. The programs get LONGTASK_LLM_BASE_URL pointing at it
    # and LONGTASK_LLM_API_KEY=fake-key. Tasks steer its faults with [fake:...] directives
    # in the last user message (see the fake's header comment).

    def _init_llm(self, llm_base_url):
        self.llm_external = llm_base_url or os.environ.get("LONGTASK_LLM_BASE_URL") or None
        self.llm_fake = self.llm_external is None
        self.llm_port = None      # chosen by the fake on its first start, then kept
        self.llm_root = None      # http://127.0.0.1:PORT (the fake's /stats live here)
        self.llm_url = self.llm_external  # the base URL the programs use (ends in /v1)
        self.llm_ready_file = os.path.join(self.var, "run", "llm.port")

    def _start_llm(self):
        if self.llm_fake:
            self.start_program("llm")

    def _llm_command(self):
        if not self.llm_fake:
            raise StackError("LONGTASK_LLM_BASE_URL is set: no fake provider to start")
        # Port 0 on the first start (no race for a free port); a restart keeps the port,
        # so the URL the programs were given stays right.
        return [sys.executable or "/usr/bin/python3", FAKE_LLM, "--host", "127.0.0.1",
                "--port", str(self.llm_port or 0), "--ready-file", self.llm_ready_file]

    def _llm_before_start(self):
        try:
            os.unlink(self.llm_ready_file)
        except FileNotFoundError:
            pass

    def _llm_wait_ready(self, timeout=15):
        """Waits for the fake's ready file (the port it listens on)."""
        proc = self.procs["llm"]
        deadline = time.monotonic() + timeout
        while True:
            try:
                with open(self.llm_ready_file) as f:
                    text = f.read().strip()
                if text:
                    break
            except FileNotFoundError:
                pass
            rc = proc.poll()
            if rc is not None:
                raise StackError("the fake LLM provider exited with status %s while "
                                 "starting; its log ends:\n%s" % (rc, self.log("llm")[-3000:]))
            if time.monotonic() >= deadline:
                raise StackError("the fake LLM provider did not write %s within %ss; its log "
                                 "ends:\n%s" % (self.llm_ready_file, timeout,
                                                 self.log("llm")[-3000:]))
            time.sleep(0.02)
        self.llm_port = int(text)
        self.llm_root = "http://127.0.0.1:%d" % self.llm_port
        self.llm_url = self.llm_root + "/v1"

    def _llm_env(self, e):
        if self.llm_fake:
            if self.llm_url is not None:
                e["LONGTASK_LLM_BASE_URL"] = self.llm_url
            e["LONGTASK_LLM_API_KEY"] = FAKE_LLM_KEY
        else:
            e["LONGTASK_LLM_BASE_URL"] = self.llm_external

    @staticmethod
    def _llm_own_env():
        # The fake gets none of the stack's secrets (JWT secret, database URL).
        return {k: v for k, v in os.environ.items() if not k.startswith("LONGTASK_")}

    def _llm_fake_root(self):
        if not self.llm_fake:
            raise StackError("the stack uses the provider %s, not the fake" % self.llm_external)
        if self.llm_root is None:
            raise StackError("the fake LLM provider has not been started")
        return self.llm_root

    def llm_stats(self):
        """The fake provider's counters: {"requests", "in_flight", "max_in_flight",
        "by_status": {"200": n, ...}, "dropped", "last_request"}."""
        r = requests.get(self._llm_fake_root() + "/stats", timeout=10)
        r.raise_for_status()
        return r.json()

    def llm_reset(self):
        """Zeroes the fake provider's counters (and its fail_first keys)."""
        r = requests.post(self._llm_fake_root() + "/stats/reset", timeout=10)
        r.raise_for_status()
        return r.json()

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

def _print_llm_provider(stack, var):
    """Tells the `make run` user which LLM provider llm.chat tasks reach."""
    if stack.llm_fake:
        print("""LLM provider: the built-in FAKE provider at %(url)s
  (tests/tools/fake_llm.py, a development stand-in: it echoes the last user message and
  never calls a real model; log %(var)s/log/llm.log, counters %(root)s/stats).
  Fault directives in the last user message, e.g. "[fake:delay=2000;status=503]".
  To use a real OpenAI-compatible provider instead, stop and start again with
    LONGTASK_LLM_BASE_URL=https://api.example.com/v1 LONGTASK_LLM_API_KEY=... make run
""" % {"url": stack.llm_url, "root": stack.llm_root, "var": var}, flush=True)
    else:
        print("LLM provider: %s (from LONGTASK_LLM_BASE_URL; key from LONGTASK_LLM_API_KEY%s)\n"
              % (stack.llm_url, "" if os.environ.get("LONGTASK_LLM_API_KEY") else
                 ", which is NOT set"), flush=True)


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
""" % {"url": stack.url, "db": stack.db_url, "var": var, "token": token}, flush=True)
    _print_llm_provider(stack, var)
    print("Ctrl-C stops everything.\n", flush=True)

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
