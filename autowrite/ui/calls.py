"""How a Gradio event calls the service: handlers wired to widgets by name, the caller's key, and pacing.

A handler is a module-level function whose keyword arguments are named as the widgets it
reads; named() wires it with Gradio's inputs_kwargs, so no value depends on its place in a
list. Several widgets read as one value (a request's fields, a set of sampling settings)
form a Group. A handler with named outputs returns a dict by output name, and what it
leaves out stays as it is. Gradio finds a handler's gr.Request and gr.Progress parameters
by their type hint and default, so named() keeps them in the signature Gradio reads.

A generator handler can be stopped only between its yields (Gradio closes it there when its
client leaves or presses Stop), so long work is drained through paced(), which yields often
enough for that and seldom enough not to flood the page.
"""

from __future__ import annotations

import functools
import inspect
import time
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import gradio as gr
from gradio.blocks import Block

from autowrite.ui.boundary import caller

T = TypeVar("T")

# Why 0.25 s: a stopped or abandoned job stops within a second, and a page gets at most
# four updates a second from it.
TICK_S = 0.25
_NOTHING = object()


@dataclass(frozen=True)
class Group:
    """Widgets a handler reads as one value: build(**their values by name).

    Each widget still reaches Gradio under its own name, so the HTTP boundary's errors name
    it (autowrite.ui.boundary).
    """

    widgets: Mapping[str, Block]
    build: Callable[..., Any] = dict


Outputs = Mapping[str, "Block | Sequence[Block]"]


def named(handler: Callable, *leading: Any, outputs: Outputs | None = None, **inputs: Block | Group) -> dict:
    """Event arguments (fn, inputs_kwargs, outputs) that call handler(*leading, name=value, ...).

    outputs: the widgets the handler's dict names, a list of widgets taking a list of values;
    without it the handler's result goes to the event's own outputs as it is.
    """
    widgets: dict[str, Block] = {}
    groups = {name: given for name, given in inputs.items() if isinstance(given, Group)}
    for name, given in inputs.items():
        widgets.update(given.widgets if isinstance(given, Group) else {name: given})
    special = _filled_by_gradio(handler)

    def arguments(args: tuple, values: dict) -> dict:
        for name, group in groups.items():
            values[name] = group.build(**{key: values.pop(key) for key in group.widgets})
        return {**dict(zip([p.name for p in special], args, strict=False)), **values}

    def shown(result: Any) -> Any:
        return result if outputs is None else by_widget(outputs, result)

    if inspect.isgeneratorfunction(handler):

        def call(*args: Any, **values: Any) -> Iterator:
            for result in handler(*leading, **arguments(args, values)):
                yield shown(result)

    else:

        def call(*args: Any, **values: Any) -> Any:
            return shown(handler(*leading, **arguments(args, values)))

    functools.update_wrapper(call, handler)
    keywords = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY) for name in widgets]
    call.__signature__ = inspect.Signature([*special, *keywords])
    call.__annotations__ = {p.name: p.annotation for p in special}
    wired = {"fn": call, "inputs_kwargs": widgets}
    return wired if outputs is None else {**wired, "outputs": _flat(outputs)}


def _filled_by_gradio(handler: Callable) -> list[inspect.Parameter]:
    """The handler's gr.Request, gr.Progress and event data parameters, which Gradio fills in by position."""
    hints = typing.get_type_hints(handler)
    filled = []
    for parameter in inspect.signature(handler).parameters.values():
        hint = hints.get(parameter.name)
        request = hint in (gr.Request, gr.Request | None)
        if request or isinstance(parameter.default, gr.Progress) or _is_event_data(hint):
            default = None if parameter.default is inspect.Parameter.empty else parameter.default
            filled.append(parameter.replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default))
    return filled


def _is_event_data(hint: Any) -> bool:
    return inspect.isclass(hint) and issubclass(hint, gr.EventData)


def _flat(outputs: Outputs) -> list[Block]:
    return [w for given in outputs.values() for w in (given if isinstance(given, (list, tuple)) else [given])]


def by_widget(outputs: Outputs, values: Mapping[str, Any]) -> Any:
    """A handler's values by output name as Gradio takes them: by widget, a list of widgets taking a list.

    With a single output widget, its value alone: Gradio reads a dict there as the value.
    """
    shown: dict[Block, Any] = {}
    for name, value in values.items():
        given = outputs[name]
        if isinstance(given, (list, tuple)):
            shown.update(zip(given, value, strict=True))
        else:
            shown[given] = value
    flat = _flat(outputs)
    return shown.get(flat[0], gr.skip()) if len(flat) == 1 else shown


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
