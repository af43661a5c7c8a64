"""
test_fake_llm.py -- the fake OpenAI-compatible provider (tests/tools/fake_llm.py) that the
stacks run for llm.chat: answer shapes, every fault directive, exact in-flight counting
(the other tests check longtask's per-provider concurrency cap with it), and its place in
the stack (started, exported to the programs, stopped).
"""

import asyncio
import json
import os
import socket
import threading
import time
import uuid

import pytest
import requests

from conftest import FAKE_LLM, wait_for

AUTH = {"Authorization": "Bearer test-key"}


def body(text="hello big world", **extra):
    b = {"model": "fake-model", "messages": [{"role": "system", "content": "be brief"},
                                              {"role": "user", "content": text}]}
    b.update(extra)
    return b


def chat(fake, text="hello big world", headers=None, timeout=10, path="/v1", stream=False,
         **extra):
    """POSTs a chat request; stream=True asks for (and reads as) an SSE stream."""
    h = dict(AUTH)
    h.update(headers or {})
    if stream:
        extra["stream"] = True
    return requests.post(fake.url + path + "/chat/completions", json=body(text, **extra),
                         headers=h, timeout=timeout, stream=stream)


def sse_events(resp):
    """The data payloads of an SSE response, in order (raises if the stream breaks)."""
    out = []
    for line in resp.iter_lines():
        if line.startswith(b"data: "):
            out.append(line[6:].decode())
    return out


def test_plain_completion(fake_llm):
    r = chat(fake_llm, "hello big world")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    a = r.json()
    assert a["id"].startswith("chatcmpl-") and a["object"] == "chat.completion"
    assert isinstance(a["created"], int) and a["model"] == "fake-model"
    assert a["choices"] == [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant",
                                         "content": "echo: hello big world"}}]
    # Word counts: "be brief" + "hello big world" in, "echo: hello big world" out.
    assert a["usage"] == {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
    # Deterministic, without /v1 too, and max_tokens cuts the answer in words.
    r2 = chat(fake_llm, "hello big world", path="")
    assert r2.json()["choices"] == a["choices"]
    cut = chat(fake_llm, "hello big world", max_tokens=2).json()
    assert cut["choices"][0]["message"]["content"] == "echo: hello"
    assert cut["choices"][0]["finish_reason"] == "length"
    assert cut["usage"]["completion_tokens"] == 2
    w = chat(fake_llm, "x [fake:words=5]").json()
    assert w["choices"][0]["message"]["content"] == "word1 word2 word3 word4 word5"
    js = chat(fake_llm, "hi", response_format={"type": "json_object"}).json()
    assert json.loads(js["choices"][0]["message"]["content"]) == {"echo": "echo: hi"}


def test_streaming(fake_llm):
    r = chat(fake_llm, "one two three", stream=True, stream_options={"include_usage": True})
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/event-stream")
    assert r.headers.get("Transfer-Encoding") == "chunked"
    events = sse_events(r)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    words = [c["choices"][0]["delta"]["content"] for c in chunks[1:-2]]
    assert words == ["echo: ", "one ", "two ", "three"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-2])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 5, "completion_tokens": 4,
                                   "total_tokens": 9}
    # Without include_usage: no usage chunk; the connection is reusable afterwards.
    with requests.Session() as s:
        for _ in range(2):
            r = s.post(fake_llm.url + "/v1/chat/completions", headers=AUTH, timeout=10,
                       json=body("a b", stream=True))
            events = sse_events(r)
            assert events[-1] == "[DONE]"
            assert json.loads(events[-2])["choices"][0]["finish_reason"] == "stop"


def test_status_and_retry_after(fake_llm):
    r = chat(fake_llm, "hi [fake:status=503;retry_after=2;retry_after_ms=1500]")
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "2" and r.headers["retry-after-ms"] == "1500"
    err = r.json()["error"]
    assert set(err) >= {"message", "type", "code"} and err["type"] == "server_error"
    # The header form, and the header winning over the message.
    r = chat(fake_llm, "hi [fake:status=500]", headers={"X-Fake-Fault": "status=429"})
    assert r.status_code == 429 and "Retry-After" not in r.headers
    assert r.json()["error"]["code"] == "rate_limit_exceeded"
    r = chat(fake_llm, "hi [fake:status=400]")
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    # A typo in a directive is an error, not a silent success.
    r = chat(fake_llm, "hi [fake:stauts=503]")
    assert r.status_code == 400 and "stauts" in r.json()["error"]["message"]


