"""The notes demo vassal: a shared board of short notes (standard library only).

GET / shows the board, POST / with a form field `text` adds a note, GET /api returns JSON.
Notes live in the worker's memory: a reload (touch notes.ini) starts a fresh board.
"""
import html
import json
import threading
import time
from urllib.parse import parse_qs

_notes = []
_lock = threading.Lock()
_MAX_BODY = 4096


def _page():
    with _lock:
        items = "".join(
            f"<li>{html.escape(text)} <small>{time.strftime('%H:%M:%S', time.localtime(at))}</small></li>"
            for at, text in reversed(_notes)
        )
    return (
        "<!doctype html><title>notes</title><h1>notes</h1>"
        '<form method="post"><input name="text" maxlength="200" autofocus> <button>add</button></form>'
        f"<ul>{items}</ul>"
    ).encode()


def application(environ, start_response):
    method = environ["REQUEST_METHOD"]
    path = environ.get("PATH_INFO", "/")
    if path == "/api":
        with _lock:
            body = json.dumps([{"at": at, "text": text} for at, text in _notes]).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
    if path != "/":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    if method == "POST":
        size = int(environ.get("CONTENT_LENGTH") or 0)
        form = parse_qs(environ["wsgi.input"].read(min(size, _MAX_BODY)).decode("utf-8", "replace"))
        text = (form.get("text") or [""])[0].strip()[:200]
        if text:
            with _lock:
                _notes.append((time.time(), text))
                del _notes[:-100]
        start_response("303 See Other", [("Location", "/"), ("Content-Length", "0")])
        return [b""]
    body = _page()
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]
