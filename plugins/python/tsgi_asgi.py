"""tsgi's ASGI 3 server on the framed transport: one asyncio loop per worker serving many requests
and WebSockets at once (up to `asgi-concurrency`; the master dispatches no more than that).

A server module offers two functions, used by worker.py (lazy-apps) and prototype.py (imports once,
then serves in each forked worker):
  load(cfg) -> app          import the application; no thread, no event loop (the prototype forks after)
  serve(cfg, conn, app)     start the loop, run the lifespan startup, send `ready`, serve until the
                            master closes the transport, run the lifespan shutdown

Scopes follow the ASGI HTTP & WebSocket spec 2.5 and the lifespan spec 2.0: `http` (request body in
`http.request` events, streamed response, `http.disconnect` once the client is gone or the response
is complete; `send` after that raises ClientDisconnected, an OSError), `websocket` (connect, accept
with subprotocol and headers, receive/send text or bytes, close with code and reason, the
`websocket.http.response` denial extension), `lifespan` (startup before `ready`: `startup.failed`
is a failed boot; an app that raises on the lifespan scope is served without lifespan, said once in
the log). Standard library only; Python 3.8 or later.
"""

import asyncio
import collections
import json
import os
import struct
import sys
import traceback
from http import HTTPStatus

from tsgi_transport import (
    ABORT,
    APP_LOAD_ERROR,
    CONTROL,
    CREDIT,
    DATA,
    DATA_END,
    END,
    HDR,
    HEAD,
    RABORT,
    RCONTROL,
    RCREDIT,
    RDATA,
    REQUEST,
    RWS_CLOSE,
    RWS_MESSAGE,
    U16,
    U32,
    WINDOW,
    WS_BINARY,
    WS_CLOSE,
    WS_MESSAGE,
    WS_OPEN,
    WS_TEXT,
    ClientDisconnected,
    load_app,
    parse_vars,
    runtime,
)

_pack_hdr = HDR.pack
_unpack_hdr = HDR.unpack_from
_pack_u16 = U16.pack
_HEAD_START = struct.Struct("<HH").pack
PHRASES = {s.value: s.phrase.encode("latin-1") for s in HTTPStatus}
SPEC_VERSION = "2.5"
MAX_MESSAGE = 16 * 1024 * 1024 - 2  # a WS_MESSAGE frame's payload is at most 16 MiB (kind byte included)

_header_names = {}


def header_name(var):
    """`HTTP_X_FORWARDED_FOR` -> b"x-forwarded-for" (cached)."""
    n = _header_names.get(var)
    if n is None:
        n = var[5:].lower().replace("_", "-").encode("latin-1")
        if len(_header_names) < 1000:
            _header_names[var] = n
    return n


def encode_head(status, headers):
    """HEAD payload: u16le status, u16le reason length, reason, then the headers as a vars block
    (ASGI gives byte pairs; str is taken as latin-1)."""
    reason = PHRASES.get(status, b"")
    parts = [_HEAD_START(status, len(reason)), reason]
    for name, value in headers:
        if type(name) is not bytes:
            name = name.encode("latin-1") if isinstance(name, str) else bytes(name)
        if type(value) is not bytes:
            value = value.encode("latin-1") if isinstance(value, str) else bytes(value)
        parts.append(_pack_u16(len(name)))
        parts.append(name)
        parts.append(_pack_u16(len(value)))
        parts.append(value)
    return b"".join(parts)


def frame(t, sid, payload=b""):
    return _pack_hdr(t, sid, len(payload)) + payload


def log(text):
    sys.stderr.write(text if text.endswith("\n") else text + "\n")
    sys.stderr.flush()


