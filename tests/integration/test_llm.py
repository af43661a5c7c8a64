"""llm.chat against the fake OpenAI-compatible provider (tests/tools/fake_llm.py): a plain
completion and its logs; every failure class (connection error, the provider's timeout,
the task's own timeout, retryable statuses with and without Retry-After, permanent 4xx
with the provider's message, malformed and cut answers retryable once then permanent);
streaming with the partial result visible while running; the per-provider cap; the
circuit breaker with and without a fallback; cancelling a streaming call.

One stack for the module, one worker child (the cap and the circuit are per child) with
room for 16 tasks. Providers:
  default  the stack's fake (bearer key from the stack), max_concurrent 4
  closed   a port nothing listens on (connection refused), no breaker to speak of
  slow     a second, key-less fake with a 1 s provider timeout
  primary  the closed port, circuit after 2 failures, fallback "backup"
  backup   the second fake
  lonely   the closed port, circuit after 1 failure, no fallback
  flip     the second fake, circuit after 1 failure for 1 s (to see it close again)
"""

import json
import time

import pytest

import stack as stack_module
from conftest import free_port, start_fake_llm, wait_for
from ltapi import Api, TERMINAL, event_kinds, tenant_name

BACKOFF_MAX_MS = 600


@pytest.fixture(scope="module")
def env(make_module_stack):
    closed = "http://127.0.0.1:%d/v1" % free_port()
    second = start_fake_llm("--no-auth")
    s = make_module_stack(config={
        "worker.processes": 1,
        "worker.concurrency": 16,
        "llm.stream_write_ms": 200,
        "llm.default_provider": "default",
        "types": [{"name": "llm.chat", "backoff_base_ms": 300,
                   "backoff_max_ms": BACKOFF_MAX_MS, "max_retries": 2, "timeout_s": 30}],
        "providers": [
            {"name": "default", "api_key_env": "LONGTASK_LLM_API_KEY",
             "max_concurrent": 4, "timeout_s": 20, "circuit_failures": 1000},
            {"name": "closed", "base_url": closed, "api_key_env": "LT_TEST_NO_KEY",
             "connect_timeout_s": 2, "circuit_failures": 1000},
            {"name": "slow", "base_url": second.base_url, "api_key_env": "LT_TEST_NO_KEY",
             "timeout_s": 1, "circuit_failures": 1000},
            {"name": "primary", "base_url": closed, "api_key_env": "LT_TEST_NO_KEY",
             "circuit_failures": 2, "circuit_cooldown_s": 60, "fallback": "backup"},
            {"name": "backup", "base_url": second.base_url, "api_key_env": "LT_TEST_NO_KEY",
             "circuit_failures": 1000, "model": "backup-model"},
            {"name": "lonely", "base_url": closed, "api_key_env": "LT_TEST_NO_KEY",
             "circuit_failures": 1, "circuit_cooldown_s": 30},
            {"name": "flip", "base_url": second.base_url, "api_key_env": "LT_TEST_NO_KEY",
             "circuit_failures": 1, "circuit_cooldown_s": 1},
        ],
    })
    yield s, second
    second.stop()


def chat(text, **fields):
    return dict({"messages": [{"role": "system", "content": "be brief"},
                              {"role": "user", "content": text}]}, **fields)


def create(api, payload, **fields):
    return api.create_ok("llm.chat", payload, **fields)["id"]


def worker_lines(stack, event, task_id):
    out = []
    for line in stack.log("worker").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("event") == event and rec.get("task_id") == task_id:
            out.append(rec)
    return out


def retry_delay(stack, tid):
    """Seconds between the retry write and the run_at it set."""
    return float(stack.sql("SELECT extract(epoch FROM run_at - updated_at) FROM tasks "
                           "WHERE id = %s", tid)[0][0])


