"""tsgi Python worker: serves a WSGI application (PEP 3333) over tsgi's framed transport.

The master starts this file with the transport socket on file descriptor 3 (docs/transport.md) and
the worker's settings as JSON in the TSGI_WORKER_CONFIG environment variable. Standard library
only; Python 3.8 or later.

Frames are `type u8 | stream u32le | length u32le | payload`. A request arrives as REQUEST (a uwsgi
vars block), DATA chunks and DATA_END; the response goes back as HEAD, DATA chunks and END, within
a 256 KiB credit window per stream and direction.

With `threads = 1` the main thread reads the socket and runs the app inline (no thread hand-off on
the hot path). With `threads = N` a reader thread demultiplexes frames to N request threads.
"""

import io
import json
import os
import signal
import socket
import struct
import sys
import threading
import traceback

REQUEST, DATA, DATA_END, ABORT, CREDIT, CONTROL = 0x01, 0x02, 0x03, 0x04, 0x05, 0x10
HEAD, RDATA, END, RABORT, RCREDIT, RCONTROL = 0x81, 0x82, 0x83, 0x84, 0x85, 0x90
WINDOW = 256 * 1024
HDR = struct.Struct("<BII")
U16 = struct.Struct("<H")
U32 = struct.Struct("<I")
APP_LOAD_ERROR = 4

_pack_hdr = HDR.pack
_unpack_hdr = HDR.unpack_from


class ClientDisconnected(OSError):
    """Raised into the app when its client went away (reading wsgi.input or writing)."""


def die_with_parent():
    """Ask Linux to SIGKILL this process when the master dies (PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)
        if os.getppid() == 1:
            os._exit(0)
    except Exception:
        pass


def parse_vars(b):
    """Decode a uwsgi vars block into a dict of latin-1 str (PEP 3333 native strings).

    The block is decoded once; keys and values are slices of that string (lengths are u16le).
    """
    s = b.decode("latin-1")
    env = {}
    i = 0
    n = len(b)
    while i < n:
        j = i + 2 + (b[i] | (b[i + 1] << 8))
        vl = b[j] | (b[j + 1] << 8)
        env[s[i + 2 : j]] = s[j + 2 : j + 2 + vl]
        i = j + 2 + vl
    return env


def encode_head(status, headers):
    """HEAD payload: u16le status, u16le reason length, reason, then headers as a vars block."""
    code = int(status[:3])
    reason = status[4:].encode("latin-1")
    parts = [struct.pack("<HH", code, len(reason)), reason]
    for name, value in headers:
        k = name.encode("latin-1")
        v = value.encode("latin-1")
        parts.append(U16.pack(len(k)))
        parts.append(k)
        parts.append(U16.pack(len(v)))
        parts.append(v)
    return b"".join(parts)


def frame(t, sid, payload=b""):
    return _pack_hdr(t, sid, len(payload)) + payload


class Connection:
    """The worker's end of the transport: framed reads into one buffer, locked writes."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.wlock = threading.Lock()
        self.closed = False

    def read_frame(self):
        """Next (type, stream, payload bytes), or None at end of file."""
        buf = self.buf
        while True:
            if len(buf) >= 9:
                t, sid, ln = _unpack_hdr(buf, 0)
                end = 9 + ln
                if len(buf) >= end:
                    payload = bytes(buf[9:end])
                    del buf[:end]
                    return t, sid, payload
            try:
                data = self.sock.recv(262144)
            except InterruptedError:
                continue
            except OSError:
                data = b""
            if not data:
                self.closed = True
                return None
            buf += data

    def send(self, data):
        with self.wlock:
            self.sock.sendall(data)

    def control(self, msg):
        self.send(frame(RCONTROL, 0, json.dumps(msg).encode("utf-8")))


