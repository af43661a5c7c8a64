"""
test_quota.py -- unit budgets per window, the active-task limit, degrade to a fallback
type, refunds, per-tenant overrides (longtask-admin), GET /quota, POST /quota/check, the
RateLimit headers, and the reaper's purge of old windows.

Concurrency tests fire many creates at once through nginx and then count what the
database holds: no over-admission (never more than the budget) and no lost units (the
usage row equals the cost of the tasks that exist).
"""

import concurrent.futures
import json
import os
import re
import subprocess
import time

import pytest

from ltapi import Api, assert_problem, task_count

TYPES = [
    {"name": "report.full", "handler": "noop", "cost": 5, "fallback": "report.lite"},
    {"name": "report.lite", "handler": "noop", "cost": 1},
    # The harness writes integers only; the fractional case (cost_per_item = 0.2, the
    # stock-screening rule) is covered by tests/unit/test_quota.c and test_cfg.c.
    {"name": "screen", "handler": "noop", "cost_items": "tickers", "cost_base": 1,
     "cost_per_item": 1, "cost_min": 2, "cost_max": 5},
]


@pytest.fixture(scope="module")
def qs(make_module_stack):
    """A stack with 50 units a day, the types above, and no active-task limit: the worker
    drains noop tasks at whatever speed the machine allows, so a limit here would make the
    budget test depend on it (the limit has its own stack, api_only)."""
    return make_module_stack(config={"quota.units_per_window": 50, "quota.max_active": 0,
                                     "types": TYPES})


@pytest.fixture(scope="module")
def api_only(make_module_stack):
    """No worker: created tasks stay pending (active) for as long as the test needs."""
    return make_module_stack(config={"quota.units_per_window": 0, "quota.max_active": 10,
                                     "types": TYPES},
                             programs=("api",), reaper_loop=None)


def quota(api):
    r = api.request("GET", "/api/v1/quota")
    assert r.status_code == 200, r.text
    return r.json()


def used_in_db(stack, tenant):
    rows = stack.sql("SELECT coalesce(sum(units), 0) FROM quota_usage WHERE tenant = %s", tenant)
    return int(rows[0][0])


def create_many(api, n, body, workers=50):
    def one(_):
        return api.request("POST", "/api/v1/tasks", json=body, timeout=60)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(n)))


def admin(stack, *args, env=None):
    e = stack.env()
    e.update(env or {})
    res = subprocess.run([os.path.join(stack.bin_dir, "longtask-admin"), "-c", stack.conf] +
                         list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=e, timeout=60)
    return res.returncode, res.stdout, res.stderr


def test_budget_is_never_over_admitted_under_concurrency(qs):
    api = Api(qs)
    rs = create_many(api, 200, {"type": "noop", "payload": {}})
    codes = [r.status_code for r in rs]
    assert codes.count(202) == 50, sorted(set(codes))
    assert codes.count(429) == 150, [(r.status_code, r.text[:300]) for r in rs if r.status_code not in (202, 429)]
    for r in rs:
        if r.status_code == 429:
            body = assert_problem(r, 429, "quota_exceeded")
            assert body["detail"] == "needs 1 units, 0 left in this window"
            assert 1 <= int(r.headers["Retry-After"]) <= 86400
    assert task_count(qs, api.tenant) == 50
    assert used_in_db(qs, api.tenant) == 50   # no unit lost, none counted twice
    # The API processes charged their own stripes (sql/004_quota_stripes.sql), and the
    # shares handed out never add up to more than the budget.
    stripes, caps = qs.sql("SELECT count(*), sum(cap) FROM quota_usage WHERE tenant = %s",
                           api.tenant)[0]
    assert stripes >= 2 and caps <= 50, (stripes, caps)
    q = quota(api)
    assert q["units_limit"] == 50 and q["units_used"] == 50 and q["units_remaining"] == 0
    assert q["window"] == "day" and q["window_s"] == 86400


def test_active_limit_is_never_over_admitted_under_concurrency(api_only):
    api = Api(api_only)
    rs = create_many(api, 60, {"type": "noop", "payload": {}}, workers=30)
    codes = [r.status_code for r in rs]
    assert codes.count(202) == 10, sorted(set(codes))
    refused = [r for r in rs if r.status_code == 429]
    assert len(refused) == 50, [(r.status_code, r.text[:200]) for r in rs if r.status_code not in (202, 429)]
    for r in refused:
        assert_problem(r, 429, "active_limit_exceeded")
        assert int(r.headers["Retry-After"]) > 0
    assert task_count(api_only, api.tenant) == 10
    q = quota(api)
    assert q["active"] == 10 and q["max_active"] == 10 and q["units_limit"] is None
    # A task leaving the live set makes room for exactly one more.
    first = [r.json()["id"] for r in rs if r.status_code == 202][0]
    assert api.cancel(first).status_code == 200
    codes = [r.status_code for r in create_many(api, 10, {"type": "noop", "payload": {}})]
    assert codes.count(202) == 1 and codes.count(429) == 9