def scope_base(env):
    """The keys the http and websocket scopes share, from the request vars (latin-1 str, as the
    master sends them: PEP 3333's convention)."""
    uri = env.get("REQUEST_URI", "")
    q = uri.find("?")
    root = env.get("SCRIPT_NAME", "")
    path = root + env.get("PATH_INFO", "")
    if not path.isascii():
        path = path.encode("latin-1").decode("utf-8", "replace")
    headers = []
    for k, v in env.items():
        if k[:5] == "HTTP_":
            headers.append((header_name(k), v.encode("latin-1")))
        elif k == "CONTENT_TYPE":
            headers.append((b"content-type", v.encode("latin-1")))
        elif k == "CONTENT_LENGTH":
            headers.append((b"content-length", v.encode("latin-1")))
    addr = env.get("REMOTE_ADDR")
    port = env.get("REMOTE_PORT")
    sport = env.get("SERVER_PORT", "")
    proto = env.get("SERVER_PROTOCOL", "HTTP/1.1")
    secure = env.get("UWSGI_SCHEME") == "https" or env.get("HTTPS", "").lower() in ("on", "1", "yes")
    return {
        "http_version": proto[5:] if proto[:5] == "HTTP/" else "1.1",
        "path": path,
        "raw_path": (uri[:q] if q >= 0 else uri).encode("latin-1"),
        "query_string": env.get("QUERY_STRING", "").encode("latin-1"),
        "root_path": root,
        "headers": headers,
        "client": (addr, int(port)) if addr and port and port.isdigit() else None,
        "server": (env.get("SERVER_NAME", ""), int(sport) if sport.isdigit() and sport != "0" else None),
    }, secure


class Stream(object):
    """What both scopes on a transport stream share: the ids, the two windows (request bytes the
    app consumed and not yet credited back; response bytes it may still send), and the futures a
    waiting `receive` or `send` sleeps on."""

    __slots__ = ("srv", "sid", "what", "rwait", "swait", "window", "consumed", "ended")

    def __init__(self, srv, sid, what):
        self.srv = srv
        self.sid = sid
        self.what = what
        self.rwait = None
        self.swait = None
        self.window = WINDOW
        self.consumed = 0
        self.ended = False

    def wake_receive(self):
        w = self.rwait
        if w is not None and not w.done():
            w.set_result(None)

    def wake_send(self):
        w = self.swait
        if w is not None and not w.done():
            w.set_result(None)

    def took(self, n):
        """The app consumed `n` bytes from the master: credit them back once half a window."""
        self.consumed += n
        if self.consumed >= WINDOW // 2:
            self.srv.write(_pack_hdr(RCREDIT, self.sid, 4) + U32.pack(self.consumed))
            self.consumed = 0