class Stream:
    """One request on the worker: its body buffer, windows and abort flag."""

    __slots__ = (
        "sid",
        "conn",
        "pump",
        "body",
        "body_done",
        "consumed",
        "send_window",
        "aborted",
        "cv",
    )

    def __init__(self, sid, conn, pump, cv):
        self.sid = sid
        self.conn = conn
        self.pump = pump  # callable(stream, predicate): wait until predicate() is true
        self.body = bytearray()
        self.body_done = False
        self.consumed = 0  # body bytes consumed since the last CREDIT
        self.send_window = WINDOW
        self.aborted = False
        self.cv = cv

    def feed(self, t, payload):
        """Apply a master frame to this stream (called by whoever reads the socket)."""
        if t == DATA:
            self.body += payload
        elif t == DATA_END:
            self.body_done = True
        elif t == ABORT:
            self.aborted = True
        elif t == CREDIT:
            self.send_window += U32.unpack_from(payload, 0)[0]

    def need_body(self, n):
        """Block until at least n body bytes are buffered or the body ended (or the client left)."""
        if len(self.body) < n and not self.body_done and not self.aborted:
            self.pump(self, lambda: len(self.body) >= n or self.body_done or self.aborted)
        if self.aborted:
            raise ClientDisconnected("client disconnected")

    def take(self, n):
        """Remove and return up to n buffered body bytes, crediting the master as they are consumed."""
        body = self.body
        if n >= len(body):
            data = bytes(body)
            body.clear()
        else:
            data = bytes(body[:n])
            del body[:n]
        if data:
            self.consumed += len(data)
            if self.consumed >= WINDOW // 2 and not self.body_done:
                self.conn.send(_pack_hdr(RCREDIT, self.sid, 4) + U32.pack(self.consumed))
                self.consumed = 0
        return data

    def debit(self, n):
        """Spend n bytes of the response window."""
        self.send_window -= n

    def wait_window(self):
        """Block while the response window is used up (the client is slow)."""
        if self.send_window <= 0 and not self.aborted:
            self.pump(self, lambda: self.send_window > 0 or self.aborted)


class LockedStream(Stream):
    """A stream shared by the reader thread and a request thread: state changes under its condition."""

    __slots__ = ()

    def take(self, n):
        with self.cv:
            return Stream.take(self, n)

    def debit(self, n):
        with self.cv:
            self.send_window -= n


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
            self.default = load(cfg["app"])
        for m in cfg.get("mounts") or []:
            self.mounts[m["prefix"].rstrip("/")] = load(m)
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


def load(spec):
    """Import one app: {'kind': 'file'|'module', 'target': ..., 'callable': ...}."""
    kind, target, name = spec["kind"], spec["target"], spec.get("callable") or "application"
    if kind == "file":
        import importlib.util

        path = os.path.abspath(target)
        d = os.path.dirname(path)
        if d not in sys.path:
            sys.path.insert(0, d)
        modname = "tsgi_file_" + "".join(c if c.isalnum() else "_" for c in path)
        spec_ = importlib.util.spec_from_file_location(modname, path)
        if spec_ is None or spec_.loader is None:
            raise ImportError("cannot load wsgi-file %r" % target)
        mod = importlib.util.module_from_spec(spec_)
        sys.modules[modname] = mod
        spec_.loader.exec_module(mod)
    else:
        import importlib

        if ":" in target:
            target, name = target.split(":", 1)
        mod = importlib.import_module(target)
    app = mod
    for part in name.split("."):
        app = getattr(app, part, None)
        if app is None:
            raise AttributeError("%s has no callable %r" % (spec["target"], name))
    if not callable(app):
        raise TypeError("%r in %s is not callable" % (name, spec["target"]))
    return app


class Worker(object):
    """Serves requests from the transport: inline (one slot) or with request threads."""

    def __init__(self, cfg, conn):
        self.cfg = cfg
        self.conn = conn
        self.app = App(cfg)
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


def main():
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    cfg = json.loads(os.environ.pop("TSGI_WORKER_CONFIG", "{}"))
    fd = int(os.environ.pop("TSGI_TRANSPORT_FD", "3"))
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    for p in reversed(cfg.get("pythonpath") or []):
        sys.path.insert(0, p)
    sys.path.insert(0, os.getcwd())
    sock = socket.socket(fileno=fd)
    conn = Connection(sock)
    try:
        worker = Worker(cfg, conn)
    except BaseException:
        sys.stderr.write("tsgi: worker %s could not load the app:\n%s" % (cfg.get("workerId", "?"), traceback.format_exc()))
        sys.stderr.flush()
        os._exit(APP_LOAD_ERROR)
    sys.stdout.flush()
    conn.control(
        {
            "type": "ready",
            "pid": os.getpid(),
            "slots": worker.threads,
            "app": cfg.get("description", ""),
            "runtime": "%s %s" % (sys.implementation.name, ".".join(map(str, sys.version_info[:3]))),
        }
    )
    if worker.threads > 1:
        worker.serve_threaded()
    else:
        worker.serve_inline()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
