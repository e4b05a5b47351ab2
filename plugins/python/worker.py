"""tsgi Python worker (lazy-apps): imports the app itself and serves it over tsgi's framed transport.

The master starts this file with the transport socket on file descriptor 3 (docs/transport.md) and
the worker's settings as JSON in the TSGI_WORKER_CONFIG environment variable. `server` in the
settings names the server module (default `tsgi_wsgi`); it is imported before the app, while this
folder is still on sys.path. Standard library only; Python 3.8 or later.

Without lazy-apps the master starts prototype.py instead, which imports the app once and forks
workers that run the same server.
"""

import os
import sys

import tsgi_transport as transport


def main():
    cfg, server, conn = transport.bootstrap(__file__)
    app = transport.load_or_exit(server, cfg, "worker %s" % cfg.get("workerId", "?"))
    server.serve(cfg, conn, app)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
