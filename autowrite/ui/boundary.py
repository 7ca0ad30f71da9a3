"""The HTTP boundary: what a client may send before Gradio sees it.

Gradio answers some malformed calls with a bare `{"error": null}` or an unexpected error
before any handler runs (fewer values than parameters, a lone surrogate it cannot encode,
a function number on a call by name), calls the page's private handlers when a client
names them, and stores any upload. This ASGI middleware answers those itself, with a
message naming the problem:

- a call (by name, or through the queue by number as the page and gradio_client send
  them) brings a JSON object: "data", a list of at most as many values as the function
  has parameters (missing trailing values are null, which every endpoint reads as its
  default), and optionally fn_index, session_hash, event_data and trigger_id of the right
  types; no string or key anywhere in it holds a lone surrogate;
- only the public endpoints can be called by name; the page's own events go through the
  queue by number, as Gradio's front end sends them;
- a call by name without a session hash gets one of its own (ANONYMOUS + host + "/" +
  random), so it is cheap (see sessions.py) and fair admission knows its client (caller);
- a call by keyword (/call/v2/<name>) becomes the same call by position;
- a query string past MAX_QUERY_BYTES gets a 414 that says how to share a long prompt;
- uploads are refused: the app has no upload field.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from autowrite.ui import sessions

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]

# Why 256 KB: the largest valid call is an 8,000-character prompt, at most 6 bytes a
# character as JSON escapes, plus a few short fields.
MAX_BODY_BYTES = 256 * 1024
# Why 48 KB: above every link the app makes (share.MAX_LINK_CHARS, 32,000 characters), and
# below httpx's 65,536-character URL limit, past which Gradio's page route fails with a 500.
MAX_QUERY_BYTES = 48 * 1024
# Why 128 KB: uvicorn's parser (h11) answers a bare 400 to a request line and headers past
# 16 KB that arrive in pieces, as they do over a network, and the app's own links reach
# 32,000 characters. A hand-built link with the longest prompt (8,000 characters, up to 12
# bytes each percent-encoded) is about 100 KB, and so still gets the 414 that says why.
MAX_REQUEST_HEAD_BYTES = 128 * 1024
# Why 32: the deepest value a call holds is a few levels down (compare's columns: data, a
# list, an object, a value); far deeper JSON is no call's, and costs Gradio's parser.
MAX_DEPTH = 32
# Why 128: Gradio's page makes 11-character session hashes, gradio_client 36, the
# boundary about 60; a longer one is not a session, and each is kept in memory.
MAX_SESSION_HASH_CHARS = 128
# Session hashes the boundary gives REST calls that sent none: ANONYMOUS, the client's
# host, "/", a random part. Clients may not send one that starts so.
ANONYMOUS = "anon:"
# Why 1 s: a sweep reads every session's queue; at most once a second it costs nothing
# against a stream of calls, and keeps Gradio's 2,000 queues far from full (sessions.forget_answered).
SWEEP_S = 1.0
# Gradio's routes that call a function named in the path, by position (call, run, api)
# or by keyword (call/v2).
_NAMED_CALL = re.compile(r"/gradio_api/(?P<route>call/v2|call|run|api)/(?P<name>[^/]+)/?$")
_UPLOAD = re.compile(r"/gradio_api/upload/?$")
_QUEUE_JOIN = re.compile(r"/gradio_api/queue/join/?$")
_SURROGATE = re.compile("[\ud800-\udfff]")
_TOO_LONG_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Autowrite: link too long</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>This link is too long to open</h1>
<p>Its query is {size:,} bytes; the app opens links of up to {limit:,} bytes.</p>
<p>To share a long prompt, open the app, paste the prompt, and press <b>Copy share link</b>:
the link it makes carries the prompt compressed (<code>prompt_z=</code>) and opens here.</p>
<p><a href="./">Open Autowrite</a></p>
</body></html>
"""


def caller(session_hash: str | None) -> str:
    """The key fair admission shares the machine by: the session, or for a REST call that sent none, its client's host."""
    if session_hash is None:
        return ""
    if session_hash.startswith(ANONYMOUS):
        return session_hash.rpartition("/")[0] or session_hash
    return session_hash


