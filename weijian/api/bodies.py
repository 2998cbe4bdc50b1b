"""JSON bodies: a request's nested too deep is refused before any parser recurses into it
(Python's parser would run out of stack, a RecursionError and a 500, on ``[[[[…`` 100,000
deep); a large answer is written by orjson."""

from __future__ import annotations

import orjson
from fastapi.responses import Response

from weijian.text import MAX_JSON_DEPTH, json_depth_exceeded


def json_response(value) -> Response:
    """A large JSON answer (a city's statistics, every unit's figures) written by orjson:
    FastAPI's encoder walks every value in Python first (0.1 s for a city's statistics)."""
    return Response(orjson.dumps(value), media_type="application/json")


class JsonDepthLimit:
    """ASGI middleware: the body of a JSON request is read, its nesting counted
    (:func:`weijian.text.json_depth_exceeded`), and either refused with 400 ``body.too_deep``
    or handed on unchanged."""

    def __init__(self, app, limit: int = MAX_JSON_DEPTH):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message]), send)
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if json_depth_exceeded(body, self.limit):
            await _too_deep(send, self.limit)
            return
        await self.app(scope, _replay([{"type": "http.request", "body": body}], receive), send)


def _is_json(scope) -> bool:
    for name, value in scope.get("headers") or ():
        if name == b"content-type":
            kind = value.split(b";")[0].strip().lower()
            return kind == b"application/json" or kind.endswith(b"+json")
    return False


def _replay(messages: list[dict], receive=None):
    async def replayed():
        if messages:
            return messages.pop(0)
        if receive is not None:
            return await receive()  # what follows the body: a disconnect
        return {"type": "http.disconnect"}

    return replayed


async def _too_deep(send, limit: int) -> None:
    content = orjson.dumps(
        {
            "code": "body.too_deep",
            "message": f"请求内容的 JSON 嵌套过深（超过 {limit} 层），请检查后重试",
            "detail": f"the JSON body nests deeper than {limit} levels",
            "hint": "send a flatter JSON document",
            "error": "InputError",
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})
