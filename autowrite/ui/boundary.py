"""The HTTP boundary: what a client may send before Gradio sees it.

Gradio answers some malformed calls with a bare `{"error": null}` before any handler
runs (fewer values than parameters), calls the page's private handlers when a client
names them, and stores any upload. This ASGI middleware answers those itself, with a
message naming the problem:

- a call to a named endpoint brings a JSON list of at most as many values as it has
  parameters; missing trailing values are null, which every endpoint reads as its default;
- only the public endpoints can be called by name; the page's own events go through the
  queue by number, as Gradio's front end sends them;
- uploads are refused: the app has no upload field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]

# Why 256 KB: the largest valid call is an 8,000-character prompt, at most 6 bytes a
# character as JSON escapes, plus a few short fields.
MAX_BODY_BYTES = 256 * 1024
# Gradio's routes that call a function named in the path.
_NAMED_CALL = re.compile(r"/gradio_api/(?:call/v2|call|run|api)/(?P<name>[^/]+)/?$")
_UPLOAD = re.compile(r"/gradio_api/upload/?$")
_QUEUE_JOIN = re.compile(r"/gradio_api/queue/join/?$")
# Session hashes the boundary gives REST calls that sent none: ANONYMOUS, the client's
# host, "/", a random part. Clients may not send one that starts so.
ANONYMOUS = "anon:"


def caller(session_hash: str | None) -> str:
    """The key fair admission shares the machine by: the session, or for a REST call that sent none, its client's host."""
    if session_hash is None:
        return ""
    if session_hash.startswith(ANONYMOUS):
        return session_hash.rpartition("/")[0] or session_hash
    return session_hash


class Boundary:
    """ASGI middleware: bounds named calls, closes private handlers by name, refuses uploads."""

    def __init__(self, app: Callable, blocks: Any) -> None:
        self.app = app
        self.blocks = blocks  # read at each call: the events exist once the page is built

    def endpoints(self) -> dict[str, int]:
        """The public endpoints' names and how many parameters each takes."""
        return {
            fn.api_name: len(fn.inputs) for fn in self.blocks.fns.values() if fn.api_visibility == "public" and fn.fn
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if _UPLOAD.search(path):
            return await _answer(send, 403, "This app takes no uploads.")
        named = _NAMED_CALL.search(path)
        if not named and not _QUEUE_JOIN.search(path):
            return await self.app(scope, receive, send)
        body = await _read_body(receive)
        if body is None:
            return await _answer(send, 413, f"The request body is larger than {MAX_BODY_BYTES // 1024} KB.")
        receive = _replay(body, receive)
        index = _fn_index(body)
        if index is not None:  # the page's own events, and gradio_client's calls, name a function by number
            fn = self.blocks.fns.get(index)
            name = fn.api_name if fn is not None else None
            if name not in self.endpoints():
                return await self.app(scope, receive, send)
        elif named:
            name = named["name"]
        else:  # the queue without a number: Gradio answers that itself
            return await self.app(scope, receive, send)
        await self._bounded(name, "/call/v2/" in path, scope, receive, send)

    async def _bounded(self, name: str, by_keyword: bool, scope: Scope, receive: Receive, send: Send) -> None:
        """A call of a public endpoint, its values bounded; any other name is refused."""
        endpoints = self.endpoints()
        if name not in endpoints:
            return await _answer(send, 404, f"No endpoint named {name[:60]!r}; the API has {', '.join(endpoints)}.")
        if by_keyword:  # values by keyword: Gradio fills in the defaults itself
            return await self.app(scope, receive, send)
        fixed, problem = padded(await _read_body(receive) or b"", name, endpoints[name])
        if problem:
            return await _answer(send, 422, problem)
        await self.app(_with_length(scope, len(fixed)), _replay(fixed, receive), send)


def _fn_index(body: bytes) -> int | None:
    """The function number a call names in its body, if any."""
    try:
        index = json.loads(body).get("fn_index")
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None
    return index if isinstance(index, int) and not isinstance(index, bool) else None


def padded(body: bytes, name: str, count: int) -> tuple[bytes, str]:
    """The call's body with its values padded with nulls to count, or why it cannot be called."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return b"", f'{name}: the body must be JSON, {{"data": [values in parameter order]}}'
    values = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(values, list):
        return b"", f'{name}: the body must hold "data", a list of values in parameter order'
    if len(values) > count:
        return b"", f"{name} takes at most {count} values, got {len(values)}"
    payload["data"] = values + [None] * (count - len(values))
    return json.dumps(payload).encode(), ""


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None once it grows past MAX_BODY_BYTES."""
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive() that gives the app this body, then passes on what the connection sends."""
    sent = False

    async def replayed() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _with_length(scope: Scope, length: int) -> Scope:
    headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
    return {**scope, "headers": [*headers, (b"content-length", str(length).encode())]}


async def _answer(send: Send, status: int, message: str) -> None:
    """A JSON error answer, {"error": message}, as Gradio's own errors read."""
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