class Refused(Exception):
    """A call the boundary answers itself: its HTTP status and a message naming the problem."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Boundary:
    """ASGI middleware: checks calls before Gradio, closes private handlers by name, refuses uploads."""

    def __init__(self, app: Callable, blocks: Any) -> None:
        self.app = app
        self.blocks = blocks  # read at each call: the events exist once the page is built
        self.prepared = False
        self.swept = -float("inf")  # when the sessions of answered anonymous calls were last forgotten

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if not self.prepared:
            self.prepared = prepare(scope.get("app"), self.blocks)
        if len(scope.get("query_string", b"")) > MAX_QUERY_BYTES:
            return await _too_long(scope, send)
        path = scope["path"]
        if scope["method"] != "POST":
            return await self.app(scope, receive, send)
        if _UPLOAD.search(path):
            return await _answer(send, 403, "This app takes no uploads.")
        named = _NAMED_CALL.search(path)
        if not named and not _QUEUE_JOIN.search(path):
            return await self.app(scope, receive, send)
        body = await _read_body(receive)
        if body is None:
            return await _answer(send, 413, f"The request body is larger than {MAX_BODY_BYTES // 1024} KB.")
        route, name = (named["route"], named["name"]) if named else ("join", "queue/join")
        try:
            payload = self.checked(route, name, body, _host(scope))
        except Refused as refused:
            return await _answer(send, refused.status, refused.message)
        if str(payload.get("session_hash", "")).startswith(ANONYMOUS) and self.prepared:
            self._sweep(scope["app"])
        fixed = json.dumps(payload).encode()
        scope = _by_position_path(scope) if route == "call/v2" else scope
        await self.app(_with_length(scope, len(fixed)), _replay(fixed, receive), send)

    def _sweep(self, app: Any) -> None:
        """Forget the sessions of answered calls that sent none, at most once per SWEEP_S."""
        now = time.monotonic()
        if now - self.swept >= SWEEP_S:
            self.swept = now
            sessions.forget_answered(app, ANONYMOUS)

    def checked(self, route: str, name: str, body: bytes, host: str) -> dict:
        """The call's body as Gradio will get it, or Refused naming why it cannot be called."""
        payload = _json_object(body, name)
        if route == "call/v2":
            payload = _by_position(payload, name, _parameters(self._endpoint(name)))
        _check_fields(payload, route, name)
        fn = self._function(route, name, payload)
        label = fn.api_name if _is_public(fn) else name
        payload["data"] = padded(payload["data"], label, len(fn.inputs))
        _check_values(payload, _parameters(fn))
        if route != "join" and payload.get("session_hash") is None:
            payload["session_hash"] = f"{ANONYMOUS}{host}/{uuid.uuid4().hex}"
        return payload

    def _function(self, route: str, name: str, payload: dict) -> Any:
        """The function a call runs: named by the path, or by its number where the route takes one."""
        if route.startswith("call"):
            if "fn_index" in payload:
                raise Refused(422, f"{name}: a call by name takes no fn_index; the name says which function")
            return self._endpoint(name)
        index = payload.get("fn_index")
        if index is None:
            if route == "join":
                raise Refused(422, "queue/join: the body must hold fn_index, the number of the function to call")
            return self._endpoint(name)
        fn = self.blocks.fns.get(index)
        if fn is None:
            raise Refused(404, f"No function number {_shown(index)}; the page has {len(self.blocks.fns)}")
        return fn

    def _endpoint(self, name: str) -> Any:
        """The public endpoint of this name; any other name is refused."""
        public = {fn.api_name: fn for fn in self._public()}
        if name not in public:
            raise Refused(404, f"No endpoint named {name[:60]!r}; the API has {', '.join(public)}.")
        return public[name]

    def _public(self) -> list:
        """The public endpoints' functions."""
        return [fn for fn in self.blocks.fns.values() if _is_public(fn)]


def prepare(app: Any, blocks: Any) -> bool:
    """Set up what Gradio's launch() has no option for, once both exist: lean sessions, long request lines."""
    server = getattr(blocks, "server", None)
    if app is None or server is None or not hasattr(app, "state_holder"):
        return False
    sessions.install(app)
    # uvicorn reads this for each new connection.
    server.config.h11_max_incomplete_event_size = MAX_REQUEST_HEAD_BYTES
    return True


def _is_public(fn: Any) -> bool:
    return fn.api_visibility == "public" and fn.fn is not None


def _parameters(fn: Any) -> list[str]:
    """A function's parameter names in the order of its values (data[i] where Gradio knows none)."""
    names = fn.input_parameter_names or []
    return [names[i] if i < len(names) and names[i] else f"data[{i}]" for i in range(len(fn.inputs))]