class Http(Stream):
    """One `http` scope: the request body as it arrives, the response within the stream's window."""

    __slots__ = (
        "chunks",
        "body_done",
        "request_sent",
        "aborted",
        "status",
        "headers",
        "started",
        "head_sent",
        "complete",
    )

    def __init__(self, srv, sid, what):
        Stream.__init__(self, srv, sid, what)
        self.chunks = []
        self.body_done = False
        self.request_sent = False
        self.aborted = False
        self.status = 0
        self.headers = None
        self.started = False
        self.head_sent = False
        self.complete = False

    def feed(self, t, payload):
        if t == DATA:
            self.chunks.append(payload)
            self.wake_receive()
        elif t == DATA_END:
            self.body_done = True
            self.wake_receive()
        elif t == CREDIT:
            self.window += U32.unpack_from(payload, 0)[0]
            self.wake_send()
        elif t == ABORT:
            self.aborted = True
            self.wake_receive()
            self.wake_send()

    async def receive(self):
        while True:
            if self.aborted or self.complete:
                return {"type": "http.disconnect"}
            chunks = self.chunks
            if chunks:
                body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                chunks.clear()
                more = not self.body_done
                self.request_sent = not more
                if more:
                    self.took(len(body))
                return {"type": "http.request", "body": body, "more_body": more}
            if self.body_done and not self.request_sent:
                self.request_sent = True
                return {"type": "http.request", "body": b"", "more_body": False}
            self.rwait = self.srv.loop.create_future()
            await self.rwait
            self.rwait = None

    async def send(self, message):
        if self.aborted:
            raise ClientDisconnected("client disconnected")
        t = message["type"]
        if t == "http.response.body":
            if not self.started:
                raise RuntimeError("http.response.body sent before http.response.start")
            if self.complete:
                return
            body = message.get("body", b"")
            more = message.get("more_body", False)
            sid = self.sid
            out = b""
            if not self.head_sent:
                self.head_sent = True
                out = frame(HEAD, sid, encode_head(self.status, self.headers))
            if body:
                if type(body) is not bytes:
                    body = bytes(body)
                while self.window <= 0 and not self.aborted:
                    if out:
                        self.srv.write(out)
                        out = b""
                    self.swait = self.srv.loop.create_future()
                    await self.swait
                    self.swait = None
                if self.aborted:
                    raise ClientDisconnected("client disconnected")
                self.window -= len(body)
                out += _pack_hdr(RDATA, sid, len(body)) + body
            if not more:
                out += _pack_hdr(END, sid, 0)
                self.complete = True
                self.ended = True
                self.wake_receive()
            if out:
                self.srv.write(out)
        elif t == "http.response.start":
            if self.started:
                raise RuntimeError("http.response.start sent twice")
            self.started = True
            self.status = int(message["status"])
            self.headers = message.get("headers") or ()
        else:
            raise RuntimeError("unexpected ASGI message %r on an http scope" % (t,))

    def failed(self, exc_text):
        """The app raised: 500 if nothing was sent, else cut the response short."""
        log("tsgi: exception in ASGI app while serving %s:\n%s" % (self.what, exc_text))
        if self.aborted or self.complete:
            return
        if not self.head_sent:
            self.error(500, b"Internal Server Error\n", raised=True)
        else:
            self.ended = True
            self.srv.write(frame(RABORT, self.sid, exc_text.strip().splitlines()[-1].encode("utf-8", "replace")[:1000]))

    def error(self, status, body, raised=False):
        """Answer with a plain-text error page; END carries a 1 when the app raised (docs/transport.md)."""
        self.head_sent = self.complete = self.ended = True
        head = encode_head(status, [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())])
        end = frame(END, self.sid, b"\x01") if raised else _pack_hdr(END, self.sid, 0)
        self.srv.write(frame(HEAD, self.sid, head) + frame(RDATA, self.sid, body) + end)

    def returned(self):
        """The app returned: a response it did not finish is an error."""
        if self.aborted or self.complete:
            return
        if not self.head_sent:
            log("tsgi: the ASGI app returned without a response while serving %s" % self.what)
            self.error(500, b"Internal Server Error\n")
        else:
            log("tsgi: the ASGI app returned without completing the response to %s" % self.what)
            self.ended = True
            self.srv.write(frame(RABORT, self.sid, b"the app returned without completing the response"))


