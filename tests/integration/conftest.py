"""
conftest.py -- the integration-test harness: real PostgreSQL, nginx and the three
longtask programs, started by deploy/dev/stack.py (the same code as `make run`).

Fixtures:
  stack       (session) one stack with the test settings below, reaper --loop 1.
  make_stack  (function) a factory for tests that need their own stack:
                  make_stack(config={...}, reaper_loop=None, programs=(...), ...)
              config merges over TEST_CONFIG (types merge by name); other keyword
              arguments go to Stack(); a keyword with a double underscore is a setting
              (worker__lease_s=5 is "worker.lease_s": 5). Stopped after the test.
  make_module_stack  (module) the same factory; its stacks live for the module.
  client      (function) a Client for the session stack, with a tenant of its own.
  client_for  (function) client_for(stack, tenant=None) -> Client for any stack.

Every stack lives in a fresh directory under $LONGTASK_TEST_TMP (default /tmp), kept
when the session had failures (for the logs), removed otherwise. LONGTASK_VALGRIND=1
runs the programs under valgrind. Sanitizer or valgrind reports in a stack's logs fail
the test session at teardown.
"""

import atexit
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid

import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "deploy", "dev"))

# Tests always get private clusters: a shared database would break the isolation the
# tests rely on (test_reaper empties the tasks table of its own stack).
os.environ.pop("LONGTASK_DATABASE_URL", None)

from stack import Stack, StackError, free_port, make_token  # noqa: E402,F401

TEST_CONFIG = {
    "api.processes": 3,
    "worker.processes": 2,
    "worker.lease_s": 3,
    "worker.heartbeat_s": 1,
    "worker.poll_interval_ms": 200,
    "worker.drain_s": 2,
    "types": [
        {"name": "sleep", "backoff_base_ms": 300, "backoff_max_ms": 2000, "max_retries": 3},
    ],
}

_failures = []
_live = []  # every stack started and not yet stopped, for the atexit backstop


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        _failures.append(item.nodeid)


def pytest_configure(config):
    # `timeout`, CI cancellation and the like send SIGTERM: turn it into the same
    # KeyboardInterrupt as Ctrl-C, so pytest runs the fixtures' teardown and every
    # stack is stopped.
    def interrupt(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)


def _stop_all():
    for s in list(_live):
        try:
            s.stop()
        except Exception:
            pass
        _live.remove(s)


atexit.register(_stop_all)


def merge_config(base, extra):
    """base + extra, with "types" merged by name (an entry in extra updates or adds)."""
    out = dict(base)
    for key, value in (extra or {}).items():
        if key == "types":
            types = [dict(t) for t in out.get("types", [])]
            for t in value:
                for have in types:
                    if have["name"] == t["name"]:
                        have.update(t)
                        break
                else:
                    types.append(dict(t))
            out["types"] = types
        else:
            out[key] = value
    return out


def _new_var(tag):
    base = os.environ.get("LONGTASK_TEST_TMP", "/tmp")
    return tempfile.mkdtemp(prefix="longtask-it-%s-" % tag, dir=base)


def _start(tag, config=None, **options):
    settings = {}
    stack_opts = {}
    for key, value in options.items():
        if "__" in key:
            settings[key.replace("__", ".", 1)] = value
        else:
            stack_opts[key] = value
    cfg = merge_config(merge_config(TEST_CONFIG, config), settings)
    stack_opts.setdefault("reaper_loop", 1)
    s = Stack(_new_var(tag), config=cfg, **stack_opts)
    _live.append(s)
    try:
        s.start()
    except BaseException:
        _live.remove(s)  # start() stopped what it started
        raise
    return s


def _finish(s):
    """Stops s; returns the sanitizer reports of its logs."""
    if s in _live:
        _live.remove(s)
    s.stop()
    return s.sanitizer_reports()


def _cleanup(s, reports, failed):
    if reports or failed:
        print("\nlongtask: kept %s for its logs" % s.var, file=sys.stderr)
    else:
        shutil.rmtree(s.var, ignore_errors=True)


@pytest.fixture(scope="session")
def stack():
    s = _start("session")
    yield s
    reports = _finish(s)
    _cleanup(s, reports, bool(_failures))
    if reports:
        pytest.fail("sanitizer/valgrind reports in %s:\n  %s" % (s.var, "\n  ".join(reports)))


@pytest.fixture
def make_stack(request):
    made = []

    def factory(config=None, **options):
        s = _start("own", config=config, **options)
        made.append(s)
        return s

    yield factory
    all_reports = []
    for s in made:
        reports = _finish(s)
        failed = bool(_failures) and _failures[-1] == request.node.nodeid
        _cleanup(s, reports, failed)
        all_reports += ["%s: %s" % (s.var, r) for r in reports]
    if all_reports:
        pytest.fail("sanitizer/valgrind reports:\n  " + "\n  ".join(all_reports))


@pytest.fixture(scope="module")
def make_module_stack(request):
    """make_stack for a whole test module: the stacks live until the module ends."""
    made = []

    def factory(config=None, **options):
        s = _start("mod", config=config, **options)
        made.append(s)
        return s

    yield factory
    all_reports = []
    for s in made:
        reports = _finish(s)
        failed = any(f.startswith(request.node.nodeid) for f in _failures)
        _cleanup(s, reports, failed)
        all_reports += ["%s: %s" % (s.var, r) for r in reports]
    if all_reports:
        pytest.fail("sanitizer/valgrind reports:\n  " + "\n  ".join(all_reports))