def wait_retry(api, tid, timeout=10):
    """The task's first move to `retry` (with its run_at), read from the row right away."""
    return api.wait_status(tid, ["retry"] + list(TERMINAL), timeout=timeout)


def test_plain_completion_result_and_logs(env):
    stack, _ = env
    api = Api(stack, tenant_name("llm"))
    tid = create(api, chat("hello secretword42 there", max_tokens=50, temperature=0.2))
    t = api.wait_status(tid, TERMINAL, timeout=15)
    assert t["status"] == "completed", t
    r = t["result"]
    assert r["content"] == "echo: hello secretword42 there"
    assert r["provider"] == "default" and r["model"] and r["finish_reason"] == "stop"
    assert r["usage"]["completion_tokens"] == 4
    assert r["usage"]["prompt_tokens"] > 0
    assert r["usage"]["total_tokens"] == r["usage"]["prompt_tokens"] + 4
    assert "degraded" not in r
    sent = stack.llm_stats()["last_request"]
    assert sent["bearer"] == stack_module.FAKE_LLM_KEY
    assert sent["body"]["max_tokens"] == 50 and sent["body"]["temperature"] == 0.2
    assert "stream" not in sent["body"]

    req = wait_for(lambda: worker_lines(stack, "llm_request", tid), what="llm_request line")
    resp = wait_for(lambda: worker_lines(stack, "llm_response", tid), what="llm_response line")
    assert req[0]["provider"] == "default" and req[0]["attempt"] == 1
    rec = resp[0]
    for field in ("provider", "model", "prompt_tokens", "completion_tokens", "duration_ms",
                  "success", "attempt"):
        assert field in rec, rec
    assert rec["success"] is True and rec["error"] is None and rec["completion_tokens"] == 4
    log = stack.log("worker")
    assert stack_module.FAKE_LLM_KEY not in log
    assert "secretword42" not in log


def test_connection_error_is_retryable(env):
    stack, _ = env
    api = Api(stack, tenant_name("llm"))
    tid = create(api, chat("x", provider="closed"), max_retries=1)
    t = api.wait_status(tid, TERMINAL, timeout=15)
    assert t["status"] == "failed" and t["metadata"].get("retry_exhausted") is True, t
    assert "connection error" in t["error"], t
    assert event_kinds(stack, tid).count("retry") == 1


def test_provider_timeout_is_retryable(env):
    stack, second = env
    api = Api(stack, tenant_name("llm"))
    tid = create(api, chat("[fake:delay=3000] x", provider="slow"), max_retries=1)
    t = wait_retry(api, tid)
    assert t["status"] == "retry", t
    assert "timeout" in t["error"], t
    api.cancel(tid)


def test_task_timeout_shorter_than_provider(env):
    stack, _ = env
    api = Api(stack, tenant_name("llm"))
    start = time.monotonic()
    tid = create(api, chat("[fake:hang] x"), timeout_s=1, max_retries=1)
    t = wait_retry(api, tid)
    assert t["status"] == "retry" and "timeout" in t["error"], t
    assert time.monotonic() - start < 5
    api.cancel(tid)
    wait_for(lambda: stack.llm_stats()["in_flight"] == 0, what="the hung call to end")


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_retryable_statuses(env, status):
    stack, _ = env
    api = Api(stack, tenant_name("llm"))
    tid = create(api, chat("[fake:status=%d] x" % status), max_retries=1)
    t = api.wait_status(tid, TERMINAL, timeout=15)
    assert t["status"] == "failed" and t["metadata"].get("retry_exhausted") is True, t
    assert "HTTP %d" % status in t["error"] and "fake failure" in t["error"], t
    kinds = [k for k in event_kinds(stack, tid) if k != "progress"]
    assert kinds == ["created", "started", "retry", "started", "failed"], kinds


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_permanent_statuses_carry_provider_message(env, status):
    stack, _ = env
    api = Api(stack, tenant_name("llm"))
    tid = create(api, chat("[fake:status=%d] x" % status))
    t = api.wait_status(tid, TERMINAL, timeout=15)
    assert t["status"] == "failed", t
    assert "retry_exhausted" not in t["metadata"], t
    assert "fake failure with status %d" % status in t["error"], t
    assert [k for k in event_kinds(stack, tid) if k != "progress"] == \
        ["created", "started", "failed"]