class WebSocket(Stream):
    """One `websocket` scope: handshake (accept, close = 403, or a denial response), messages both
    ways within the stream's windows, close codes both ways."""

    __slots__ = (
        "inbox",
        "connect_sent",
        "accepted",
        "denied",
        "closed_by_client",
        "closed_by_app",
        "deny_status",
        "deny_headers",
        "deny_head_sent",
        "raised",
    )

    def __init__(self, srv, sid, what):
        Stream.__init__(self, srv, sid, what)
        self.inbox = collections.deque()
        self.connect_sent = False
        self.accepted = False
        self.denied = False
        self.closed_by_client = None  # (code, reason) once the client is gone
        self.closed_by_app = None
        self.deny_status = 0
        self.deny_headers = None
        self.deny_head_sent = False
        self.raised = False

    def feed(self, t, payload):
        if t == WS_MESSAGE:
            self.inbox.append(payload)
            self.wake_receive()
        elif t == CREDIT:
            self.window += U32.unpack_from(payload, 0)[0]
            self.wake_send()
        elif t == WS_CLOSE:
            if self.closed_by_client is None:
                code = U16.unpack_from(payload, 0)[0] if len(payload) >= 2 else 1005
                self.closed_by_client = (code, payload[2:].decode("utf-8", "replace"))
            self.wake_receive()
            self.wake_send()
        elif t == ABORT:
            if self.closed_by_client is None:
                self.closed_by_client = (1006, "")
            self.wake_receive()
            self.wake_send()

    async def receive(self):
        if not self.connect_sent:
            self.connect_sent = True
            return {"type": "websocket.connect"}
        while True:
            if self.inbox and self.closed_by_app is None:
                p = self.inbox.popleft()
                if self.closed_by_client is None:
                    self.took(len(p) - 1)
                if p[0] == WS_TEXT:
                    return {"type": "websocket.receive", "text": p[1:].decode("utf-8")}
                return {"type": "websocket.receive", "bytes": p[1:]}
            gone = self.closed_by_client or self.closed_by_app
            if gone is not None:
                return {"type": "websocket.disconnect", "code": gone[0], "reason": gone[1]}
            self.rwait = self.srv.loop.create_future()
            await self.rwait
            self.rwait = None

    async def send(self, message):
        t = message["type"]
        sid = self.sid
        if t == "websocket.send":
            if not self.accepted:
                raise RuntimeError("websocket.send before websocket.accept")
            if self.closed_by_client is not None or self.closed_by_app is not None:
                raise ClientDisconnected("the WebSocket is closed")
            text = message.get("text")
            if text is not None:
                data, kind = text.encode("utf-8"), WS_TEXT
            else:
                data, kind = message.get("bytes"), WS_BINARY
                if data is None:
                    raise TypeError("websocket.send needs text or bytes")
                if type(data) is not bytes:
                    data = bytes(data)
            if len(data) > MAX_MESSAGE:
                raise ValueError("WebSocket message of %d bytes is larger than %d" % (len(data), MAX_MESSAGE))
            while self.window <= 0 and self.closed_by_client is None:
                self.swait = self.srv.loop.create_future()
                await self.swait
                self.swait = None
            if self.closed_by_client is not None:
                raise ClientDisconnected("the WebSocket is closed")
            self.window -= len(data)
            self.srv.write(_pack_hdr(RWS_MESSAGE, sid, len(data) + 1) + (b"\x01" if kind == WS_TEXT else b"\x02") + data)
        elif t == "websocket.accept":
            if self.accepted or self.denied:
                raise RuntimeError("websocket.accept after the handshake was answered")
            if self.closed_by_client is not None:
                raise ClientDisconnected("the client left during the handshake")
            headers = list(message.get("headers") or ())
            sub = message.get("subprotocol")
            if sub:
                headers.append((b"sec-websocket-protocol", sub.encode("latin-1")))
            self.accepted = True
            self.srv.write(frame(HEAD, sid, encode_head(101, headers)))
        elif t == "websocket.close":
            code = message.get("code") or 1000
            reason = message.get("reason") or ""
            if self.accepted:
                if self.closed_by_app is None and self.closed_by_client is None:
                    self.closed_by_app = (code, reason)
                    self.srv.write(frame(RWS_CLOSE, sid, _pack_u16(code) + reason.encode("utf-8")))
                elif self.closed_by_app is None:
                    self.closed_by_app = (code, reason)
                self.wake_receive()
            elif not self.denied:
                # Before the handshake completes: refuse it with 403 (the spec's rule).
                self.denied = True
                self.closed_by_app = (code, reason)
                self.srv.write(frame(HEAD, sid, encode_head(403, [(b"content-length", b"0")])))
        elif t == "websocket.http.response.start":
            if self.accepted or self.denied:
                raise RuntimeError("websocket.http.response.start after the handshake was answered")
            self.denied = True
            self.closed_by_app = (1000, "")
            self.deny_status = int(message["status"])
            self.deny_headers = message.get("headers") or ()
        elif t == "websocket.http.response.body":
            if self.deny_status == 0:
                raise RuntimeError("websocket.http.response.body before websocket.http.response.start")
            out = b""
            if not self.deny_head_sent:
                self.deny_head_sent = True
                out = frame(HEAD, sid, encode_head(self.deny_status, self.deny_headers))
            body = message.get("body", b"")
            if body:
                out += frame(RDATA, sid, bytes(body))
            self.srv.write(out)
        else:
            raise RuntimeError("unexpected ASGI message %r on a websocket scope" % (t,))

    def failed(self, exc_text):
        log("tsgi: exception in ASGI app while serving WebSocket %s:\n%s" % (self.what, exc_text))
        self.raised = True
        if self.accepted:
            if self.closed_by_app is None and self.closed_by_client is None:
                self.closed_by_app = (1011, "")
                self.srv.write(frame(RWS_CLOSE, self.sid, _pack_u16(1011)))
        elif not self.denied and self.closed_by_client is None:
            self.denied = True
            self.refuse(500)

    def returned(self):
        if self.accepted or self.closed_by_client is not None:
            return
        if self.deny_status and not self.deny_head_sent:
            self.srv.write(frame(HEAD, self.sid, encode_head(self.deny_status, self.deny_headers)))
        elif not self.denied:
            log("tsgi: the ASGI app returned without accepting or closing the WebSocket %s" % self.what)
            self.refuse(500)

    def refuse(self, status):
        body = b"%d %s\n" % (status, PHRASES.get(status, b""))
        head = encode_head(status, [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"%d" % len(body))])
        self.srv.write(frame(HEAD, self.sid, head) + frame(RDATA, self.sid, body))