def test_hang_until_client_gives_up(fake_llm):
    t0 = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        chat(fake_llm, "hi [fake:hang]", timeout=0.5)
    assert time.monotonic() - t0 < 3
    # The client went away: the request is no longer in flight.
    wait_for(lambda: fake_llm.stats()["in_flight"] == 0, timeout=5, what="in_flight 0")


def test_malformed(fake_llm):
    r = chat(fake_llm, "hi [fake:malformed]")
    assert r.status_code == 200
    with pytest.raises(ValueError):
        json.loads(r.text)
    r = chat(fake_llm, "hi [fake:malformed]", stream=True)
    events = sse_events(r)
    assert events[-1] == "[DONE]"
    with pytest.raises(ValueError):
        json.loads(events[1])


def test_cut_stream(fake_llm):
    r = chat(fake_llm, "a b c d e f [fake:cut=2;chunk_delay=20]", stream=True)
    assert r.status_code == 200
    got = []
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for line in r.iter_lines():
            if line.startswith(b"data: "):
                got.append(line[6:].decode())
    assert "[DONE]" not in got
    chunks = [json.loads(e) for e in got]
    assert [c["choices"][0]["delta"].get("content") for c in chunks] == ["", "echo: ", "a "]
    # Not streaming: the headers promise more than the body holds, then the end.
    data = json.dumps(body("hi [fake:cut=10]")).encode()
    with socket.create_connection(("127.0.0.1", fake_llm.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: fake\r\n"
                     b"Authorization: Bearer k\r\nContent-Length: %d\r\n\r\n" % len(data)
                     + data)
        answer = b""
        while True:
            piece = sock.recv(65536)
            if not piece:
                break
            answer += piece
    head, _, rest = answer.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    assert head.startswith(b"HTTP/1.1 200") and len(rest) == 10 < length


def test_drop(fake_llm):
    with pytest.raises(requests.exceptions.ConnectionError):
        chat(fake_llm, "hi [fake:drop]")


def test_delay_and_chunk_delay(fake_llm):
    t0 = time.monotonic()
    r = chat(fake_llm, "hi [fake:delay=400]")
    assert r.status_code == 200 and time.monotonic() - t0 >= 0.4
    t0 = time.monotonic()
    r = chat(fake_llm, "a b c [fake:chunk_delay=100]", stream=True)
    assert sse_events(r)[-1] == "[DONE]"
    # role, 4 words, finish, [DONE]: six gaps.
    assert time.monotonic() - t0 >= 0.6


def test_fail_first_then_success(fake_llm):
    key = uuid.uuid4().hex
    text = "hi [fake:fail_first=2;key=%s;retry_after=1]" % key
    r1, r2, r3, r4 = (chat(fake_llm, text) for _ in range(4))
    assert (r1.status_code, r2.status_code, r3.status_code, r4.status_code) == \
        (503, 503, 200, 200)
    assert r1.headers["Retry-After"] == "1" and "Retry-After" not in r3.headers
    assert r3.json()["choices"][0]["message"]["content"] == "echo: hi"
    other = chat(fake_llm, "x [fake:fail_first=1;status=429;key=%s-b]" % key)
    assert other.status_code == 429


def test_max_in_flight_counts_concurrent_requests(fake_llm):
    fake_llm.reset()
    statuses = []
    barrier = threading.Barrier(20)

    def one():
        barrier.wait()
        statuses.append(chat(fake_llm, "hi [fake:delay=1000]", timeout=20).status_code)

    threads = [threading.Thread(target=one) for _ in range(20)]
    for t in threads:
        t.start()
    wait_for(lambda: fake_llm.stats()["in_flight"] == 20, timeout=5, what="20 in flight")
    for t in threads:
        t.join(20)
    assert statuses == [200] * 20
    s = fake_llm.stats()
    assert (s["requests"], s["in_flight"], s["max_in_flight"]) == (20, 0, 20)
    assert s["by_status"] == {"200": 20}


def test_a_thousand_delayed_requests_at_once(fake_llm):
    """One event loop carries many open requests: 1000 held for 1 s take ~1 s, not 1000."""
    fake_llm.reset()
    data = json.dumps(body("hi [fake:delay=1000]")).encode()
    req = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: fake\r\nAuthorization: Bearer k\r\n"
           b"Content-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
           % len(data)) + data

    async def one():
        reader, writer = await asyncio.open_connection("127.0.0.1", fake_llm.port)
        writer.write(req)
        answer = await reader.read()
        writer.close()
        return answer.split(b" ", 2)[1]

    async def many(n):
        return await asyncio.gather(*[one() for _ in range(n)])

    t0 = time.monotonic()
    codes = asyncio.run(many(1000))
    took = time.monotonic() - t0
    assert codes == [b"200"] * 1000
    assert took < 6, "1000 concurrent 1-s requests took %.1fs" % took
    s = fake_llm.stats()
    assert s["max_in_flight"] == 1000 and s["in_flight"] == 0


