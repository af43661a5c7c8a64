#!/usr/bin/python3
"""
fake_llm.py -- an OpenAI-compatible chat-completions provider for development and tests.

A real HTTP/1.1 server (standard library only, one asyncio event loop, no thread per
request) that answers deterministically and misbehaves on request, so that longtask's
llm.chat handler can be exercised against timeouts, error statuses, Retry-After, cut
streams and garbage without a real provider.

    python3 tests/tools/fake_llm.py --host 127.0.0.1 --port 0 --ready-file PATH
        [--no-auth] [--quiet]

--port 0 picks a free port; the port actually bound is written to --ready-file (atomically,
once the socket listens). SIGTERM/SIGINT stop it.

Endpoints
  POST <anything>/chat/completions   the chat endpoint (/v1/chat/completions, or without /v1)
  GET  <anything>/models             one model, "fake-model"
  GET  /stats                        {"requests", "in_flight", "max_in_flight", "by_status",
                                      "dropped", "last_request"}
  POST /stats/reset                  zeroes the counters and forgets the fail_first keys
  GET  /healthz                      200 "ok"

The answer is "echo: " + the last user message's text (with any [fake:...] directive taken
out), cut to max_tokens (or max_completion_tokens) words -- finish_reason "length" when that
cut anything, else "stop". Token counts are word counts. With response_format json_object or
json_schema the content is the JSON text {"echo": "<the same text>"} instead.

Faults, per request: the header `X-Fake-Fault: a=1;b` and/or a `[fake:a=1;b]` directive
anywhere in the last user message (the form longtask tasks use: a task's payload cannot set
provider headers). Directives, `;`-separated, header ones win over message ones:
  delay=MS          wait MS milliseconds before answering
  status=CODE       answer CODE with an OpenAI error body {"error": {message, type, code}}
  retry_after=S     Retry-After: S on an error answer (the value is sent verbatim)
  retry_after_ms=MS retry-after-ms: MS on an error answer
  hang              read the request and never answer, until the client goes away
  drop              close the connection without answering (a connection error)
  malformed         200 with a body that is not JSON (streaming: an SSE event that is not)
  cut=N             streaming: the role chunk and N content chunks, then close the
                    connection with no finish chunk, no [DONE] and no terminating
                    zero-length chunk; not streaming: the headers and the first N bytes of
                    the body, then close
  chunk_delay=MS    streaming: wait MS milliseconds before each chunk after the first
  words=N           answer "word1 word2 ... wordN" instead of the echo
  fail_first=K      the first K requests carrying the same key=... fail with `status`
                    (default 503), later ones succeed; key defaults to "default"
  key=NAME          the counter fail_first uses
An unknown directive is answered 400, so that a typo does not silently test nothing.

Counting: a chat request is in flight from the moment its body has been read until its
answer has been written or its connection is gone; `max_in_flight` is the peak since the
last reset. `by_status` counts the status lines sent; `dropped` counts requests whose
client went away first or that the `drop` fault closed.
"""

import argparse
import asyncio
import email.utils
import json
import os
import re
import resource
import signal
import sys
import time

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
DIRECTIVE_RE = re.compile(r"\[fake:([^\]]*)\]")
VALUED = {"delay", "status", "retry_after", "retry_after_ms", "cut", "chunk_delay", "words",
          "fail_first", "key"}