@pytest.mark.parametrize("header,wait_s", [("retry_after=4", 4), ("retry_after_ms=3500", 3.5)])
def test_retry_after_beats_backoff(env, header, wait_s):
    stack, _ = env
    api = Api(stack, tenant_name("llm"))
    tid = create(api, chat("[fake:status=429;%s] x" % header))
    t = wait_retry(api, tid)
    assert t["status"] == "retry", t
    delay = retry_delay(stack, tid)
    assert delay >= wait_s - 0.1 and delay > BACKOFF_MAX_MS / 1000.0, (delay, t)
    api.cancel(tid)


@pytest.mark.parametrize("fault,stream", [("malformed", False), ("malformed", True),
                                          ("cut=3", True), ("cut=20", False)])
def test_malformed_retryable_once_then_permanent(env, fault, stream):
    stack, _ = env
    api = Api(stack, tenant_name("llm"))
    tid = create(api, chat("[fake:%s;words=10] x" % fault, stream=stream))
    t = api.wait_status(tid, TERMINAL, timeout=15)
    assert t["status"] == "failed", t
    assert t["error"].startswith("malformed response") and "twice" in t["error"], t
    assert "retry_exhausted" not in t["metadata"], t
    kinds = [k for k in event_kinds(stack, tid) if k != "progress"]
    assert kinds == ["created", "started", "retry", "started", "failed"], kinds


def test_retryable_then_success_completes(env):
    stack, _ = env
    api = Api(stack, tenant_name("llm"))
    key = "once-%d" % time.monotonic_ns()
    tid = create(api, chat("[fake:fail_first=1;status=503;key=%s] x" % key))
    t = api.wait_status(tid, TERMINAL, timeout=15)
    assert t["status"] == "completed", t
    assert t["retry_count"] == 1 and t["error"] is None, t


def test_streaming_partial_result_then_final(env):
    stack, _ = env
    api = Api(stack, tenant_name("llm"))
    tid = create(api, chat("[fake:chunk_delay=150;words=20] x", stream=True))
    partials = []

    def grown():
        t = api.task(tid)
        if t["status"] == "running" and t["result"] and t["result"].get("content"):
            c = t["result"]["content"]
            assert t["result"].get("partial") is True
            if not partials or c != partials[-1]:
                partials.append(c)
        return len(partials) >= 3

    wait_for(grown, timeout=10, interval=0.05, what="three growing partial results")
    for a, b in zip(partials, partials[1:]):
        assert b.startswith(a) and len(b) > len(a), partials
    t = api.wait_status(tid, TERMINAL, timeout=15)
    assert t["status"] == "completed", t
    r = t["result"]
    assert r["content"] == " ".join("word%d" % i for i in range(1, 21))
    assert r["usage"]["completion_tokens"] == 20 and r["finish_reason"] == "stop"
    assert "partial" not in r
    assert stack.llm_stats()["last_request"]["body"]["stream_options"] == {"include_usage": True}
    # Partial writes add no event per write: a few progress events at most.
    assert event_kinds(stack, tid).count("progress") <= 10


def test_cancel_streaming_call(env):
    stack, _ = env
    api = Api(stack, tenant_name("llm"))
    tid = create(api, chat("[fake:chunk_delay=200;words=200] x", stream=True))
    wait_for(lambda: (api.task(tid).get("result") or {}).get("content"), timeout=10,
             what="streaming to begin")
    start = time.monotonic()
    assert api.cancel(tid).status_code in (200, 202)
    t = api.wait_status(tid, "cancelled", timeout=5)
    assert time.monotonic() - start < 3, t
    wait_for(lambda: stack.llm_stats()["in_flight"] == 0, timeout=5,
             what="the provider to see the call end")
    resp = wait_for(lambda: worker_lines(stack, "llm_response", tid), what="llm_response")
    assert resp[-1]["success"] is False