def test_auth_required(fake_llm):
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Basic eDp5"}):
        r = requests.post(fake_llm.url + "/v1/chat/completions", json=body(), headers=headers,
                          timeout=10)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "invalid_api_key"


def test_validation_and_other_routes(fake_llm):
    for bad in ({"messages": [{"role": "user", "content": "x"}]},
                {"model": "m", "messages": []},
                {"model": "m", "messages": [{"content": "x"}]},
                {"model": "m", "messages": [{"role": "user", "content": "x"}],
                 "max_tokens": 0}):
        r = requests.post(fake_llm.url + "/v1/chat/completions", json=bad, headers=AUTH,
                          timeout=10)
        assert r.status_code == 400, bad
        assert r.json()["error"]["type"] == "invalid_request_error"
    r = requests.post(fake_llm.url + "/v1/chat/completions", data=b"{nope", headers=AUTH,
                      timeout=10)
    assert r.status_code == 400
    assert requests.get(fake_llm.url + "/healthz", timeout=10).status_code == 200
    assert requests.get(fake_llm.url + "/v1/models", timeout=10).json()["data"]
    assert requests.get(fake_llm.url + "/nope", timeout=10).status_code == 404
    assert "POST /v1/chat/completions" in fake_llm.log()


def test_no_auth_option():
    from conftest import start_fake_llm
    f = start_fake_llm("--no-auth", "--quiet")
    try:
        r = requests.post(f.url + "/chat/completions", json=body(), timeout=10)
        assert r.status_code == 200
        assert "POST" not in f.log()
    finally:
        f.stop()


def test_stack_runs_and_stops_the_fake(make_stack):
    s = make_stack(programs=("worker",), reaper_loop=None)
    assert s.llm_url == "http://127.0.0.1:%d/v1" % s.llm_port
    # The programs get the fake's base URL and key; the fake gets no stack secret.
    with open("/proc/%d/environ" % s.pids("worker"), "rb") as f:
        env = dict(v.split(b"=", 1) for v in f.read().split(b"\0") if b"=" in v)
    assert env[b"LONGTASK_LLM_BASE_URL"] == s.llm_url.encode()
    assert env[b"LONGTASK_LLM_API_KEY"] == b"fake-key"
    with open("/proc/%d/environ" % s.pids("llm"), "rb") as f:
        assert b"LONGTASK_JWT_SECRET" not in f.read()
    s.llm_reset()
    r = requests.post(s.llm_url + "/chat/completions", json=body("ping"), timeout=10,
                      headers={"Authorization": "Bearer fake-key"})
    assert r.json()["choices"][0]["message"]["content"] == "echo: ping"
    stats = s.llm_stats()
    assert stats["requests"] == 1 and stats["last_request"]["bearer"] == "fake-key"
    # A restart keeps the URL the programs were given.
    port = s.llm_port
    s.restart("llm")
    assert s.llm_port == port and s.llm_stats()["requests"] == 0
    pid = s.pids("llm")
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        assert FAKE_LLM.encode() in f.read()
    s.stop()
    assert not os.path.exists("/proc/%d" % pid) or \
        open("/proc/%d/stat" % pid).read().split(")")[-1].split()[0] == "Z"


def test_stack_with_a_named_provider(tmp_path):
    from conftest import Stack
    s = Stack(str(tmp_path / "var"), llm_base_url="http://provider.invalid/v1")
    assert s.llm_fake is False and s.llm_url == "http://provider.invalid/v1"
    assert s.env()["LONGTASK_LLM_BASE_URL"] == "http://provider.invalid/v1"
    assert "LONGTASK_LLM_API_KEY" not in s.env()
    with pytest.raises(Exception):
        s.llm_stats()
