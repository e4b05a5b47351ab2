"""Demo ASGI app (standard library only): a chat room over WebSockets.

GET / is a page that joins the room; every text message a client sends is sent to everyone in the
room. GET /room says how many are in it. The room lives in the worker's memory, so the vassal runs
one worker (asgi-concurrency bounds how many can join).
"""

import json

PAGE = b"""<!doctype html>
<meta charset="utf-8"><title>tsgi chat</title>
<style>body{font:16px sans-serif;max-width:40em;margin:2em auto}#log{height:20em;overflow:auto;border:1px solid #ccc;padding:.5em}</style>
<h1>tsgi chat</h1><div id="log"></div>
<form id="f"><input id="m" autocomplete="off" size="50" autofocus> <button>send</button></form>
<script>
const log = document.getElementById('log');
const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/chat');
const say = (t) => { const p = document.createElement('div'); p.textContent = t; log.append(p); log.scrollTop = 1e9; };
ws.onmessage = (e) => say(e.data);
ws.onclose = (e) => say('(closed: ' + e.code + ')');
document.getElementById('f').onsubmit = (e) => { e.preventDefault(); const m = document.getElementById('m'); ws.send(m.value); m.value = ''; };
</script>
"""

ROOM = set()


async def broadcast(text):
    for send in list(ROOM):
        try:
            await send({"type": "websocket.send", "text": text})
        except OSError:
            ROOM.discard(send)


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif scope["type"] == "http":
        if scope["path"] == "/room":
            body, ctype = json.dumps({"clients": len(ROOM)}).encode(), b"application/json"
        else:
            body, ctype = PAGE, b"text/html; charset=utf-8"
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", ctype)]})
        await send({"type": "http.response.body", "body": body})
    elif scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        ROOM.add(send)
        await broadcast("someone joined (%d here)" % len(ROOM))
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("text"):
                    await broadcast(message["text"])
        finally:
            ROOM.discard(send)
            await broadcast("someone left (%d here)" % len(ROOM))