def test_provider_cap(env):
    stack, _ = env
    api = Api(stack, tenant_name("llm"))
    wait_for(lambda: stack.llm_stats()["in_flight"] == 0, what="an idle provider")
    stack.llm_reset()
    ids = [create(api, chat("[fake:delay=1000] n%d" % i)) for i in range(12)]
    for tid in ids:
        t = api.wait_status(tid, TERMINAL, timeout=20)
        assert t["status"] == "completed", t
    assert stack.llm_stats()["max_in_flight"] == 4


def worker_events(stack, event, **match):
    out = []
    for line in stack.log("worker").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("event") == event and all(rec.get(k) == v for k, v in match.items()):
            out.append(rec)
    return out


def circuit_opened(stack, provider):
    return bool(worker_events(stack, "llm_circuit_open", provider=provider))


def test_circuit_opens_and_fallback_takes_over(env):
    stack, second = env
    api = Api(stack, tenant_name("llm"))
    first = create(api, chat("a", provider="primary", model="primary-model"))
    assert wait_retry(api, first)["status"] == "retry"
    # Two consecutive failures open it: the first task's own retry, or this one.
    other = create(api, chat("b", provider="primary"))
    wait_for(lambda: circuit_opened(stack, "primary"), what="llm_circuit_open for primary")
    third = create(api, chat("c", provider="primary", model="primary-model"))
    for tid in (first, other, third):
        t = api.wait_status(tid, TERMINAL, timeout=15)
        assert t["status"] == "completed", t
        r = t["result"]
        assert r["provider"] == "backup" and r["degraded"] is True, r
        assert r["fallback_from"] == "primary" and r["model"] == "backup-model", r
    assert api.task(third)["retry_count"] == 0
    assert second.stats()["last_request"]["body"]["model"] == "backup-model"


def test_circuit_open_without_fallback_waits_in_retry(env):
    stack, _ = env
    api = Api(stack, tenant_name("llm"))
    a = create(api, chat("a", provider="lonely"))
    assert wait_retry(api, a)["status"] == "retry"
    wait_for(lambda: circuit_opened(stack, "lonely"), what="llm_circuit_open for lonely")
    b = create(api, chat("b", provider="lonely"))
    t = wait_retry(api, b)
    assert t["status"] == "retry", t
    assert "provider lonely circuit open" in t["error"], t
    delay = retry_delay(stack, b)
    assert 20 < delay <= 30.5, t
    for tid in (a, b):
        api.cancel(tid)


def test_circuit_half_open_trial_closes_it(env):
    stack, _ = env
    api = Api(stack, tenant_name("llm"))
    key = "flip-%d" % time.monotonic_ns()
    tid = create(api, chat("[fake:fail_first=1;status=502;key=%s] x" % key, provider="flip"))
    t = api.wait_status(tid, TERMINAL, timeout=15)
    assert t["status"] == "completed" and t["result"]["provider"] == "flip", t
    assert circuit_opened(stack, "flip")
    wait_for(lambda: worker_events(stack, "llm_circuit_closed", provider="flip"),
             what="llm_circuit_closed for flip")
    trial = [r for r in worker_events(stack, "llm_request", task_id=tid) if r.get("trial")]
    assert len(trial) == 1, trial


def test_worker_log_clean(env):
    """Nothing above left a database error, a double outcome or a dropped write."""
    stack, _ = env
    for event in ("db_error", "handler_double_outcome", "task_write_failed",
                  "task_outcome_dropped", "out_of_memory"):
        assert not worker_events(stack, event), event
