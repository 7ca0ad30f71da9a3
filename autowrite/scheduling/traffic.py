"""How many requests the process serves right now, and whether people are typing.

One Traffic is shared by every backend of a process (the app makes it and hands it to
each model it loads), because all of them share the same cores: the llama.cpp backend
sizes its threads by what the whole process is doing (Capacity.compute_threads).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Traffic:
    """Requests (keystrokes, generations) in flight, and when the last keystroke ended."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self.keystrokes = 0
        self.last_keystroke = -float("inf")  # time.monotonic() when the last keystroke ended

    def _add(self, n: int, keystroke: bool) -> None:
        with self._lock:
            self.count += n
            if keystroke:
                self.keystrokes += n
                self.last_keystroke = time.monotonic()

    @contextmanager
    def serving(self, keystroke: bool = False) -> Iterator[None]:
        """Count a request as in flight while it runs (a backend may size its threads by it)."""
        self._add(1, keystroke)
        try:
            yield
        finally:
            self._add(-1, keystroke)

    def in_flight(self, typing_window_s: float = 1.0) -> tuple[int, bool]:
        """Requests being served right now, and whether people are typing: a keystroke in
        flight, or one that ended within the window."""
        typing = self.keystrokes > 0 or time.monotonic() - self.last_keystroke < typing_window_s
        return self.count, typing