INTEGER = {"delay", "status", "retry_after_ms", "cut", "chunk_delay", "words", "fail_first"}
FLAGS = {"hang", "malformed", "drop"}
REASONS = {
    100: "Continue", 200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict",
    413: "Payload Too Large", 422: "Unprocessable Entity", 429: "Too Many Requests",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Gateway Timeout",
}
# The error `type`/`code` an OpenAI-style provider gives for a status.
ERROR_KINDS = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", "permission_denied"),
    404: ("invalid_request_error", "not_found"),
    408: ("timeout_error", "timeout"),
    409: ("conflict_error", "conflict"),
    422: ("invalid_request_error", "unprocessable_entity"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


class BadRequest(Exception):
    """The request could not be parsed: answer 400 and close."""


class Gone(Exception):
    """The client closed the connection."""


class Stats:
    def __init__(self):
        self.in_flight = 0
        self.reset()

    def reset(self):
        self.requests = 0
        # Requests still in flight stay counted: a reset mid-test must not go negative.
        self.max_in_flight = self.in_flight
        self.by_status = {}
        self.dropped = 0
        self.fail_counts = {}
        self.last_request = None

    def begin(self):
        self.requests += 1
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight

    def end(self):
        self.in_flight -= 1

    def status(self, code):
        key = str(code)
        self.by_status[key] = self.by_status.get(key, 0) + 1

    def as_json(self):
        return {"requests": self.requests, "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight, "by_status": dict(self.by_status),
                "dropped": self.dropped, "last_request": self.last_request}


class Conn:
    """One client connection: a reader task moves incoming bytes into a buffer so that a
    request handler sleeping on a delay still learns at once when the client goes away."""

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()
        self.data = asyncio.Event()
        self.gone = asyncio.Event()
        self.pump = asyncio.ensure_future(self._pump())

    async def _pump(self):
        try:
            while True:
                chunk = await self.reader.read(65536)
                if not chunk:
                    break
                self.buf += chunk
                self.data.set()
                if len(self.buf) > MAX_HEAD + MAX_BODY:
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            self.gone.set()
            self.data.set()

    async def _more(self):
        if self.gone.is_set():
            raise Gone()
        self.data.clear()
        await self.data.wait()

    async def read_until(self, sep, limit):
        while True:
            i = self.buf.find(sep)
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[:i + len(sep)]
                return out
            if len(self.buf) > limit:
                raise BadRequest("header section too large")
            await self._more()

    async def read_exactly(self, n):
        while len(self.buf) < n:
            await self._more()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    async def sleep(self, seconds):
        """Sleeps, or raises Gone as soon as the client disconnects."""
        if seconds <= 0:
            if self.gone.is_set():
                raise Gone()
            return
        try:
            await asyncio.wait_for(self.gone.wait(), seconds)
        except asyncio.TimeoutError:
            return
        raise Gone()

    async def write(self, data):
        if self.gone.is_set() or self.writer.is_closing():
            raise Gone()
        self.writer.write(data)
        try:
            await self.writer.drain()
        except (ConnectionError, OSError):
            raise Gone() from None

    def close(self):
        self.pump.cancel()
        try:
            self.writer.close()
        except Exception:
            pass


class Request:
    def __init__(self, method, target, version, headers, body):
        self.method = method
        self.path = target.split("?", 1)[0]
        self.version = version
        self.headers = headers
        self.body = body
        self.keep_alive = (version == "HTTP/1.1" and
                           headers.get("connection", "").lower() != "close")


class Server:
    def __init__(self, auth, quiet):
        self.auth = auth
        self.quiet = quiet
        self.stats = Stats()
        self.conns = set()
        self.seq = 0

    # ---- HTTP plumbing ----------------------------------------------------------------

    async def handle(self, reader, writer):
        conn = Conn(reader, writer)
        self.conns.add(conn)
        try:
            while True:
                req = await self.read_request(conn)
                if req is None:
                    break
                keep = await self.dispatch(conn, req)
                if not (keep and req.keep_alive):
                    break
        except BadRequest as exc:
            try:
                await self.send_json(conn, 400, error_body(str(exc), 400), keep=False)
            except Gone:
                pass
        except Gone:
            pass
        finally:
            self.conns.discard(conn)
            conn.close()

    async def read_request(self, conn):
        try:
            head = await conn.read_until(b"\r\n\r\n", MAX_HEAD)
        except Gone:
            return None
        lines = head.decode("latin-1").split("\r\n")
        while lines and lines[0] == "":  # stray CRLF between requests
            lines.pop(0)
        if not lines:
            return None
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise BadRequest("bad request line")
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise BadRequest("bad header line")
            headers[name.strip().lower()] = value.strip()
        if headers.get("expect", "").lower() == "100-continue":
            await conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = b""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = await self.read_chunked(conn)
        elif "content-length" in headers:
            try:
                n = int(headers["content-length"])
            except ValueError:
                raise BadRequest("bad Content-Length") from None
            if n < 0 or n > MAX_BODY:
                raise BadRequest("bad Content-Length")
            body = await conn.read_exactly(n)
        return Request(parts[0], parts[1], parts[2], headers, body)

    async def read_chunked(self, conn):
        body = bytearray()
        while True:
            line = await conn.read_until(b"\r\n", 1024)
            try:
                n = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadRequest("bad chunk size") from None
            if n == 0:
                while await conn.read_until(b"\r\n", MAX_HEAD):
                    pass  # trailers
                return bytes(body)
            body += await conn.read_exactly(n)
            await conn.read_until(b"\r\n", 2)
            if len(body) > MAX_BODY:
                raise BadRequest("body too large")

    @staticmethod
    def head(status, headers, keep):
        out = ["HTTP/1.1 %d %s" % (status, REASONS.get(status, "Status"))]
        out.append("Date: " + email.utils.formatdate(usegmt=True))
        out.append("Server: longtask-fake-llm")
        out.append("Connection: " + ("keep-alive" if keep else "close"))
        for k, v in headers:
            out.append("%s: %s" % (k, v))
        return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")

    async def send(self, conn, status, body, ctype, keep=True, extra=()):
        headers = [("Content-Type", ctype), ("Content-Length", str(len(body)))]
        headers += list(extra)
        await conn.write(self.head(status, headers, keep) + body)

    async def send_json(self, conn, status, obj, keep=True, extra=()):
        body = json.dumps(obj).encode()
        await self.send(conn, status, body, "application/json", keep, extra)

    # ---- routing ----------------------------------------------------------------------

    async def dispatch(self, conn, req):
        """Answers one request; returns False when the connection must close."""
        path = req.path.rstrip("/") or "/"
        if path.endswith("/chat/completions"):
            if req.method != "POST":
                await self.send_json(conn, 405, error_body("use POST", 405),
                                     extra=[("Allow", "POST")])
                return True
            return await self.chat(conn, req)
        start = time.monotonic()
        status = 200
        if path == "/healthz" and req.method in ("GET", "HEAD"):
            await self.send(conn, 200, b"ok\n", "text/plain")
        elif path == "/stats" and req.method == "GET":
            await self.send_json(conn, 200, self.stats.as_json())
        elif path == "/stats/reset" and req.method == "POST":
            self.stats.reset()
            await self.send_json(conn, 200, self.stats.as_json())
        elif path.endswith("/models") and req.method == "GET":
            await self.send_json(conn, 200, {"object": "list", "data": [
                {"id": "fake-model", "object": "model", "created": 0,
                 "owned_by": "longtask-fake"}]})
        else:
            status = 404
            await self.send_json(conn, 404, error_body("no route %s %s" % (req.method, path),
                                                       404))
        self.log(req, status, start)
        return True

    def log(self, req, status, start, note=""):
        if self.quiet:
            return
        sys.stderr.write("fake_llm: %s %s %s %dms%s\n" % (
            req.method, req.path, status, int((time.monotonic() - start) * 1000),
            " " + note if note else ""))
        sys.stderr.flush()

    # ---- chat completions -------------------------------------------------------------

    async def chat(self, conn, req):
        start = time.monotonic()
        self.stats.begin()
        outcome = {"status": "dropped", "note": ""}
        try:
            return await self.chat_answer(conn, req, outcome)
        except Gone:
            return False
        finally:
            self.stats.end()
            if outcome["status"] == "dropped":
                self.stats.dropped += 1
            self.log(req, outcome["status"], start, outcome["note"])

    async def chat_error(self, conn, outcome, status, message, faults=None, keep=True):
        extra = []
        if faults:
            if "retry_after" in faults:
                extra.append(("Retry-After", faults["retry_after"]))
            if "retry_after_ms" in faults:
                extra.append(("retry-after-ms", str(faults["retry_after_ms"])))
        outcome["status"] = status
        self.stats.status(status)
        await self.send_json(conn, status, error_body(message, status), keep=keep, extra=extra)
        return keep

    async def chat_answer(self, conn, req, outcome):
        auth = req.headers.get("authorization", "")
        bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        try:
            body = json.loads(req.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            body = None
        self.stats.last_request = {"path": req.path, "bearer": bearer or None,
                                   "body": body if isinstance(body, dict) else None}
        if self.auth and not bearer:
            return await self.chat_error(conn, outcome, 401,
                                         "missing or malformed bearer token (Authorization: "
                                         "Bearer KEY)")
        problem = validate(body)
        if problem:
            return await self.chat_error(conn, outcome, 400, problem)
        try:
            faults = parse_faults(req.headers.get("x-fake-fault", ""))
            said = last_user_text(body["messages"])
            merged = {}
            for found in DIRECTIVE_RE.findall(said):
                merged.update(parse_faults(found))
            merged.update(faults)
            faults = merged
        except ValueError as exc:
            return await self.chat_error(conn, outcome, 400, str(exc))
        outcome["note"] = ";".join(k if v is True else "%s=%s" % (k, v)
                                   for k, v in faults.items())
        text = DIRECTIVE_RE.sub("", said).strip()

        if "delay" in faults:
            await conn.sleep(faults["delay"] / 1000.0)
        if "hang" in faults:
            await conn.gone.wait()
            raise Gone()
        if "drop" in faults:
            conn.writer.transport.abort()
            return False
        if "fail_first" in faults:
            key = faults.get("key", "default")
            seen = self.stats.fail_counts.get(key, 0)
            self.stats.fail_counts[key] = seen + 1
            if seen < faults["fail_first"]:
                status = faults.get("status", 503)
                return await self.chat_error(conn, outcome, status,
                                             "fake failure %d of %d for key %r" % (
                                                 seen + 1, faults["fail_first"], key), faults)
        elif faults.get("status", 200) != 200:
            status = faults["status"]
            return await self.chat_error(conn, outcome, status,
                                         "fake failure with status %d" % status, faults)

        content, finish = answer_text(body, text, faults)
        self.seq += 1
        ident = "chatcmpl-fake%06d" % self.seq
        created = int(time.time())
        model = body["model"]
        prompt_tokens = sum(len(message_text(m).split()) for m in body["messages"])
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(content.split()),
                 "total_tokens": prompt_tokens + len(content.split())}
        outcome["status"] = 200
        self.stats.status(200)
        if body.get("stream"):
            return await self.stream(conn, req, faults, ident, created, model, content, finish,
                                     usage, body)
        if "malformed" in faults:
            await self.send(conn, 200, b'{"id": "chatcmpl-broken", "choices": [{"mess',
                            "application/json")
            return True
        answer = {"id": ident, "object": "chat.completion", "created": created, "model": model,
                  "choices": [{"index": 0,
                               "message": {"role": "assistant", "content": content},
                               "finish_reason": finish}],
                  "usage": usage}
        data = json.dumps(answer).encode()
        if "cut" in faults:
            headers = [("Content-Type", "application/json"),
                       ("Content-Length", str(len(data)))]
            await conn.write(self.head(200, headers, False) + data[:faults["cut"]])
            return False
        await self.send(conn, 200, data, "application/json", keep=req.keep_alive)
        return True

    async def stream(self, conn, req, faults, ident, created, model, content, finish, usage,
                     body):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        headers = [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"),
                   ("Transfer-Encoding", "chunked")]
        keep = req.keep_alive and "cut" not in faults
        await conn.write(self.head(200, headers, keep))
        gap = faults.get("chunk_delay", 0) / 1000.0
        first = [True]

        def chunk(delta, finish_reason):
            c = {"id": ident, "object": "chat.completion.chunk", "created": created,
                 "model": model,
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
            if include_usage:
                c["usage"] = None
            return c

        async def event(payload):
            if not first[0]:
                await conn.sleep(gap)
            first[0] = False
            data = b"data: " + payload + b"\n\n"
            await conn.write(b"%x\r\n%s\r\n" % (len(data), data))

        await event(json.dumps(chunk({"role": "assistant", "content": ""}, None)).encode())
        if "malformed" in faults:
            await event(b'{"id": "chatcmpl-broken", "choices": [{"del')
        else:
            words = content.split(" ") if content else []
            for i, w in enumerate(words):
                if "cut" in faults and i >= faults["cut"]:
                    break
                piece = w + (" " if i < len(words) - 1 else "")
                await event(json.dumps(chunk({"content": piece}, None)).encode())
            if "cut" in faults:
                # Let the client see what was sent, then end the connection mid-body.
                try:
                    conn.writer.write_eof()
                except (OSError, RuntimeError):
                    pass
                conn.writer.close()
                return False
            await event(json.dumps(chunk({}, finish)).encode())
            if include_usage:
                await event(json.dumps({"id": ident, "object": "chat.completion.chunk",
                                        "created": created, "model": model, "choices": [],
                                        "usage": usage}).encode())
        await event(b"[DONE]")
        await conn.write(b"0\r\n\r\n")
        return True


# ---- request content --------------------------------------------------------------------

def error_body(message, status):
    kind, code = ERROR_KINDS.get(status, ("server_error" if status >= 500 else
                                          "invalid_request_error", "http_%d" % status))
    return {"error": {"message": message, "type": kind, "code": code, "param": None}}


def validate(body):
    """None when body is a usable chat request, else what is wrong with it."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "'model' must be a non-empty string"
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return "'messages' must be a non-empty list"
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or "content" not in m:
            return "messages[%d] must be an object with 'role' and 'content'" % i
        if not (m["content"] is None or isinstance(m["content"], (str, list))):
            return "messages[%d].content must be a string, a list of parts or null" % i
    for name in ("max_tokens", "max_completion_tokens"):
        v = body.get(name)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            return "'%s' must be a positive integer" % name
    if "stream" in body and not isinstance(body["stream"], bool):
        return "'stream' must be a boolean"
    t = body.get("temperature")
    if t is not None and (not isinstance(t, (int, float)) or isinstance(t, bool)):
        return "'temperature' must be a number"
    return None


def message_text(m):
    c = m.get("content")
    if isinstance(c, str):
        return c
    if isinstance(c, list):
        return " ".join(p.get("text", "") for p in c
                        if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def last_user_text(messages):
    """The last user message's text ("" without a user message)."""
    for m in reversed(messages):
        if m.get("role") == "user":
            return message_text(m)
    return ""


def parse_faults(spec):
    """Parses "a=1;b" (optionally wrapped in [fake:...]) into a dict; ValueError if bad."""
    spec = spec.strip()
    m = DIRECTIVE_RE.fullmatch(spec)
    if m:
        spec = m.group(1)
    out = {}
    for item in spec.split(";"):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if name in FLAGS and not sep:
            out[name] = True
        elif name in VALUED and sep and value:
            if name in INTEGER:
                try:
                    out[name] = int(value)
                except ValueError:
                    raise ValueError("fake directive %s needs an integer, got %r"
                                     % (name, value)) from None
                if out[name] < 0 or (name == "status" and not 200 <= out[name] <= 599):
                    raise ValueError("fake directive %s=%s is out of range" % (name, value))
            else:
                out[name] = value
        else:
            raise ValueError("unknown or malformed fake directive %r (known: %s)" % (
                item, ", ".join(sorted(FLAGS | {n + "=" for n in VALUED}))))
    return out


def answer_text(body, text, faults):
    """(content, finish_reason) for a successful answer."""
    if "words" in faults:
        words = ["word%d" % (i + 1) for i in range(faults["words"])]
    else:
        words = ("echo: " + text).split()
    rf = body.get("response_format")
    if isinstance(rf, dict) and rf.get("type") in ("json_object", "json_schema"):
        # Cutting JSON at a word would make it invalid: a structured answer is whole.
        return json.dumps({"echo": " ".join(words)}), "stop"
    limit = body.get("max_tokens") or body.get("max_completion_tokens")
    if limit is not None and len(words) > limit:
        return " ".join(words[:limit]), "length"
    return " ".join(words), "stop"


# ---- main -------------------------------------------------------------------------------

def raise_fd_limit():
    """A thousand open requests need more descriptors than a soft limit of 1024."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = hard if hard != resource.RLIM_INFINITY else 65536
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ValueError, OSError):
        pass


async def amain(args):
    server = Server(auth=not args.no_auth, quiet=args.quiet)
    srv = await asyncio.start_server(server.handle, args.host, args.port, backlog=4096,
                                     reuse_address=True)
    port = srv.sockets[0].getsockname()[1]
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.ready_file)
    if not args.quiet:
        sys.stderr.write("fake_llm: listening on http://%s:%d (auth %s)\n" % (
            args.host, port, "required" if server.auth else "off"))
        sys.stderr.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    srv.close()
    for conn in list(server.conns):
        conn.writer.transport.abort()
    await srv.wait_closed()


def main():
    p = argparse.ArgumentParser(description="OpenAI-compatible fake LLM provider")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--ready-file")
    p.add_argument("--no-auth", action="store_true", help="do not require a bearer token")
    p.add_argument("--quiet", action="store_true", help="no request log on stderr")
    args = p.parse_args()
    raise_fd_limit()
    try:
        asyncio.run(amain(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
