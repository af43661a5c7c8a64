"""A small client of the longtask HTTP API for the integration tests.

The tests talk to the service exactly as a user would: through nginx, with a bearer
token per tenant. Each test makes its own tenants (tenant_name) so that no test ever
sees another test's tasks, whatever ran before it on the shared stack. The database is
read directly (stack.sql) only to check what the API cannot show: rows that must not
exist, attempt counters, event kinds.
"""

import base64
import contextlib
import datetime
import hashlib
import hmac
import itertools
import json
import os
import re
import uuid

import psycopg2

from conftest import Client

UUID7_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
CODE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
TERMINAL = ("completed", "failed", "cancelled")

_serial = itertools.count()


def tenant_name(label):
    """A tenant id no other test (nor an earlier run on a reused database) uses."""
    return "%s-%d-%d-%s" % (label, os.getpid(), next(_serial), uuid.uuid4().hex[:8])


def parse_ts(text):
    assert text is not None and TS_RE.match(text), "not an RFC 3339 ms UTC time: %r" % (text,)
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)


def format_ts(dt):
    dt = dt.astimezone(datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def uuid7_unix_ms(task_id):
    """The creation time a UUIDv7 carries in its first 48 bits."""
    return int(task_id.replace("-", "")[:12], 16)


# --- tokens -------------------------------------------------------------------------

def _b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def make_jwt(claims, secret, alg="HS256", header=None):
    """A JWT signed here with the named HMAC (stack.make_token always signs HS256 and
    writes only alg into the header), so tests can make the bad tokens a real issuer
    never would: another HMAC size signed with the right secret, a forged header."""
    head = {"alg": alg, "typ": "JWT"}
    head.update(header or {})
    signing_input = _b64url(json.dumps(head).encode()) + "." + \
        _b64url(json.dumps(claims).encode())
    if alg == "none":
        return signing_input + "."
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    key = secret.encode() if isinstance(secret, str) else secret
    sig = hmac.new(key, signing_input.encode(), digest).digest()
    return signing_input + "." + _b64url(sig)


# --- problem details ------------------------------------------------------------------

def assert_problem(resp, status, code=None):
    """An RFC 9457 problem of the given status (and code, when the contract names one)."""
    assert resp.status_code == status, "expected %d, got %d: %s" % (
        status, resp.status_code, resp.text[:500])
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip() == "application/problem+json", \
        "problem content type expected, got %r: %s" % (ctype, resp.text[:300])
    body = resp.json()
    assert body.get("status") == status, body
    assert isinstance(body.get("title"), str) and body["title"], body
    assert isinstance(body.get("code"), str) and CODE_RE.match(body["code"]), body
    assert body.get("type") == "urn:longtask:error:" + body["code"], body
    if code is not None:
        assert body["code"] == code, body
    return body


# --- the client -----------------------------------------------------------------------

class Api(Client):
    """The harness's Client (one tenant, through nginx) plus checked calls that return
    the parsed body of a successful answer, and a token of the caller's choosing."""

    def __init__(self, stack, tenant=None, **claims):
        super().__init__(stack, tenant or tenant_name("t"))
        if claims:
            self.token = stack.token(self.tenant, **claims)
            self.session.headers["Authorization"] = "Bearer " + self.token

    def create_ok(self, type_, payload, **fields):
        r = self.create(type_, payload, **fields)
        assert r.status_code == 202, r.text
        return r.json()

    def task(self, task_id):
        r = self.get(task_id)
        assert r.status_code == 200, r.text
        return r.json()

    def history(self, task_id):
        r = self.events(task_id)
        assert r.status_code == 200, r.text
        return r.json()["events"]

    def stats(self, **params):
        r = self.request("GET", "/api/v1/stats", params=params)
        assert r.status_code == 200, r.text
        return r.json()

    def count_rows(self):
        return task_count(self.stack, self.tenant)


def task_count(stack, tenant):
    return stack.sql("SELECT count(*) FROM tasks WHERE tenant = %s", tenant)[0][0]


def event_kinds(stack, task_id):
    rows = stack.sql("SELECT kind FROM task_events WHERE task_id = %s ORDER BY seq", task_id)
    return [r[0] for r in rows]


def attempt_of(stack, task_id):
    return stack.sql("SELECT attempt FROM tasks WHERE id = %s", task_id)[0][0]


@contextlib.contextmanager
def listening(stack, *channels):
    """A database session of its own (autocommit) that LISTENs on channels (more may be
    added on it later), closed on the way out."""
    conn = psycopg2.connect(stack.db_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for ch in channels:
                cur.execute('LISTEN "%s"' % ch)
        yield conn
    finally:
        conn.close()
