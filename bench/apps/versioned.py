"""Reports the version written in version.txt beside it when it was imported, and its pid."""
import os

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "version.txt")) as f:
    VERSION = f.read().strip().encode()


def application(environ, start_response):
    body = b"%s %d\n" % (VERSION, os.getpid())
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
