"""Every row of API.md's error table that the service can produce here: each bad request
gets its documented status as an RFC 9457 problem with a stable code, and changes nothing
(the tenant's task rows are counted before and after). 401s are in test_auth.py, 503s in
test_faults.py, 409s of cancel/retry also in test_tasks.py and test_worker.py.
"""

import json
import uuid

import pytest

from ltapi import Api, TERMINAL, assert_problem, tenant_name

TASKS = "/api/v1/tasks"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def api(stack):
    return Api(stack, tenant_name("err"))


def refused(api, status, code=None, method="POST", path=TASKS, **kw):
    """Sends one request, checks the problem, and that the tenant's tasks did not change."""
    before = api.count_rows()
    r = api.request(method, path, **kw)
    body = assert_problem(r, status, code)
    assert api.count_rows() == before, "a refused request created a task"
    return r, body


def error_fields(body):
    return [e.get("field") for e in body.get("errors") or []]


# ---- 400 -------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    b'{"type": "noop", "payload": {}',          # cut short
    b'{"type": "noop", "payload": {},}',        # trailing comma
    b"{'type': 'noop'}",                         # not JSON
    b"",                                         # empty body
    b'{"type": "noop", "payload": {"s": "\xff\xfe"}}',  # not UTF-8
    b'[{"type": "noop", "payload": {}}]',        # not an object
    b'"noop"',
], ids=["truncated", "trailing-comma", "single-quotes", "empty", "bad-utf8", "array", "string"])
def test_malformed_json_is_400(api, raw):
    refused(api, 400, data=raw, headers=JSON)


def test_json_nested_too_deep_is_400(api):
    deep = {"a": 1}
    for _ in range(40):                          # api.max_json_depth is 32
        deep = {"d": deep}
    refused(api, 400, data=json.dumps({"type": "noop", "payload": deep}), headers=JSON)


