"""tsgi's WSGI server (PEP 3333) on the framed transport: builds the environ from the request vars,
calls the app, streams the response with flow control.

A server module offers two functions, used by worker.py (lazy-apps: one process imports and
serves) and prototype.py (imports once, then serves in each forked worker):
  load(cfg) -> app          import the application(s); raises if they cannot be imported
  serve(cfg, conn, app)     send `ready`, serve requests until the master closes the transport

With `threads = 1` the main thread reads the socket and runs the app inline (no thread hand-off on
the hot path). With `threads = N` a reader thread demultiplexes frames to N request threads.
"""

import os
import sys
import threading
import traceback

from tsgi_transport import (
    CONTROL,
    END,
    HEAD,
    RABORT,
    RDATA,
    REQUEST,
    ClientDisconnected,
    LockedStream,
    Stream,
    _pack_hdr,
    encode_head,
    frame,
    load_app,
    parse_vars,
    runtime,
)


class Input(object):
    """wsgi.input: a streaming reader over the request body (PEP 3333 input stream)."""

    def __init__(self, stream):
        self._s = stream

    def read(self, size=-1):
        s = self._s
        parts = []
        if size is None or size < 0:
            while True:
                if s.body:
                    parts.append(s.take(len(s.body)))
                elif s.body_done:
                    break
                else:
                    s.need_body(1)
            return b"".join(parts)
        got = 0
        while got < size:
            if not s.body:
                if s.body_done:
                    break
                s.need_body(1)
                continue
            d = s.take(size - got)
            parts.append(d)
            got += len(d)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read1(self, size=-1):
        s = self._s
        if not s.body:
            s.need_body(1)
        return s.take(len(s.body) if size is None or size < 0 else size)

    def readline(self, size=-1):
        s = self._s
        parts = []
        got = 0
        limit = size if size is not None and size >= 0 else -1
        while limit < 0 or got < limit:
            if not s.body:
                if s.body_done:
                    break
                s.need_body(1)
                continue
            want = len(s.body) if limit < 0 else min(len(s.body), limit - got)
            i = s.body.find(b"\n", 0, want)
            d = s.take(want if i == -1 else i + 1)
            parts.append(d)
            got += len(d)
            if i != -1:
                break
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def readlines(self, hint=-1):
        lines = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                break
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def readable(self):
        return True

    def close(self):
        pass


class FileWrapper(object):
    """wsgi.file_wrapper: iterate a file-like object in blocks (PEP 3333 optional extension)."""

    def __init__(self, filelike, blksize=65536):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration


class Response(object):
    """start_response / write() state of one request, and the frames it sends."""

    __slots__ = ("s", "status", "headers", "head_sent")

    def __init__(self, stream):
        self.s = stream
        self.status = None
        self.headers = None
        self.head_sent = False

    def start_response(self, status, headers, exc_info=None):
        if exc_info:
            try:
                if self.head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("start_response called twice without exc_info")
        if type(status) is not str:
            raise TypeError("status must be a str, got %r" % (status,))
        if len(status) < 4 or not status[:3].isdigit() or status[3] != " ":
            raise ValueError("status must be like '200 OK', got %r" % (status,))
        for h in headers:
            if type(h) is not tuple or len(h) != 2 or type(h[0]) is not str or type(h[1]) is not str:
                raise TypeError("headers must be a list of (str, str) tuples, got %r" % (h,))
        self.status = status
        self.headers = headers
        return self.write

    def head_frame(self):
        if self.status is None:
            raise AssertionError("the app did not call start_response before sending body")
        self.head_sent = True
        return frame(HEAD, self.s.sid, encode_head(self.status, self.headers))

    def write(self, data):
        """The write() callable (PEP 3333): send data now."""
        if type(data) is not bytes:
            if isinstance(data, (bytearray, memoryview)):
                data = bytes(data)
            else:
                raise TypeError("write() takes bytes, got %s" % type(data).__name__)
        s = self.s
        if s.aborted:
            raise ClientDisconnected("client disconnected")
        out = b"" if self.head_sent else self.head_frame()
        if data:
            s.wait_window()
            if s.aborted:
                raise ClientDisconnected("client disconnected")
            s.debit(len(data))
            out += _pack_hdr(RDATA, s.sid, len(data)) + data
        if out:
            s.conn.send(out)


