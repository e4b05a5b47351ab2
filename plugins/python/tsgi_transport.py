"""tsgi's framed worker transport, Python side (docs/transport.md): frames, the connection to the
master, per-request streams with flow control, and the process set-up every tsgi Python process
shares. Imported by worker.py (one worker), prototype.py (imports the app once and forks workers)
and the servers (tsgi_wsgi.py; ASGI beside it). Standard library only; Python 3.8 or later.

Frames are `type u8 | stream u32le | length u32le | payload`. A request arrives as REQUEST (a uwsgi
vars block), DATA chunks and DATA_END; the response goes back as HEAD, DATA chunks and END, within
a 256 KiB credit window per stream and direction. CONTROL frames (stream 0) carry JSON objects.
"""

import importlib
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
# WebSockets (docs/transport.md, "WebSockets"): a stream opened by WS_OPEN; messages are a kind byte
# (WS_TEXT or WS_BINARY) and the bytes; WS_CLOSE is u16le code + UTF-8 reason.
WS_OPEN, WS_MESSAGE, WS_CLOSE = 0x06, 0x07, 0x08
RWS_MESSAGE, RWS_CLOSE = 0x86, 0x87
WS_TEXT, WS_BINARY = 0x01, 0x02
WINDOW = 256 * 1024
HDR = struct.Struct("<BII")
U16 = struct.Struct("<H")
U32 = struct.Struct("<I")
APP_LOAD_ERROR = 4

_pack_hdr = HDR.pack
_unpack_hdr = HDR.unpack_from


class ClientDisconnected(OSError):
    """Raised into the app when its client went away (reading wsgi.input or writing)."""


def die_with_parent(parent=None):
    """Ask Linux to SIGKILL this process when its parent dies (PR_SET_PDEATHSIG).

    The parent is the master for lazy workers and the prototype, and the prototype for the workers
    it forks (which dies with the master). If the parent is already gone (`parent` given and no
    longer our parent, or adopted by init), exit at once.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)
    except Exception:
        pass
    ppid = os.getppid()
    if ppid == 1 or (parent is not None and ppid != parent):
        os._exit(0)


def enable_stack_dump():
    """On SIGUSR2, write every thread's Python stack to stderr (the instance log): the master sends
    it before killing a worker for harakiri when harakiri-verbose is on. faulthandler writes from its
    C signal handler, so it works while the app is stuck in a blocking call."""
    try:
        import faulthandler

        faulthandler.register(signal.SIGUSR2, file=sys.stderr, all_threads=True)
    except Exception:
        pass


def process_setup():
    """What every tsgi Python process does first: die with its parent; ignore SIGINT, SIGHUP and
    SIGTERM, because the master decides when a worker stops (a terminal's Ctrl-C or systemd's SIGTERM
    to the whole group stops the master gracefully, and it retires the workers after their
    requests); dump stacks on SIGUSR2. An app may install its own SIGTERM handler (the
    harakiri-graceful-signal then reaches it)."""
    die_with_parent()
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    enable_stack_dump()


def read_config():
    """The settings the runner passed as JSON in TSGI_WORKER_CONFIG (removed from the environment),
    and the transport descriptor named by TSGI_TRANSPORT_FD (default 3)."""
    cfg = json.loads(os.environ.pop("TSGI_WORKER_CONFIG", "{}"))
    fd = int(os.environ.pop("TSGI_TRANSPORT_FD", "3"))
    return cfg, fd


def isolate_sys_path(cfg, here):
    """Make sys.path what the app expects: tsgi's own folder out, `pythonpath` entries and the
    working directory in front."""
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    for p in reversed(cfg.get("pythonpath") or []):
        sys.path.insert(0, p)
    sys.path.insert(0, os.getcwd())


def bootstrap(entry_file):
    """Start a tsgi Python process (worker.py, prototype.py): set-up, settings, the server module
    (imported while tsgi's folder is still on sys.path), then sys.path as the app expects it.
    Returns (settings, server module, the Connection on the transport descriptor)."""
    process_setup()
    cfg, fd = read_config()
    server = importlib.import_module(cfg.get("server") or "tsgi_wsgi")
    isolate_sys_path(cfg, os.path.dirname(os.path.abspath(entry_file)))
    return cfg, server, Connection(socket.socket(fileno=fd))


def load_or_exit(server, cfg, who):
    """Import the app with the server's `load`; if it cannot be imported, log the traceback and exit
    with APP_LOAD_ERROR (the master reports a boot failure)."""
    try:
        app = server.load(cfg)
    except BaseException:
        sys.stderr.write("tsgi: %s could not load the app:\n%s" % (who, traceback.format_exc()))
        sys.stderr.flush()
        os._exit(APP_LOAD_ERROR)
    sys.stdout.flush()
    return app


def load_app(spec):
    """Import one app: {'kind': 'file'|'module', 'target': ..., 'callable': ...}; `target` may end
    in `:callable` for a module. Returns the callable; raises if it cannot be imported."""
    kind, target, name = spec["kind"], spec["target"], spec.get("callable") or "application"
    if kind == "file":
        from importlib import util

        path = os.path.abspath(target)
        d = os.path.dirname(path)
        if d not in sys.path:
            sys.path.insert(0, d)
        modname = "tsgi_file_" + "".join(c if c.isalnum() else "_" for c in path)
        spec_ = util.spec_from_file_location(modname, path)
        if spec_ is None or spec_.loader is None:
            raise ImportError("cannot load %r" % target)
        mod = util.module_from_spec(spec_)
        sys.modules[modname] = mod
        spec_.loader.exec_module(mod)
    else:
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


def runtime():
    """`CPython 3.11.2`: what `ready` messages report."""
    return "%s %s" % (sys.implementation.name, ".".join(map(str, sys.version_info[:3])))


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
    """The worker's end of the transport: framed reads into one buffer, locked writes.

    Reads go into one preallocated 256 KiB buffer (`recv_into`), then the bytes read are appended to
    the frame buffer: `recv(262144)` would allocate (and shrink) 256 KiB per read, which glibc may
    serve with mmap/mremap/munmap on every request."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.rbuf = bytearray(262144)
        self.rview = memoryview(self.rbuf)
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
                n = self.sock.recv_into(self.rbuf)
            except InterruptedError:
                continue
            except OSError:
                n = 0
            if not n:
                self.closed = True
                return None
            buf += self.rview[:n]

    def send(self, data):
        with self.wlock:
            self.sock.sendall(data)

    def control(self, msg):
        self.send(frame(RCONTROL, 0, json.dumps(msg).encode("utf-8")))

    def read_available(self):
        """For select()-driven loops: one recv, then every complete frame as (type, stream,
        payload); None at end of file."""
        try:
            n = self.sock.recv_into(self.rbuf)
        except (BlockingIOError, InterruptedError):
            n = -1
        except OSError:
            n = 0
        if n == 0:
            self.closed = True
            return None
        if n > 0:
            self.buf += self.rview[:n]
        out = []
        buf = self.buf
        while len(buf) >= 9:
            t, sid, ln = _unpack_hdr(buf, 0)
            if len(buf) < 9 + ln:
                break
            out.append((t, sid, bytes(buf[9 : 9 + ln])))
            del buf[: 9 + ln]
        return out


def connect(path, token):
    """A worker forked by the prototype: connect to the master's private socket and say who we are
    (a `hello` CONTROL frame with the token the master gave the prototype for this worker)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    conn = Connection(sock)
    conn.control({"type": "hello", "token": token, "pid": os.getpid()})
    return conn


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


