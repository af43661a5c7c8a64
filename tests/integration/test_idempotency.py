"""
test_idempotency.py -- Idempotency-Key on POST /api/v1/tasks: replay of the same body,
refusal of a different body, the race of two requests with one new key, the 24-hour
lifetime (and the reaper retiring old keys), the tenant scope, and the bad keys.
"""

import concurrent.futures

import pytest
import requests

from ltapi import Api, assert_problem, task_count


@pytest.fixture(scope="module")
def ids(make_module_stack):
    return make_module_stack(config={"quota.units_per_window": 100}, reaper_loop=None)


def post(api, body, key, **kw):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return api.request("POST", "/api/v1/tasks", json=body, headers=headers, **kw)


def units_used(api):
    return api.request("GET", "/api/v1/quota").json()["units_used"]


def test_same_key_same_body_replays_the_original(ids):
    api = Api(ids)
    body = {"type": "noop", "payload": {"a": 1, "b": [1, 2]}, "metadata": {"client_ref": "r1"}}
    first = post(api, body, "k-1")
    assert first.status_code == 202, first.text
    assert "Idempotent-Replayed" not in first.headers
    again = post(api, body, "k-1")
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    # Key order and spacing do not make another request.
    text = '{"payload": {"b": [1, 2], "a": 1}, "metadata": {"client_ref": "r1"}, "type": "noop"}'
    r = api.request("POST", "/api/v1/tasks", data=text,
                    headers={"Idempotency-Key": "k-1", "Content-Type": "application/json"})
    assert r.status_code == 200 and r.json()["id"] == first.json()["id"]
    assert task_count(ids, api.tenant) == 1
    assert units_used(api) == 1                  # charged once


def test_same_key_different_body_is_422(ids):
    api = Api(ids)
    assert post(api, {"type": "noop", "payload": {"n": 1}}, "k-2").status_code == 202
    r = post(api, {"type": "noop", "payload": {"n": 2}}, "k-2")
    body = assert_problem(r, 422, "idempotency_key_reused")
    assert "different body" in body["detail"]
    assert task_count(ids, api.tenant) == 1


def test_concurrent_requests_with_one_new_key_make_one_task(ids):
    api = Api(ids)
    body = {"type": "noop", "payload": {"race": True}}

    def one(key):
        with requests.Session() as s:
            s.headers.update(api.session.headers)
            return s.post(ids.url + "/api/v1/tasks", json=body, timeout=60,
                          headers={"Idempotency-Key": key})

    for attempt in range(3):
        key = "race-%d" % attempt
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            rs = list(pool.map(one, [key] * 20))
        codes = sorted(set(r.status_code for r in rs))
        assert set(codes) <= {200, 202, 409}, [(r.status_code, r.text) for r in rs]
        assert [r.status_code for r in rs].count(202) == 1
        made = {r.json()["id"] for r in rs if r.status_code in (200, 202)}
        assert len(made) == 1                     # everyone who got a task got the same one
        for r in rs:
            if r.status_code == 409:
                assert_problem(r, 409, "idempotency_key_in_flight")
        key_rows = ids.sql("SELECT id FROM tasks WHERE tenant = %s AND idempotency_key = %s",
                           api.tenant, "tasks:" + key)
        assert len(key_rows) == 1
    assert task_count(ids, api.tenant) == 3
    assert units_used(api) == 3


def test_keys_are_scoped_to_the_tenant(ids):
    a, b = Api(ids), Api(ids)
    body = {"type": "noop", "payload": {}}
    ra, rb = post(a, body, "shared"), post(b, body, "shared")
    assert ra.status_code == 202 and rb.status_code == 202
    assert ra.json()["id"] != rb.json()["id"]


def test_keys_expire_after_24_hours(ids):
    api = Api(ids)
    body = {"type": "noop", "payload": {}}
    old = post(api, body, "k-old").json()["id"]
    ids.sql("UPDATE tasks SET created_at = now() - interval '25 hours' WHERE id = %s", old)
    r = post(api, body, "k-old")
    assert r.status_code == 202, r.text           # a new task: the old key had expired
    assert r.json()["id"] != old
    assert ids.sql("SELECT idempotency_key FROM tasks WHERE id = %s", old)[0][0] is None
    again = post(api, body, "k-old")
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]


def test_reaper_retires_old_keys(ids):
    api = Api(ids)
    task = post(api, {"type": "noop", "payload": {}}, "k-reap").json()["id"]
    ids.sql("UPDATE tasks SET created_at = now() - interval '25 hours' WHERE id = %s", task)
    rc, summary = ids.reaper_once()
    assert rc == 0 and summary["idempotency_keys_retired"] >= 1, summary
    assert ids.sql("SELECT idempotency_key, request_hash FROM tasks WHERE id = %s",
                   task)[0] == (None, None)
    assert api.get(task).status_code == 200       # the task itself stays


def test_bad_keys_are_400(ids):
    api = Api(ids)
    body = {"type": "noop", "payload": {}}
    assert_problem(post(api, body, "x" * 256), 400, "invalid_request")
    assert_problem(post(api, body, ""), 400, "invalid_request")
    assert post(api, body, "x" * 255).status_code == 202
    assert task_count(ids, api.tenant) == 1


def test_an_invalid_body_is_not_remembered(ids):
    api = Api(ids)
    assert_problem(post(api, {"type": "sleep", "payload": {}}, "k-bad"), 422)
    r = post(api, {"type": "sleep", "payload": {"ms": 1}}, "k-bad")
    assert r.status_code == 202, r.text


def test_batch_refuses_an_idempotency_key(ids):
    api = Api(ids)
    r = api.request("POST", "/api/v1/tasks/batch", json={"tasks": [{"type": "noop",
                                                                     "payload": {}}]},
                    headers={"Idempotency-Key": "b-1"})
    assert_problem(r, 400, "idempotency_not_supported")
    assert task_count(ids, api.tenant) == 0
