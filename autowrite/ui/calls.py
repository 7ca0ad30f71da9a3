"""How a Gradio event calls the service: handlers with the service bound, the caller's key, and pacing.

Gradio finds a handler's gr.Request parameter by its type hint, which functools.partial
hides, so handlers are bound here with their signature and hints kept. A generator
handler can be stopped only between its yields (Gradio closes it there when its client
leaves or presses Stop), so long work is drained through paced(), which yields often
enough for that and seldom enough not to flood the page.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import gradio as gr

from autowrite.ui.boundary import caller

T = TypeVar("T")

# Why 0.25 s: a stopped or abandoned job stops within a second, and a page gets at most
# four updates a second from it.
TICK_S = 0.25
_NOTHING = object()


def bound(handler: Callable, *leading: Any) -> Callable:
    """handler with its leading arguments bound, its signature, type hints and generator-ness kept."""
    if inspect.isgeneratorfunction(handler):

        def call(*args: Any, **kwargs: Any) -> Iterator:
            yield from handler(*leading, *args, **kwargs)

    else:

        def call(*args: Any, **kwargs: Any) -> Any:
            return handler(*leading, *args, **kwargs)

    functools.update_wrapper(call, handler)
    signature = inspect.signature(handler)
    call.__signature__ = signature.replace(parameters=list(signature.parameters.values())[len(leading) :])
    return call


def caller_of(request: gr.Request | None) -> str:
    """The key the app shares its capacity by: the page's session, or a REST client's host."""
    return caller(getattr(request, "session_hash", None))


def paced(items: Iterable[T], every: float = TICK_S) -> Iterator[T]:
    """The items at most one per `every` seconds (the newest then), and always the last; closes them when closed."""
    shown = time.monotonic()
    pending: Any = _NOTHING
    iterator = iter(items)
    try:
        for item in iterator:
            pending = item
            if time.monotonic() - shown >= every:
                yield item
                pending, shown = _NOTHING, time.monotonic()
        if pending is not _NOTHING:
            yield pending
    finally:
        getattr(iterator, "close", lambda: None)()
