"""tsgi app console: an interactive Python interpreter with the instance's app imported.

The pty plugin runs this file in a fresh pseudo-terminal for each console client, with the same
interpreter, working directory, environment and settings (JSON in TSGI_WORKER_CONFIG) as the
workers. The app's callable is bound to `application`, its module to `app_module` (mounted apps
to `mounts`, by prefix).
Ctrl-C interrupts the running statement, Ctrl-D ends the console. Standard library only.
"""

import code
import os
import sys
import traceback

import tsgi_transport as transport


def main():
    cfg, _fd = transport.read_config()
    server = __import__(cfg.get("server") or "tsgi_wsgi")
    transport.isolate_sys_path(cfg, os.path.dirname(os.path.abspath(__file__)))
    ns = {"__name__": "__console__", "__doc__": None}
    what = cfg.get("description") or "app"
    try:
        app = server.load(cfg)
        ns["application"] = getattr(app, "default", app)
        ns["mounts"] = dict(getattr(app, "mounts", {}))
        ns["app_module"] = sys.modules.get(getattr(ns["application"], "__module__", None))
        loaded = "%s loaded as `application` (its module: `app_module`)" % what
    except BaseException:
        traceback.print_exc()
        loaded = "%s could NOT be loaded (traceback above)" % what
    banner = "tsgi console (Python %s, pid %d): %s\nCtrl-D ends the console." % (
        sys.version.split()[0],
        os.getpid(),
        loaded,
    )
    try:
        import readline  # noqa: F401  (line editing and history when available)
    except ImportError:
        pass
    code.interact(banner=banner, local=ns, exitmsg="")


if __name__ == "__main__":
    main()