class Lifespan(object):
    """The lifespan scope of one worker: startup before `ready`, shutdown once the master retired it."""

    def __init__(self, app, state, worker_id):
        self.app = app
        self.state = state
        self.worker_id = worker_id
        self.inbox = asyncio.Queue()
        self.outbox = asyncio.Queue()
        self.task = None
        self.error = None
        self.active = False

    async def _run(self):
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        try:
            await self.app(scope, self.inbox.get, self.outbox.put)
        except asyncio.CancelledError:
            raise
        except BaseException:
            self.error = traceback.format_exc()
        finally:
            self.outbox.put_nowait(None)

    async def startup(self):
        """Returns None when serving may start, else the failure text (a failed boot)."""
        self.task = asyncio.ensure_future(self._run())
        await self.inbox.put({"type": "lifespan.startup"})
        msg = await self.outbox.get()
        if msg is None:
            # The app raised on (or returned from) the lifespan scope: it does not support it.
            if str(self.worker_id) == "1":
                why = self.error.strip().splitlines()[-1] if self.error else "it returned at once"
                log("tsgi: the ASGI app does not support the lifespan protocol (%s); serving without it" % why)
            return None
        t = msg.get("type")
        if t == "lifespan.startup.complete":
            self.active = True
            return None
        if t == "lifespan.startup.failed":
            await asyncio.wait([self.task], timeout=1.0)
            text = msg.get("message") or ""
            if self.error:
                text = (text + "\n" if text else "") + self.error
            return text or "lifespan.startup.failed"
        return "unexpected lifespan message %r during startup" % (t,)

    async def shutdown(self):
        if not self.active:
            return
        await self.inbox.put({"type": "lifespan.shutdown"})
        msg = await self.outbox.get()
        if msg is None:
            if self.error:
                log("tsgi: worker %s: the ASGI app raised during lifespan shutdown:\n%s" % (self.worker_id, self.error))
        elif msg.get("type") == "lifespan.shutdown.failed":
            log("tsgi: worker %s: lifespan shutdown failed: %s" % (self.worker_id, msg.get("message") or ""))


class Protocol(asyncio.BufferedProtocol):
    """Reads frames off the transport socket and hands them to the server. Reads go into one
    preallocated buffer (asyncio's plain protocols `recv` 256 KiB each time, which glibc may serve
    with an mmap/munmap per read)."""

    def __init__(self, srv):
        self.srv = srv
        self.buf = b""
        self.rbuf = bytearray(262144)
        self.rview = memoryview(self.rbuf)

    def connection_made(self, transport):
        self.srv.transport = transport

    def get_buffer(self, sizehint):
        return self.rbuf

    def buffer_updated(self, nbytes):
        self.data_received(bytes(self.rview[:nbytes]))

    def data_received(self, data):
        if self.buf:
            data = self.buf + data
        n = len(data)
        o = 0
        on_frame = self.srv.on_frame
        while n - o >= 9:
            t, sid, ln = _unpack_hdr(data, o)
            end = o + 9 + ln
            if end > n:
                break
            on_frame(t, sid, data[o + 9 : end])
            o = end
        self.buf = data[o:] if o < n else b""

    def connection_lost(self, exc):
        self.srv.on_eof()


