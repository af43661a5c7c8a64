"""Who may do what: bearer tokens (every way a token can be wrong answers 401 with
WWW-Authenticate and changes nothing) and tenants (another tenant's task does not exist
for you: 404, never 403; lists and stats hold your own tasks only; an admin scope may
read across tenants with ?tenant=).
"""

import base64
import json
import time

import pytest
import requests

from ltapi import Api, TERMINAL, assert_problem, make_jwt, task_count, tenant_name

TASKS = "/api/v1/tasks"


def bad_tokens(stack, tenant):
    """name -> the Authorization header value (None: no header at all)."""
    now = int(time.time())
    good = {"sub": tenant, "iat": now, "exp": now + 3600}
    secret = stack.jwt_secret
    return {
        "missing": None,
        "empty-bearer": "Bearer ",
        "basic-scheme": "Basic dXNlcjpwYXNz",
        "garbage": "Bearer not.a.token",
        "bad-signature": "Bearer " + make_jwt(good, secret + "x"),
        "expired": "Bearer " + stack.token(tenant, exp_in=-3600),
        "alg-none": "Bearer " + make_jwt(good, secret, alg="none"),
        "alg-hs512": "Bearer " + make_jwt(good, secret, alg="HS512"),
        "alg-rs256-header": "Bearer " + make_jwt(good, secret, header={"alg": "RS256"}),
        "no-sub": "Bearer " + stack.token(tenant, sub=None),
        "empty-sub": "Bearer " + stack.token(tenant, sub=""),
        "sub-too-long": "Bearer " + stack.token("x" * 129),
        "no-exp": "Bearer " + stack.token(tenant, exp=None),
        "not-yet-valid": "Bearer " + stack.token(tenant, nbf=now + 3600),
        "tampered-sub": "Bearer " + _swap_payload(stack.token(tenant),
                                                 dict(good, sub=tenant + "-other")),
    }


def _swap_payload(token, claims):
    head, _, sig = token.split(".")
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return "%s.%s.%s" % (head, body, sig)


CASES = ["missing", "empty-bearer", "basic-scheme", "garbage", "bad-signature", "expired",
         "alg-none", "alg-hs512", "alg-rs256-header", "no-sub", "empty-sub", "sub-too-long",
         "no-exp", "not-yet-valid", "tampered-sub"]


@pytest.mark.parametrize("case", CASES)
def test_bad_or_missing_token_is_401(stack, case):
    tenant = tenant_name("auth")
    value = bad_tokens(stack, tenant)[case]
    headers = {} if value is None else {"Authorization": value}
    before = task_count(stack, tenant)
    for method, path, kw in (("GET", TASKS, {}),
                             ("POST", TASKS, {"json": {"type": "noop", "payload": {}}}),
                             ("GET", "/api/v1/stats", {})):
        r = requests.request(method, stack.url + path, headers=headers, timeout=15, **kw)
        assert_problem(r, 401)
        challenge = r.headers.get("WWW-Authenticate", "")
        assert challenge.startswith("Bearer"), (case, r.headers)
        # No bearer token at all (RFC 6750 3.1): the challenge carries no error code.
        if case not in ("missing", "basic-scheme", "empty-bearer"):
            assert 'error="invalid_token"' in challenge, (case, challenge)
    assert task_count(stack, tenant) == before == 0


def test_good_tokens_at_the_edges_are_accepted(stack):
    now = int(time.time())
    for token in (stack.token("y" * 128),                          # longest sub
                  stack.token(tenant_name("nbf"), nbf=now - 5),     # nbf in the past
                  stack.token(tenant_name("leeway"), exp_in=-5)):   # within the 30 s leeway
        r = requests.get(stack.url + TASKS, headers={"Authorization": "Bearer " + token},
                         timeout=15)
        assert r.status_code == 200, r.text


def test_health_endpoints_need_no_token(stack):
    assert requests.get(stack.url + "/healthz", timeout=10).status_code == 200
    assert requests.get(stack.url + "/readyz", timeout=10).status_code == 200


def test_tenants_cannot_see_or_touch_each_others_tasks(stack):
    a = Api(stack, tenant_name("iso-a"))
    b = Api(stack, tenant_name("iso-b"))
    waiting = a.create_ok("noop", {}, delay_s=60)["id"]
    failed = a.create_ok("sleep", {"ms": 1, "fail": "permanent"})["id"]
    a.wait_status(failed, TERMINAL, timeout=10)
    version = stack.sql("SELECT version FROM tasks WHERE id = %s", waiting)[0][0]

    for tid in (waiting, failed):
        for method, suffix in (("GET", ""), ("DELETE", ""), ("POST", "/retry"),
                               ("GET", "/events")):
            r = b.request(method, "%s/%s%s" % (TASKS, tid, suffix))
            assert_problem(r, 404)
        # Conditional GET must not leak existence either.
        tag = a.get(tid).headers.get("ETag")
        assert_problem(b.get(tid, headers={"If-None-Match": tag}), 404)
    # B's attempts changed nothing of A's.
    assert stack.sql("SELECT status::text, version FROM tasks WHERE id = %s", waiting)[0] == \
        ("pending", version)
    assert a.task(failed)["status"] == "failed"

    assert b.list().json()["tasks"] == []
    assert all(v == 0 for v in b.stats()["stats"].values())
    mine = b.create_ok("noop", {})["id"]
    b.wait_status(mine, TERMINAL, timeout=10)
    assert [t["id"] for t in b.list().json()["tasks"]] == [mine]
    assert b.stats()["stats"]["completed"] == 1
    assert sum(b.stats()["stats"].values()) == 1
    assert sorted(t["id"] for t in a.list().json()["tasks"]) == sorted([waiting, failed])
    stats_a = a.stats()["stats"]
    assert (stats_a["pending"], stats_a["failed"], sum(stats_a.values())) == (1, 1, 2)

    # ?tenant= is for admins: an ordinary token gets its own tasks or an error, never A's.
    r = b.list(tenant=a.tenant)
    if r.status_code == 200:
        assert [t["id"] for t in r.json()["tasks"]] == [mine]
    else:
        assert_problem(r, r.status_code)
        assert r.status_code in (400, 403, 404)
    r = b.request("GET", "/api/v1/stats", params={"tenant": a.tenant})
    if r.status_code == 200:
        assert sum(r.json()["stats"].values()) == 1
    else:
        assert r.status_code in (400, 403, 404)
    a.cancel(waiting)


def test_admin_scope_reads_across_tenants(stack):
    a = Api(stack, tenant_name("adm-a"))
    ids = [a.create_ok("noop", {}, delay_s=60)["id"] for _ in range(3)]
    admin = Api(stack, tenant_name("ops"), scope="admin")
    listed = admin.list(tenant=a.tenant)
    assert listed.status_code == 200, listed.text
    assert sorted(t["id"] for t in listed.json()["tasks"]) == sorted(ids)
    stats = admin.stats(tenant=a.tenant)["stats"]
    assert stats["pending"] == 3 and sum(stats.values()) == 3, stats
    # Without ?tenant= an admin's stats cover everyone: at least A's three.
    assert admin.stats()["stats"]["pending"] >= 3
    # An array-valued scope counts too, and other scopes grant nothing.
    arr = Api(stack, tenant_name("ops2"), scope=["read", "admin"])
    assert sorted(t["id"] for t in arr.list(tenant=a.tenant).json()["tasks"]) == sorted(ids)
    plain = Api(stack, tenant_name("ops3"), scope="read write")
    r = plain.list(tenant=a.tenant)
    assert r.status_code != 200 or r.json()["tasks"] == []
    for tid in ids:
        a.cancel(tid)
