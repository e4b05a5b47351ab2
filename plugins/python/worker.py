"""tsgi Python worker (lazy-apps): imports the app itself and serves it over tsgi's framed transport.

The master starts this file with the transport socket on file descriptor 3 (docs/transport.md) and
the worker's settings as JSON in the TSGI_WORKER_CONFIG environment variable. `server` in the
settings names the server module (default `tsgi_wsgi`); it is imported before the app, while this
folder is still on sys.path. Standard library only; Python 3.8 or later.

Without lazy-apps the master starts prototype.py instead, which imports the app once and forks
workers that run the same server.
"""

import importlib
import os
import socket
import sys
import traceback

import tsgi_transport as transport


def main():
    transport.process_setup()
    cfg, fd = transport.read_config()
    server = importlib.import_module(cfg.get("server") or "tsgi_wsgi")
    transport.isolate_sys_path(cfg, os.path.dirname(os.path.abspath(__file__)))
    conn = transport.Connection(socket.socket(fileno=fd))
    try:
        app = server.load(cfg)
    except BaseException:
        sys.stderr.write("tsgi: worker %s could not load the app:\n%s" % (cfg.get("workerId", "?"), traceback.format_exc()))
        sys.stderr.flush()
        os._exit(transport.APP_LOAD_ERROR)
    sys.stdout.flush()
    server.serve(cfg, conn, app)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