def test_ratelimit_headers_on_create(qs):
    api = Api(qs)
    r = api.create("report.lite", {})
    assert r.status_code == 202, r.text
    assert r.headers["RateLimit-Policy"] == '"units";q=50;w=86400'
    m = re.fullmatch(r'"units";r=(\d+);t=(\d+)', r.headers["RateLimit"])
    assert m, r.headers["RateLimit"]
    assert int(m.group(1)) == 49 and 1 <= int(m.group(2)) <= 86400
    # The window is aligned to the epoch: a day resets at 00:00 UTC.
    assert (int(time.time()) + int(m.group(2))) % 86400 in (0, 1, 86399)


def test_degrade_to_the_fallback_and_its_refusal(qs):
    api = Api(qs)
    admin(qs, "quota", "set", api.tenant, "--units", "6")
    full = api.create_ok("report.full", {"q": 1})
    assert full["type"] == "report.full" and full["cost"] == 5
    assert "degraded_from" not in full["metadata"]
    # 1 unit left: report.full cannot be paid, its fallback can.
    check = api.request("POST", "/api/v1/quota/check", json={"type": "report.full", "payload": {}})
    assert check.json() == {"allowed": True, "type": "report.lite", "cost": 1,
                            "degraded_from": "report.full", "reason": None,
                            "units_remaining": 1}
    refused = api.create("report.full", {}, allow_degrade=False)
    body = assert_problem(refused, 429, "quota_exceeded")
    assert body["detail"] == "needs 5 units, 1 left in this window"
    check = api.request("POST", "/api/v1/quota/check",
                        json={"type": "report.full", "payload": {}, "allow_degrade": False})
    assert check.json()["allowed"] is False and check.json()["reason"] == "quota_exceeded"
    assert quota(api)["units_used"] == 5          # checks charge nothing
    lite = api.create_ok("report.full", {"q": 2}, metadata={"client_ref": "x"})
    assert lite["type"] == "report.lite" and lite["cost"] == 1
    assert lite["metadata"] == {"client_ref": "x", "degraded_from": "report.full"}
    assert_problem(api.create("report.full", {}), 429, "quota_exceeded")
    assert quota(api)["units_used"] == 6
    assert used_in_db(qs, api.tenant) == 6


def test_cost_per_item(qs):
    api = Api(qs)
    # clamp(1 + items, 2, 5)
    for n, cost in ((0, 2), (1, 2), (2, 3), (4, 5), (100, 5)):
        r = api.request("POST", "/api/v1/quota/check",
                        json={"type": "screen", "payload": {"tickers": ["T"] * n}})
        assert r.status_code == 200, r.text
        assert r.json()["cost"] == cost, (n, r.json())
    task = api.create_ok("screen", {"tickers": ["A"] * 3})
    assert task["cost"] == 4
    assert quota(api)["units_used"] == 4
    task = api.create_ok("screen", {"tickers": "not an array"})   # counts as 0 items
    assert task["cost"] == 2


def test_refund_when_cancelled_before_start(api_only):
    api = Api(api_only)
    admin(api_only, "quota", "set", api.tenant, "--units", "3")
    ids = [api.create_ok("noop", {})["id"] for _ in range(3)]
    assert_problem(api.create("noop", {}), 429, "quota_exceeded")
    assert api.cancel(ids[0]).status_code == 200
    assert quota(api)["units_used"] == 2
    assert api.cancel(ids[0]).status_code == 409     # no second refund
    assert quota(api)["units_used"] == 2
    api.create_ok("noop", {})
    assert quota(api)["units_used"] == 3


def test_nothing_refunded_once_it_ran(qs):
    api = Api(qs)
    task = api.create_ok("sleep", {"ms": 20000})
    api.wait_status(task["id"], "running")
    assert quota(api)["units_used"] == 1
    assert api.cancel(task["id"]).status_code == 202
    api.wait_status(task["id"], "cancelled")
    assert quota(api)["units_used"] == 1


def test_retry_is_charged_again(qs):
    api = Api(qs)
    admin(qs, "quota", "set", api.tenant, "--units", "2")
    task = api.create_ok("sleep", {"ms": 1, "fail": "permanent"})
    api.wait_status(task["id"], "failed")
    assert api.retry(task["id"]).status_code == 202
    assert quota(api)["units_used"] == 2
    api.wait_status(task["id"], "failed")
    r = api.retry(task["id"])
    assert_problem(r, 429, "quota_exceeded")
    assert api.task(task["id"])["status"] == "failed"


def test_window_rollover(make_stack):
    s = make_stack(config={"quota.units_per_window": 2, "quota.window_s": 4})
    api = Api(s)
    # Start just after a window boundary so the first creates share one window.
    time.sleep(4 - time.time() % 4 + 0.05)
    api.create_ok("noop", {})
    api.create_ok("noop", {})
    r = api.create("noop", {})
    assert_problem(r, 429, "quota_exceeded")
    wait = int(r.headers["Retry-After"])
    assert 1 <= wait <= 4
    assert r.headers["RateLimit"].startswith('"units";r=0;t=')
    deadline = time.monotonic() + 8
    while api.create("noop", {}).status_code != 202:
        assert time.monotonic() < deadline, "the window never rolled over"
        time.sleep(0.1)
    assert quota(api)["units_used"] == 1


