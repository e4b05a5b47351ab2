"""An I/O-bound app: each request waits 50 ms (a database or an upstream call), then answers."""
import time


def application(environ, start_response):
    time.sleep(0.05)
    body = b"done\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
