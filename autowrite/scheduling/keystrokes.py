"""Why a keystroke never waits behind a generation: where its priority is decided.

A keystroke goes first at three places, each here:

1. Queue lanes (Capacity.lanes, given to events by autowrite.ui.lanes): typing and
   generating are queued apart, so a generation never holds a keystroke's place in line.
2. Turns, per model: a keystroke in progress (Backend.keystroke) makes generation steps
   and ghosts wait (Backend.yield_to_keystrokes, at most KEYSTROKE_PRIORITY_S per token),
   since a generation takes the model one token at a time and would otherwise win it
   back at once.
3. UrgentFirst, per process: llama.cpp's decodes run on one thread
   (autowrite.backends.compute), where a typing decode (urgent) waits only for the decode
   running, not for the generation steps queued before it.
"""

from __future__ import annotations

import concurrent.futures
import heapq
import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

# Why 0.1 s: a keystroke's suggestions take a few to a few tens of milliseconds; a generation
# waits at most this long per token for them, so a crowd of typists slows generations to
# ~10 tokens/s at worst but never stops them.
KEYSTROKE_PRIORITY_S = 0.1


class Turns:
    """How many live suggestions wait for or hold one model; generation steps let them go first."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._waiting = 0

    @contextmanager
    def keystroke(self) -> Iterator[None]:
        """Mark a live suggestion in progress while the body runs."""
        with self._changed:
            self._waiting += 1
        try:
            yield
        finally:
            with self._changed:
                self._waiting -= 1
                self._changed.notify_all()

    def let_keystrokes_go(self, limit_s: float = KEYSTROKE_PRIORITY_S) -> None:
        """Wait (at most limit_s) while live suggestions wait for or hold the model."""
        with self._changed:
            self._changed.wait_for(lambda: self._waiting == 0, timeout=limit_s)


class UrgentFirst:
    """One worker thread that runs the calls handed to it, urgent ones before any queued others."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._queue: list[tuple[int, int, concurrent.futures.Future, Callable, tuple]] = []
        self._changed = threading.Condition()
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def run(self, function: Callable[..., T], args: tuple, urgent: bool = False) -> T:
        """function(*args) on the worker thread (at once when called from it); its result or its error."""
        if threading.current_thread() is self._thread:
            return function(*args)
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._changed:
            heapq.heappush(self._queue, (0 if urgent else 1, next(self._order), future, function, args))
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._thread.start()
            self._changed.notify()
        return future.result()

    def _work(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._queue)
                _, _, future, function, args = heapq.heappop(self._queue)
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(function(*args))
                except BaseException as error:  # noqa: BLE001 - handed to the caller
                    future.set_exception(error)