def _host(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _json_object(body: bytes, name: str) -> dict:
    """The body as a JSON object."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Refused(422, f'{name}: the body must be JSON, {{"data": [values in parameter order]}}') from None
    if not isinstance(payload, dict):
        raise Refused(
            422, f'{name}: the body must be a JSON object holding "data", a list of values in parameter order'
        )
    return payload


def _by_position(payload: dict, name: str, parameters: list[str]) -> dict:
    """A call by keyword as the same call by position: parameters left out are null, their default."""
    values = {key: value for key, value in payload.items() if key != "session_hash"}
    unknown = [key for key in values if key not in parameters]
    if unknown:
        raise Refused(422, f"{name} has no parameter {unknown[0][:60]!r}; it takes {', '.join(parameters)}")
    session = {"session_hash": payload["session_hash"]} if "session_hash" in payload else {}
    return {"data": [values.get(parameter) for parameter in parameters], **session}


def _check_fields(payload: dict, route: str, name: str) -> None:
    """Each field Gradio reads has its type; a wrong one is Refused by name."""
    if not isinstance(payload.get("data"), list):
        raise Refused(422, f'{name}: the body must hold "data", a list of values in parameter order')
    index = payload.get("fn_index")
    if index is not None and (not _whole(index) or index < 0):
        raise Refused(422, f"fn_index must be a function's number, a whole number from 0, got {_shown(index)}")
    trigger = payload.get("trigger_id")
    if trigger is not None and not _whole(trigger):
        raise Refused(422, f"trigger_id must be a whole number or null, got {_shown(trigger)}")
    event_data = payload.get("event_data")
    if event_data is not None and not isinstance(event_data, dict):  # Gradio's event data reads keys
        raise Refused(422, f"event_data must be an object or null, got {_shown(event_data)}")
    _check_session_hash(payload.get("session_hash"), required=route == "join")


def _check_session_hash(session_hash: Any, required: bool) -> None:
    if session_hash is None:
        if required:
            raise Refused(422, "queue/join: the body must hold session_hash, the page's session")
        return
    if not isinstance(session_hash, str):
        raise Refused(422, f"session_hash must be text, got {_shown(session_hash)}")
    if len(session_hash) > MAX_SESSION_HASH_CHARS:
        raise Refused(422, f"session_hash is {len(session_hash):,} characters; at most {MAX_SESSION_HASH_CHARS}")
    if session_hash.startswith(ANONYMOUS):
        raise Refused(
            422, f"session_hash may not start with {ANONYMOUS!r}: the app gives those to calls that send none"
        )


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shown(value: Any) -> str:
    """A wrong value as a message shows it: numbers and booleans as written, anything else by its kind."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return repr(value)[:24]
    return {str: "text", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def padded(values: list, name: str, count: int) -> list:
    """The call's values padded with nulls to count, or Refused if there are more."""
    if len(values) > count:
        raise Refused(422, f"{name} takes at most {count} values, got {len(values)}")
    return values + [None] * (count - len(values))


def _check_values(payload: dict, parameters: list[str]) -> None:
    """Refused if the payload nests past MAX_DEPTH, or a string or key in it holds a lone surrogate."""
    waiting: deque[tuple[tuple, Any]] = deque([((), payload)])  # a loop, not recursion: JSON nests deep
    while waiting:
        path, value = waiting.popleft()
        if len(path) > MAX_DEPTH:
            raise Refused(422, f"{_where(path[:MAX_DEPTH], parameters)} nests deeper than {MAX_DEPTH} levels")
        if isinstance(value, str):
            _check_text(value, path, parameters, "holds")
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, path, parameters, "has a key that holds")
                waiting.append(((*path, key), item))
        elif isinstance(value, list):
            waiting.extend(((*path, i), item) for i, item in enumerate(value))


def _check_text(text: str, path: tuple, parameters: list[str], holds: str) -> None:
    """Refused if the text holds a lone surrogate, which JSON can carry and UTF-8 cannot."""
    if found := _SURROGATE.search(text):
        where = _where(path, parameters)
        raise Refused(422, f"{where} {holds} invalid Unicode at character {found.start() + 1} (a lone surrogate)")


def _where(path: tuple, parameters: list[str]) -> str:
    """A path in the payload as a client reads it: data[0] by its parameter's name where known."""
    if len(path) >= 2 and path[0] == "data" and path[1] < len(parameters):
        path = (parameters[path[1]], *path[2:])
    if not path:
        return "the body"
    head, *rest = path
    return str(head)[:60] + "".join(f"[{step}]" if isinstance(step, int) else f"[{step[:60]!r}]" for step in rest)


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


def _by_position_path(scope: Scope) -> Scope:
    """A /call/v2/<name> request's scope as /call/<name>'s, where a body by position goes."""
    raw = scope.get("raw_path")
    return {
        **scope,
        "path": scope["path"].replace("/call/v2/", "/call/", 1),
        **({"raw_path": raw.replace(b"/call/v2/", b"/call/", 1)} if raw else {}),
    }


async def _too_long(scope: Scope, send: Send) -> None:
    """A 414 for a query past MAX_QUERY_BYTES: a page saying what to do, or JSON for the API."""
    size = len(scope["query_string"])
    if "/gradio_api/" in scope["path"]:
        message = f"The query string is {size:,} bytes; at most {MAX_QUERY_BYTES:,}."
        return await _answer(send, 414, message)
    page = _TOO_LONG_PAGE.format(size=size, limit=MAX_QUERY_BYTES).encode()
    await _send(send, 414, b"text/html; charset=utf-8", page)


async def _answer(send: Send, status: int, message: str) -> None:
    """A JSON error answer, {"error": message}, as Gradio's own errors read."""
    await _send(send, status, b"application/json", json.dumps({"error": message}).encode())


async def _send(send: Send, status: int, content_type: bytes, body: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
