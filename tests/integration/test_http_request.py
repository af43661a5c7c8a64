"""The built-in `http.request` type against a small HTTP server this module runs on
127.0.0.1 (the stack's http.allow_hosts is ["127.0.0.1"], max_response_bytes 1000):
a GET answered with status, lower-case headers, body and the parsed JSON; a POST with a
JSON body and headers as sent; a redirect returned, not followed; 503 with Retry-After
retried no sooner than asked; 404 failed at once; a body over the cap truncated; a host
off the allow list refused (422 at the API, and failed permanently by the worker when a
task reaches it anyway).
"""

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ltapi import Api, attempt_of, event_kinds, tenant_name

CAP = 1000

CONFIG = {
    "http.allow_hosts": ["127.0.0.1", "*.allowed.test"],
    "http.max_response_bytes": CAP,
    "types": [
        {"name": "http.request", "max_retries": 1, "backoff_base_ms": 100,
         "backoff_max_ms": 200, "timeout_s": 20},
    ],
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits = {}
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def _count(self):
        with self.lock:
            self.hits.setdefault(self.path, []).append(time.monotonic())

    def _send(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _route(self):
        self._count()
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        path = self.path.split("?")[0]
        if path == "/ok":
            self._send(200, b'{"answer": 42, "list": [1, 2]}',
                       [("Content-Type", "application/json; charset=utf-8"),
                        ("X-Test", "yes"), ("X-Test", "again")])
        elif path == "/echo":
            doc = {"method": self.command, "body": body.decode("utf-8", "replace"),
                   "headers": {k.lower(): v for k, v in self.headers.items()}}
            self._send(201, json.dumps(doc).encode(), [("Content-Type", "application/json")])
        elif path == "/text":
            self._send(200, "plain h\u00e9llo".encode(), [("Content-Type", "text/plain")])
        elif path == "/redirect":
            self._send(302, b"", [("Location", "http://127.0.0.1:1/elsewhere")])
        elif path.startswith("/busy"):
            self._send(503, b"busy", [("Retry-After", "1")])
        elif path == "/missing":
            self._send(404, b"no such thing")
        elif path == "/slow":
            time.sleep(4)
            self._send(200, b"late")
        elif path == "/big":
            self._send(200, b"a" * (CAP * 5), [("Content-Type", "text/plain")])
        else:
            self._send(500, b"unknown route")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _route


@pytest.fixture(scope="module")
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield "http://127.0.0.1:%d" % srv.server_address[1]
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def http_stack(make_module_stack):
    return make_module_stack(config=CONFIG)


@pytest.fixture
def api(http_stack):
    return Api(http_stack, tenant_name("http"))


def run(api, payload, timeout=20):
    task = api.create_ok("http.request", payload)
    return api.wait_status(task["id"], ["completed", "failed"], timeout=timeout)


def test_get_returns_status_headers_body_json(api, server):
    final = run(api, {"url": server + "/ok"})
    assert final["status"] == "completed", final
    r = final["result"]
    assert r["status"] == 200
    assert r["headers"]["content-type"] == "application/json; charset=utf-8"
    assert r["headers"]["x-test"] == "yes, again"
    assert all(k == k.lower() for k in r["headers"])
    assert r["body"] == '{"answer": 42, "list": [1, 2]}'
    assert r["json"] == {"answer": 42, "list": [1, 2]}
    assert "truncated" not in r


def test_text_body_has_no_json(api, server):
    final = run(api, {"url": server + "/text", "method": "GET"})
    r = final["result"]
    assert r["body"] == "plain h\u00e9llo" and "json" not in r


def test_post_sends_json_body_and_headers(api, server):
    final = run(api, {"method": "POST", "url": server + "/echo",
                      "headers": {"X-Custom": "v1", "Authorization": "Bearer abc"},
                      "body": {"a": [1, "two"]}})
    assert final["status"] == "completed", final
    r = final["result"]
    assert r["status"] == 201
    echo = r["json"]
    assert echo["method"] == "POST"
    assert json.loads(echo["body"]) == {"a": [1, "two"]}
    assert echo["headers"]["content-type"] == "application/json"
    assert echo["headers"]["x-custom"] == "v1"
    assert echo["headers"]["authorization"] == "Bearer abc"


def test_string_body_sent_as_is(api, server):
    final = run(api, {"method": "PUT", "url": server + "/echo", "body": "k=v&x=1",
                      "headers": {"Content-Type": "application/x-www-form-urlencoded"}})
    echo = final["result"]["json"]
    assert echo["method"] == "PUT" and echo["body"] == "k=v&x=1"
    assert echo["headers"]["content-type"] == "application/x-www-form-urlencoded"


def test_redirect_is_returned_not_followed(api, server):
    final = run(api, {"url": server + "/redirect"})
    assert final["status"] == "completed", final
    assert final["result"]["status"] == 302
    assert final["result"]["headers"]["location"] == "http://127.0.0.1:1/elsewhere"


def test_503_with_retry_after_is_retried_no_sooner(api, server, http_stack):
    path = "/busy-" + uuid.uuid4().hex
    final = run(api, {"url": server + path}, timeout=30)
    assert final["status"] == "failed", final
    assert "503" in final["error"], final
    assert final["metadata"].get("retry_exhausted") is True, final
    hits = Handler.hits[path]
    assert len(hits) == 2
    # The backoff alone would be <= 100 ms; Retry-After: 1 wins.
    assert hits[1] - hits[0] >= 0.9, hits
    kinds = [k for k in event_kinds(http_stack, final["id"]) if k != "progress"]
    assert kinds == ["created", "started", "retry", "started", "failed"]


def test_404_fails_permanently(api, server, http_stack):
    final = run(api, {"url": server + "/missing"})
    assert final["status"] == "failed", final
    assert "404" in final["error"], final
    assert not final["metadata"].get("retry_exhausted"), final
    assert attempt_of(http_stack, final["id"]) == 1


def test_body_over_the_cap_is_truncated(api, server):
    final = run(api, {"url": server + "/big"})
    assert final["status"] == "completed", final
    r = final["result"]
    assert r["truncated"] is True
    assert r["body"] == "a" * CAP


def test_connection_refused_is_retryable(api):
    final = run(api, {"url": "http://127.0.0.1:1/nothing-listens"})
    assert final["status"] == "failed", final
    assert final["metadata"].get("retry_exhausted") is True, final


def test_cancel_aborts_the_transfer_at_once(api, server):
    task = api.create_ok("http.request", {"url": server + "/slow"})
    api.wait_status(task["id"], "running", timeout=10)
    t0 = time.monotonic()
    r = api.cancel(task["id"])
    assert r.status_code in (200, 202), r.text
    final = api.wait_status(task["id"], ["cancelled", "completed", "failed"], timeout=3)
    assert final["status"] == "cancelled", final
    assert time.monotonic() - t0 < 2.5


def test_timeout_is_retryable(api, server, http_stack):
    task = api.create_ok("http.request", {"url": server + "/slow"}, timeout_s=1)
    final = api.wait_status(task["id"], ["completed", "failed"], timeout=15)
    assert final["status"] == "failed", final
    assert "timeout" in final["error"], final
    assert final["metadata"].get("retry_exhausted") is True, final
    assert attempt_of(http_stack, task["id"]) == 2


def test_host_off_the_allow_list_is_refused(api, server, http_stack):
    port = server.rsplit(":", 1)[1]
    for url in ("http://localhost:%s/ok" % port, "http://127.0.0.1@localhost:%s/ok" % port,
                "http://evil.test/?127.0.0.1", "file:///etc/passwd"):
        r = api.create("http.request", {"url": url})
        assert r.status_code == 422, (url, r.status_code, r.text)
    assert api.count_rows() == 0


def test_worker_checks_the_allow_list_again(api, server, http_stack):
    """A task that got past the API (the list changed since, or a direct insert) is failed
    permanently by the worker, without a request."""
    port = server.rsplit(":", 1)[1]
    path = "/ok?direct-" + uuid.uuid4().hex
    tid = str(uuid.uuid4())
    http_stack.sql(
        "INSERT INTO tasks (id, tenant, type, queue, payload, max_retries, timeout_s) "
        "VALUES (%s, %s, 'http.request', 'default', %s::jsonb, 3, 20)",
        tid, api.tenant, json.dumps({"url": "http://localhost:%s%s" % (port, path)}))
    http_stack.sql("SELECT pg_notify('lt_q_default', '')")
    final = api.wait_status(tid, ["completed", "failed"], timeout=20)
    assert final["status"] == "failed", final
    assert final["error"].startswith("host not allowed"), final
    assert not final["metadata"].get("retry_exhausted"), final
    assert attempt_of(http_stack, tid) == 1
    assert not [p for p in Handler.hits if "direct-" in p]  # no request was made
