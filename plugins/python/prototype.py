"""tsgi Python prototype: imports the app once, then forks workers on the master's request.

uWSGI loads the app in its master and forks workers from it; tsgi's master is a Node process, so
one Python process per config generation plays that part (NGINX Unit's "prototype"). Forked
workers share the imported code and data copy-on-write, and start in milliseconds.

The master starts this file with a control socket on file descriptor 3 and the settings as JSON in
TSGI_WORKER_CONFIG (`rendezvous`: the master's private socket forked workers connect to). Control
messages are CONTROL frames of tsgi's framed transport (docs/transport.md, "The prototype"):

  master -> prototype   {"type": "fork", "worker": 3, "token": "..."}
  prototype -> master   {"type": "ready", "pid": ..., "app": ..., "runtime": ...}   app imported
                        {"type": "forked", "worker": 3, "token": "...", "pid": 1234}
                        {"type": "fork-failed", "worker": 3, "token": "...", "error": "..."}
                        {"type": "exit", "pid": 1234, "code": 0, "signal": null}     a worker was reaped

A forked worker connects to `rendezvous`, sends {"type": "hello", "token": ..., "pid": ...} and then
serves like any worker. The prototype starts no thread and no event loop (forking a threaded
process is unsafe); it reaps its workers and reports their exits; when the master closes the
control socket it forks no more, waits for its workers to exit, and exits.
"""

import gc
import json
import os
import select
import signal
import socket
import sys
import traceback

import tsgi_transport as transport


def signal_name(n):
    try:
        return signal.Signals(n).name
    except ValueError:
        return "SIG%d" % n


class Prototype(object):
    def __init__(self, cfg, server, app, control):
        self.cfg = cfg
        self.server = server
        self.app = app
        self.control = control
        self.children = set()
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)

    def run(self):
        signal.set_wakeup_fd(self.wake_w.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        self.control.control(
            {
                "type": "ready",
                "pid": os.getpid(),
                "app": self.cfg.get("description", ""),
                "runtime": transport.runtime(),
            }
        )
        listening = True
        while listening or self.children:
            watch = [self.control.sock, self.wake_r] if listening else [self.wake_r]
            try:
                ready, _, _ = select.select(watch, [], [], 1.0)
            except InterruptedError:
                ready = []
            if self.wake_r in ready:
                try:
                    while self.wake_r.recv(4096):
                        pass
                except (BlockingIOError, InterruptedError):
                    pass
            self.reap(listening)
            if listening and self.control.sock in ready:
                frames = self.control.read_available()
                if frames is None:
                    listening = False
                    continue
                for t, _sid, payload in frames:
                    if t == transport.CONTROL:
                        self.command(json.loads(payload.decode("utf-8")))

    def command(self, msg):
        if msg.get("type") != "fork":
            return
        worker, token = msg.get("worker"), msg.get("token")
        try:
            pid = os.fork()
        except OSError as err:
            self.control.control({"type": "fork-failed", "worker": worker, "token": token, "error": str(err)})
            return
        if pid == 0:
            self.child(worker, token)
        self.children.add(pid)
        self.control.control({"type": "forked", "worker": worker, "token": token, "pid": pid})

    def reap(self, report):
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            self.children.discard(pid)
            if not report:
                continue
            if os.WIFSIGNALED(status):
                msg = {"type": "exit", "pid": pid, "code": None, "signal": signal_name(os.WTERMSIG(status))}
            else:
                msg = {"type": "exit", "pid": pid, "code": os.WEXITSTATUS(status), "signal": None}
            try:
                self.control.control(msg)
            except OSError:
                pass

    def child(self, worker, token):
        """In the forked worker: drop the prototype's descriptors and handlers, connect, serve."""
        code = 1
        try:
            parent = os.getppid()
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            self.control.sock.close()
            self.wake_r.close()
            self.wake_w.close()
            transport.die_with_parent(parent)
            transport.enable_stack_dump()
            conn = transport.connect(self.cfg["rendezvous"], token)
            self.server.serve(dict(self.cfg, workerId=worker), conn, self.app)
            code = 0
        except BaseException:
            sys.stderr.write("tsgi: worker %s failed:\n%s" % (worker, traceback.format_exc()))
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)


def main():
    cfg, server, control = transport.bootstrap(__file__)
    app = transport.load_or_exit(server, cfg, "the prototype")
    # Objects that exist now are shared with every worker: keep the collector from touching them
    # (each touch would copy a page into the worker).
    gc.collect()
    gc.freeze()
    Prototype(cfg, server, app, control).run()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