@pytest.mark.parametrize("body,field", [
    ({"type": 5, "payload": {}}, "type"),
    ({"type": "noop", "payload": "x"}, "payload"),
    ({"type": "noop", "payload": [1]}, "payload"),
    ({"type": "noop", "payload": {}, "priority": 3}, "priority"),
    ({"type": "noop", "payload": {}, "max_retries": "3"}, "max_retries"),
    ({"type": "noop", "payload": {}, "timeout_s": 1.5}, "timeout_s"),
    ({"type": "noop", "payload": {}, "delay_s": "soon"}, "delay_s"),
    ({"type": "noop", "payload": {}, "run_at": 1767225600}, "run_at"),
    ({"type": "noop", "payload": {}, "metadata": "ref"}, "metadata"),
    ({"type": "noop", "payload": {}, "queue": ["default"]}, "queue"),
    ({"type": "noop", "payload": {}, "callback_url": 7}, "callback_url"),
    ({"type": "noop"}, "payload"),
    ({"payload": {}}, "type"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_wrong_field_type_or_missing_field_is_400(api, body, field):
    _, problem = refused(api, 400, json=body)
    assert field in error_fields(problem), problem


def test_unknown_field_is_400_and_named(api):
    _, problem = refused(api, 400, json={"type": "noop", "payload": {}, "colour": "red"})
    assert "colour" in error_fields(problem), problem


def test_all_errors_of_a_body_are_reported_together(api):
    _, problem = refused(api, 400, json={"type": "noop", "payload": {}, "priority": 1,
                                         "delay_s": "x", "extra": True})
    assert {"priority", "delay_s", "extra"} <= set(error_fields(problem)), problem


@pytest.mark.parametrize("params", [
    {"limit": "abc"}, {"limit": "0"}, {"limit": "201"}, {"limit": "-1"}, {"offset": "-1"},
    {"offset": "x"}, {"status": "finished"}, {"status": "pending,nope"},
    {"created_after": "yesterday"}, {"created_before": "2026-13-45T00:00:00Z"},
    {"cursor": "not-a-cursor!"}, {"stauts": "failed"},
], ids=lambda p: "&".join("%s=%s" % kv for kv in p.items()))
def test_bad_list_query_is_400(api, params):
    refused(api, 400, method="GET", params=params)


def test_bad_stats_query_is_400(api):
    refused(api, 400, method="GET", path="/api/v1/stats", params={"bogus": "1"})


# ---- 404 -------------------------------------------------------------------------

@pytest.mark.parametrize("method,suffix", [
    ("GET", ""), ("DELETE", ""), ("POST", "/retry"), ("GET", "/events"),
])
def test_unknown_task_is_404(api, method, suffix):
    unknown = str(uuid.uuid4())
    refused(api, 404, method=method, path="%s/%s%s" % (TASKS, unknown, suffix))


@pytest.mark.parametrize("path", [
    TASKS + "/not-a-uuid", TASKS + "/123", "/api/v1/nothing", "/api/v1/tasks/x/y/z",
    "/api/v2/tasks",
])
def test_unknown_path_is_404(api, path):
    refused(api, 404, method="GET", path=path)


# ---- 405 -------------------------------------------------------------------------

@pytest.mark.parametrize("method,path,allowed", [
    ("PUT", TASKS + "/{id}", {"GET", "DELETE"}),
    ("PATCH", TASKS, {"GET", "POST"}),
    ("DELETE", TASKS, {"GET", "POST"}),
    ("GET", TASKS + "/{id}/retry", {"POST"}),
    ("POST", "/api/v1/stats", {"GET"}),
])
def test_wrong_method_is_405_with_allow(api, method, path, allowed):
    task = api.create_ok("noop", {}, delay_s=60)
    r, _ = refused(api, 405, method=method, path=path.replace("{id}", task["id"]),
                   json={"type": "noop", "payload": {}})
    allow = {m.strip() for m in r.headers.get("Allow", "").split(",") if m.strip()}
    assert allowed <= allow, r.headers.get("Allow")
    assert method not in allow
    # The task itself was not touched.
    assert api.task(task["id"])["status"] == "pending"
    api.cancel(task["id"])


# ---- 409 -------------------------------------------------------------------------

def test_cancel_finished_and_retry_running_are_409(api):
    done = api.create_ok("noop", {})
    api.wait_status(done["id"], TERMINAL, timeout=10)
    refused(api, 409, "task_finished", method="DELETE", path=TASKS + "/" + done["id"])
    running = api.create_ok("sleep", {"ms": 5000})
    api.wait_status(running["id"], "running", timeout=10)
    refused(api, 409, method="POST", path=TASKS + "/%s/retry" % running["id"])
    assert api.task(running["id"])["status"] == "running"
    api.cancel(running["id"])


# ---- 413 -------------------------------------------------------------------------

@pytest.mark.parametrize("size", [1024 * 1024 + 1024, 3 * 1024 * 1024])
def test_body_over_one_mib_is_413(api, size):
    body = json.dumps({"type": "noop", "payload": {"blob": "a" * size}})
    refused(api, 413, "payload_too_large", data=body, headers=JSON)


def test_body_just_under_the_limit_is_accepted(api):
    # The limit is the limit: a body of 1 MiB less a little is served normally.
    body = json.dumps({"type": "noop", "payload": {"blob": "a" * (1024 * 1024 - 200)}})
    assert len(body) < 1024 * 1024
    r = api.request("POST", TASKS, data=body, headers=JSON)
    assert r.status_code == 202, r.text[:300]


# ---- 415 -------------------------------------------------------------------------

@pytest.mark.parametrize("ctype", [None, "text/plain", "application/x-www-form-urlencoded",
                                   "application/jsonx", "multipart/form-data; boundary=x"])
def test_non_json_content_type_is_415(api, ctype):
    headers = {"Content-Type": ctype} if ctype else {}
    refused(api, 415, data=json.dumps({"type": "noop", "payload": {}}).encode(),
            headers=headers)


def test_json_with_charset_is_accepted(api):
    r = api.request("POST", TASKS, data=json.dumps({"type": "noop", "payload": {}}),
                    headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 202, r.text


# ---- 422 -------------------------------------------------------------------------

def test_unknown_type_is_422(api):
    _, problem = refused(api, 422, json={"type": "no.such.type", "payload": {}})
    assert "type" in error_fields(problem), problem


@pytest.mark.parametrize("payload,field", [
    ({"ms": "fast"}, "payload.ms"),
    ({"ms": -5}, "payload.ms"),
    ({}, "payload.ms"),
    ({"ms": 10, "fail": "sometimes"}, "payload.fail"),
    ({"ms": 10, "colour": "red"}, "payload.colour"),
], ids=["ms-string", "ms-negative", "ms-missing", "fail-value", "extra-key"])
def test_invalid_sleep_payload_is_422_naming_the_field(api, payload, field):
    # Every payload fault, a member of the wrong JSON type included, is "payload invalid
    # for its type": 422.
    _, problem = refused(api, 422, json={"type": "sleep", "payload": payload})
    assert field in error_fields(problem), problem
    assert all(isinstance(e.get("message"), str) and e["message"] for e in problem["errors"])


@pytest.mark.parametrize("fields,name", [
    ({"priority": "extreme"}, "priority"),
    ({"max_retries": -1}, "max_retries"),
    ({"timeout_s": 0}, "timeout_s"),
    ({"delay_s": -1}, "delay_s"),
    ({"run_at": "next tuesday"}, "run_at"),
    ({"delay_s": 1, "run_at": "2030-01-01T00:00:00.000Z"}, "run_at"),
    ({"queue": "no spaces allowed"}, "queue"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_out_of_range_values_are_refused_naming_the_field(api, fields, name):
    body = {"type": "noop", "payload": {}}
    body.update(fields)
    before = api.count_rows()
    r = api.request("POST", TASKS, json=body)
    # The right type with a value out of its range: 422 (a wrong JSON type is 400).
    problem = assert_problem(r, 422)
    assert name in error_fields(problem), problem
    assert api.count_rows() == before
