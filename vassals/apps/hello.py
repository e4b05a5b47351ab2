"""The demo vassal's app: a small WSGI app using only Python's standard library."""
import json
import os
import time


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/json":
        body = json.dumps(
            {"app": "hello", "pid": os.getpid(), "time": time.time(), "method": environ["REQUEST_METHOD"]}
        ).encode()
        ctype = "application/json"
    elif path == "/echo":
        body = environ["wsgi.input"].read()
        ctype = environ.get("CONTENT_TYPE") or "application/octet-stream"
    else:
        body = b"Hello from tsgi!\n"
        ctype = "text/plain; charset=utf-8"
    start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]