class Client:
    """HTTP helper bound to one stack and one tenant. Methods return requests.Response
    unless said otherwise; nothing raises on HTTP errors."""

    def __init__(self, stack, tenant=None):
        self.stack = stack
        self.session = requests.Session()
        self.tenant = tenant or "t-" + uuid.uuid4().hex[:12]

    @property
    def tenant(self):
        return self._tenant

    @tenant.setter
    def tenant(self, value):
        self._tenant = value
        self.token = self.stack.token(value)
        self.session.headers["Authorization"] = "Bearer " + self.token

    def request(self, method, path, **kw):
        kw.setdefault("timeout", 90)
        return self.session.request(method, self.stack.url + path, **kw)

    def create(self, type, payload, headers=None, **fields):
        body = dict(fields, type=type, payload=payload)
        return self.request("POST", "/api/v1/tasks", json=body, headers=headers)

    def get(self, id, **kw):
        return self.request("GET", "/api/v1/tasks/%s" % id, **kw)

    def list(self, **params):
        return self.request("GET", "/api/v1/tasks", params=params)

    def cancel(self, id):
        return self.request("DELETE", "/api/v1/tasks/%s" % id)

    def retry(self, id):
        return self.request("POST", "/api/v1/tasks/%s/retry" % id)

    def events(self, id):
        return self.request("GET", "/api/v1/tasks/%s/events" % id)

    def wait_status(self, id, statuses, timeout=15):
        """Polls GET until the task's status is in statuses (a string or a list);
        returns the task dict, or fails with the last state seen."""
        if isinstance(statuses, str):
            statuses = [statuses]
        seen = {}

        def check():
            r = self.get(id, timeout=10)
            if r.status_code != 200:
                seen["last"] = "HTTP %d %s" % (r.status_code, r.text[:300])
                return None
            task = r.json()
            seen["last"] = "status %s (error %r)" % (task.get("status"), task.get("error"))
            return task if task.get("status") in statuses else None

        try:
            return self.stack.wait_for(check, timeout=timeout, interval=0.05,
                                       what="task %s to reach %s" % (id, "/".join(statuses)))
        except AssertionError as exc:
            raise AssertionError("%s; last seen: %s" % (exc, seen.get("last"))) from None


@pytest.fixture
def client(stack):
    return Client(stack)


@pytest.fixture
def client_for():
    def factory(s, tenant=None):
        return Client(s, tenant)
    return factory


def wait_for(fn, timeout=10, interval=0.05, what="condition"):
    """The same deadline loop as Stack.wait_for, for code without a stack at hand."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(interval)


# ---- the fake LLM provider ----------------------------------------------------------------
# Every stack runs tests/tools/fake_llm.py as its provider (program `llm`; stack.llm_url,
# stack.llm_stats(), stack.llm_reset()). Tests never reach a real provider, whatever the
# calling shell exports.
os.environ.pop("LONGTASK_LLM_BASE_URL", None)
os.environ.pop("LONGTASK_LLM_API_KEY", None)

FAKE_LLM = os.path.join(ROOT, "tests", "tools", "fake_llm.py")


class FakeLLM:
    """A fake provider process of its own, outside any stack: url is its root
    (http://127.0.0.1:PORT), base_url the OpenAI base URL (url + "/v1")."""

    def __init__(self, *args):
        self.args = list(args)
        self.dir = tempfile.mkdtemp(prefix="longtask-fake-llm-",
                                    dir=os.environ.get("LONGTASK_TEST_TMP", "/tmp"))
        self.ready_file = os.path.join(self.dir, "port")
        self.log_path = os.path.join(self.dir, "fake_llm.log")
        self.proc = None
        self.port = None
        self.url = self.base_url = None

    def start(self, timeout=10):
        import subprocess
        import stack as stack_module
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, FAKE_LLM, "--host", "127.0.0.1", "--port", "0",
                 "--ready-file", self.ready_file] + self.args,
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                preexec_fn=stack_module._die_with_parent)
        _live_fakes.append(self)
        deadline = time.monotonic() + timeout
        while not (os.path.exists(self.ready_file) and open(self.ready_file).read().strip()):
            if self.proc.poll() is not None or time.monotonic() >= deadline:
                self.stop()
                raise RuntimeError("fake_llm did not start (status %s); log:\n%s"
                                   % (self.proc.returncode, self.log()[-3000:]))
            time.sleep(0.02)
        with open(self.ready_file) as f:
            self.port = int(f.read().strip())
        self.url = "http://127.0.0.1:%d" % self.port
        self.base_url = self.url + "/v1"
        return self

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stats(self):
        return requests.get(self.url + "/stats", timeout=10).json()

    def reset(self):
        return requests.post(self.url + "/stats/reset", timeout=10).json()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(10)
            except (ProcessLookupError, PermissionError):
                pass
            except Exception:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self in _live_fakes:
            _live_fakes.remove(self)
        shutil.rmtree(self.dir, ignore_errors=True)


_live_fakes = []


def _stop_fakes():
    for f in list(_live_fakes):
        f.stop()


atexit.register(_stop_fakes)


def start_fake_llm(*args, timeout=10):
    """Starts a fake provider of its own (args: e.g. "--no-auth"); stop() it when done."""
    return FakeLLM(*args).start(timeout=timeout)


@pytest.fixture(scope="module")
def fake_llm():
    """A standalone fake provider (bearer required) for the module."""
    f = start_fake_llm()
    yield f
    f.stop()