def test_per_tenant_overrides_with_longtask_admin(api_only):
    api = Api(api_only)
    rc, out, err = admin(api_only, "quota", "set", api.tenant, "--units", "4",
                         "--max-active", "2")
    assert rc == 0, err
    shown = json.loads(out)
    assert shown["tenant"] == api.tenant
    assert shown["override"]["units_per_window"] == 4 and shown["override"]["max_active"] == 2
    assert shown["override"]["window_s"] is None
    assert shown["effective"] == {"units_per_window": 4, "max_active": 2, "window_s": 86400}
    api.create_ok("noop", {})
    api.create_ok("noop", {})
    assert_problem(api.create("noop", {}), 429, "active_limit_exceeded")
    other = Api(api_only)                         # other tenants keep the defaults
    for _ in range(3):
        other.create_ok("noop", {})
    # Only the limits named change; "default" clears one.
    rc, out, err = admin(api_only, "quota", "set", api.tenant, "--max-active", "default")
    assert rc == 0, err
    assert json.loads(out)["override"]["units_per_window"] == 4
    assert json.loads(out)["effective"]["max_active"] == 10
    api.create_ok("noop", {})
    rc, out, err = admin(api_only, "quota", "show", api.tenant)
    assert rc == 0 and json.loads(out)["units_used"] == 3 and json.loads(out)["active"] == 3
    rc, out, err = admin(api_only, "quota", "clear", api.tenant)
    assert rc == 0 and json.loads(out) == {"tenant": api.tenant, "cleared": True}
    assert quota(api)["units_limit"] is None and quota(api)["max_active"] == 10


def test_active_limit_counts_tasks_created_while_unlimited(api_only):
    # The active check keeps an upper bound per tenant (sql/003_hot_paths.sql) and only
    # counts when the bound reaches the limit; creates made while the tenant had no
    # limit must still be in that bound when a limit comes back.
    api = Api(api_only)
    for _ in range(2):
        api.create_ok("noop", {})                 # under the default limit of 10
    assert admin(api_only, "quota", "set", api.tenant, "--max-active", "0")[0] == 0
    for _ in range(11):
        api.create_ok("noop", {})                 # unlimited: 13 live now
    assert admin(api_only, "quota", "set", api.tenant, "--max-active", "14")[0] == 0
    api.create_ok("noop", {})
    body = assert_problem(api.create("noop", {}), 429, "active_limit_exceeded")
    assert body["detail"] == "14 of at most 14 tasks are active; wait for one to finish"
    r = api.request("POST", "/api/v1/tasks/batch", json={"tasks": [{"type": "noop",
                                                                     "payload": {}}] * 2})
    assert_problem(r, 429, "active_limit_exceeded")
    victim = api.request("GET", "/api/v1/tasks", params={"limit": 1}).json()["tasks"][0]["id"]
    assert api.cancel(victim).status_code == 200
    api.create_ok("noop", {})                     # the recount sees the room
    assert_problem(api.create("noop", {}), 429, "active_limit_exceeded")
    assert task_count(api_only, api.tenant) == 15
    assert quota(api)["active"] == 14


def test_longtask_admin_exit_codes(api_only):
    assert admin(api_only, "quota", "set", "t1")[0] == 2            # nothing to set
    assert admin(api_only, "quota", "set", "t1", "--units", "-1")[0] == 2
    assert admin(api_only, "quota", "frob", "t1")[0] == 2
    assert admin(api_only)[0] == 2
    rc, out, err = admin(api_only, "quota", "show", "t1",
                         env={"LONGTASK_DATABASE_URL": "postgresql://longtask@127.0.0.1:1/x"})
    assert rc == 1, err


def test_reaper_purges_old_windows(make_stack):
    s = make_stack(reaper_loop=None)
    s.sql("INSERT INTO quota_usage (tenant, window_start, units) VALUES "
          "('old', lt_quota_window_start(86400) - interval '3 days', 7), "
          "('old', lt_quota_window_start(86400) - interval '1 day', 5), "
          "('old', lt_quota_window_start(86400), 3)")
    rc, summary = s.reaper_once()
    assert rc == 0 and summary["ok"] is True
    assert summary["quota_windows_purged"] == 1
    rows = s.sql("SELECT units FROM quota_usage WHERE tenant = 'old' ORDER BY window_start")
    assert [r[0] for r in rows] == [5, 3]


def test_quota_check_validates_like_create(qs):
    api = Api(qs)
    r = api.request("POST", "/api/v1/quota/check", json={"type": "nope", "payload": {}})
    assert_problem(r, 422, "unknown_type")
    r = api.request("POST", "/api/v1/quota/check", json={"type": "sleep", "payload": {}})
    assert_problem(r, 422, "validation_failed")
    r = api.request("POST", "/api/v1/quota/check", json={"type": "noop", "payload": {}})
    assert r.json() == {"allowed": True, "type": "noop", "cost": 1, "degraded_from": None,
                        "reason": None, "units_remaining": 50}