class Server(object):
    """The worker's asyncio side: streams by id, coalesced writes, the lifespan."""

    def __init__(self, cfg, sock, app):
        self.cfg = cfg
        self.sock = sock
        self.app = app
        self.worker_id = cfg.get("workerId", "?")
        self.loop = None
        self.transport = None
        self.streams = {}
        self.tasks = set()
        self.out = []
        self.flushing = False
        self.eof = None
        self.state = {}

    def write(self, data):
        self.out.append(data)
        if not self.flushing:
            self.flushing = True
            self.loop.call_soon(self.flush)

    def flush(self):
        self.flushing = False
        out = self.out
        if not out or self.transport is None or self.transport.is_closing():
            out.clear()
            return
        self.transport.write(out[0] if len(out) == 1 else b"".join(out))
        out.clear()

    def on_frame(self, t, sid, payload):
        if t == REQUEST:
            self.start(Http, "http", sid, payload)
        elif t == WS_OPEN:
            self.start(WebSocket, "websocket", sid, payload)
        elif t != CONTROL:
            s = self.streams.get(sid)
            if s is not None:
                s.feed(t, payload)

    def start(self, kind, scope_type, sid, payload):
        env = parse_vars(payload)
        base, secure = scope_base(env)
        scope = {
            "type": scope_type,
            "asgi": {"version": "3.0", "spec_version": SPEC_VERSION},
            "scheme": ("https" if secure else "http") if scope_type == "http" else ("wss" if secure else "ws"),
            "state": self.state.copy(),
        }
        scope.update(base)
        what = "%s %s" % (env.get("REQUEST_METHOD", "GET"), env.get("REQUEST_URI", ""))
        if scope_type == "http":
            scope["method"] = env.get("REQUEST_METHOD", "GET")
        else:
            offered = env.get("HTTP_SEC_WEBSOCKET_PROTOCOL", "")
            scope["subprotocols"] = [p.strip() for p in offered.split(",") if p.strip()]
            scope["extensions"] = {"websocket.http.response": {}}
        s = kind(self, sid, what)
        self.streams[sid] = s
        task = self.loop.create_task(self.run(s, scope))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self, s, scope):
        try:
            await self.app(scope, s.receive, s.send)
        except ClientDisconnected:
            pass
        except asyncio.CancelledError:
            pass
        except BaseException:
            s.failed(traceback.format_exc())
        else:
            s.returned()
        finally:
            del self.streams[s.sid]
            if not s.ended:
                # END with a one-byte payload 1: the app raised (the master counts an app exception).
                self.write(frame(END, s.sid, b"\x01") if getattr(s, "raised", False) else _pack_hdr(END, s.sid, 0))

    def on_eof(self):
        if self.eof is not None and not self.eof.done():
            self.eof.set_result(None)

    async def main(self):
        loop = self.loop
        self.eof = loop.create_future()
        await loop.create_unix_connection(lambda: Protocol(self), sock=self.sock)
        lifespan = Lifespan(self.app, self.state, self.worker_id)
        failure = await lifespan.startup()
        if failure is not None:
            log("tsgi: worker %s: ASGI lifespan startup failed:\n%s" % (self.worker_id, failure))
            return APP_LOAD_ERROR
        ready = {
            "type": "ready",
            "pid": os.getpid(),
            "slots": int(self.cfg.get("concurrency") or 1),
            "app": self.cfg.get("description", ""),
            "runtime": runtime(),
        }
        self.write(frame(RCONTROL, 0, json.dumps(ready).encode("utf-8")))
        await self.eof
        # The master closed the transport: it retired this worker once its streams were done (or it
        # is gone). Stop what still runs, then the lifespan shutdown.
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=1.0)
        await lifespan.shutdown()
        return 0


def load(cfg):
    """Import the ASGI app (in the prototype before it forks, or in a lazy worker)."""
    return load_app(cfg["app"])


def serve(cfg, conn, app):
    """Run the worker's event loop: lifespan startup, `ready`, requests until the master closes the
    transport, lifespan shutdown. A failed startup exits with APP_LOAD_ERROR (a failed boot)."""
    srv = Server(cfg, conn.sock, app)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    srv.loop = loop
    try:
        code = loop.run_until_complete(srv.main())
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    if code:
        os._exit(code)