class App(object):
    """The loaded apps: the default one and any `mount`ed by SCRIPT_NAME."""

    def __init__(self, cfg):
        self.default = None
        self.mounts = {}
        self.manage_script_name = bool(cfg.get("manageScriptName"))
        if cfg.get("app"):
            self.default = load_app(cfg["app"])
        for m in cfg.get("mounts") or []:
            self.mounts[m["prefix"].rstrip("/")] = load_app(m)
        self.prefixes = sorted(self.mounts, key=len, reverse=True)

    def pick(self, env):
        if self.mounts:
            if self.manage_script_name:
                path = env.get("PATH_INFO", "")
                for p in self.prefixes:
                    if p and (path == p or path.startswith(p + "/")):
                        env["SCRIPT_NAME"] = p
                        env["PATH_INFO"] = path[len(p) :]
                        return self.mounts[p]
            app = self.mounts.get(env.get("SCRIPT_NAME", "").rstrip("/"))
            if app is not None:
                return app
        return self.default


class Worker(object):
    """Serves requests from the transport: inline (one slot) or with request threads."""

    def __init__(self, cfg, conn, app):
        self.cfg = cfg
        self.conn = conn
        self.app = app
        self.threads = max(1, int(cfg.get("threads") or 1))
        self.streams = {}
        self.base = {
            "wsgi.version": (1, 0),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": self.threads > 1,
            "wsgi.multiprocess": bool(cfg.get("multiprocess", True)),
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
            "wsgi.file_wrapper": FileWrapper,
        }
        self.lock = threading.Lock()

    # ---- inline mode ----

    def pump_inline(self, stream, pred):
        """Read and apply frames until pred() holds (single-slot mode)."""
        conn = self.conn
        while not pred():
            f = conn.read_frame()
            if f is None:
                stream.aborted = True
                return
            self.apply(*f)

    def serve_inline(self):
        conn = self.conn
        pending = []
        while True:
            if pending:
                t, sid, payload = pending.pop(0)
            else:
                f = conn.read_frame()
                if f is None:
                    return
                t, sid, payload = f
            if t == REQUEST:
                if self.streams:
                    pending.append((t, sid, payload))
                    continue
                s = Stream(sid, conn, self.pump_inline, None)
                self.streams[sid] = s
                try:
                    self.handle(s, payload)
                finally:
                    del self.streams[sid]
                if conn.closed:
                    return
            else:
                self.apply(t, sid, payload)

    def apply(self, t, sid, payload):
        if t == REQUEST:
            # A new request while one runs inline: cannot happen (the master respects slots).
            return
        if t == CONTROL:
            return
        s = self.streams.get(sid)
        if s is not None:
            s.feed(t, payload)

    # ---- threaded mode ----

    def pump_threaded(self, stream, pred):
        with stream.cv:
            while not pred():
                if self.conn.closed:
                    stream.aborted = True
                    return
                stream.cv.wait()

    def serve_threaded(self):
        import queue

        jobs = queue.SimpleQueue()
        conn = self.conn

        def run():
            while True:
                job = jobs.get()
                if job is None:
                    return
                s, payload = job
                try:
                    self.handle(s, payload)
                finally:
                    with self.lock:
                        self.streams.pop(s.sid, None)

        pool = [threading.Thread(target=run, name="tsgi-slot-%d" % (i + 1), daemon=True) for i in range(self.threads)]
        for th in pool:
            th.start()
        while True:
            f = conn.read_frame()
            if f is None:
                break
            t, sid, payload = f
            if t == REQUEST:
                s = LockedStream(sid, conn, self.pump_threaded, threading.Condition())
                with self.lock:
                    self.streams[sid] = s
                jobs.put((s, payload))
            elif t != CONTROL:
                with self.lock:
                    s = self.streams.get(sid)
                if s is not None:
                    with s.cv:
                        s.feed(t, payload)
                        s.cv.notify_all()
        with self.lock:
            live = list(self.streams.values())
        for s in live:
            with s.cv:
                s.aborted = True
                s.cv.notify_all()
        for _ in pool:
            jobs.put(None)
        for th in pool:
            th.join()

    # ---- one request ----

    def handle(self, s, payload):
        env = parse_vars(payload)
        env.update(self.base)
        scheme = env.get("UWSGI_SCHEME")
        if not scheme:
            https = env.get("HTTPS", "").lower()
            scheme = "https" if https in ("on", "1", "yes") else "http"
        env["wsgi.url_scheme"] = scheme
        env["wsgi.input"] = Input(s)
        resp = Response(s)
        app = self.app.pick(env)
        conn = self.conn
        sid = s.sid
        if app is None:
            self.error_response(s, resp, "--- no python application found for SCRIPT_NAME %r ---" % env.get("SCRIPT_NAME", ""))
            return
        result = None
        try:
            result = app(env, resp.start_response)
            if type(result) is list and len(result) <= 1 and not resp.head_sent:
                # The common case: one write for head, body and end.
                body = result[0] if result else b""
                if type(body) is not bytes:
                    if isinstance(body, (bytearray, memoryview)):
                        body = bytes(body)
                    else:
                        raise TypeError("the app returned %s in its iterable, expected bytes" % type(body).__name__)
                out = resp.head_frame()
                if body and not s.aborted:
                    out += _pack_hdr(RDATA, sid, len(body)) + body
                conn.send(out + _pack_hdr(END, sid, 0))
                return
            for chunk in result:
                if s.aborted:
                    break
                if chunk:
                    resp.write(chunk)
            if not resp.head_sent and not s.aborted:
                conn.send(resp.head_frame() + _pack_hdr(END, sid, 0))
            else:
                conn.send(_pack_hdr(END, sid, 0))
        except ClientDisconnected:
            conn.send(_pack_hdr(END, sid, 0))
        except Exception:
            exc = traceback.format_exc()
            sys.stderr.write("tsgi: exception in app while serving %s %s:\n%s" % (env.get("REQUEST_METHOD"), env.get("REQUEST_URI"), exc))
            sys.stderr.flush()
            if s.aborted:
                conn.send(_pack_hdr(END, sid, 0))
            elif resp.head_sent:
                msg = exc.strip().splitlines()[-1].encode("utf-8", "replace")[:1000]
                conn.send(frame(RABORT, sid, msg))
            else:
                self.error_response(s, resp, "Internal Server Error", raised=True)
        finally:
            if result is not None and hasattr(result, "close"):
                try:
                    result.close()
                except Exception:
                    sys.stderr.write("tsgi: exception in close() of the app's iterable:\n" + traceback.format_exc())

    def error_response(self, s, resp, text, raised=False):
        body = text.encode("utf-8") + b"\n"
        resp.status = "500 Internal Server Error"
        resp.headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
        # END with a one-byte payload 1 tells the master the app raised (docs/transport.md).
        end = frame(END, s.sid, b"\x01") if raised else _pack_hdr(END, s.sid, 0)
        self.conn.send(resp.head_frame() + frame(RDATA, s.sid, body) + end)


def load(cfg):
    """Import the app and any mounts (in the prototype before it forks, or in a lazy worker)."""
    return App(cfg)


def serve(cfg, conn, app):
    """Report ready and serve until the master closes the transport."""
    worker = Worker(cfg, conn, app)
    conn.control(
        {
            "type": "ready",
            "pid": os.getpid(),
            "slots": worker.threads,
            "app": cfg.get("description", ""),
            "runtime": runtime(),
        }
    )
    if worker.threads > 1:
        worker.serve_threaded()
    else:
        worker.serve_inline()
