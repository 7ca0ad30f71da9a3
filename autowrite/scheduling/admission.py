"""Admission: how many heavy jobs the app takes at once, and how many of them one caller's.

At most `limit` heavy jobs (generate, tokens, compare, report, changes) run or wait in the
whole app, at most `per_caller` of them one caller's; the next is refused at once, by name,
so a backlog never fills the page's shared queue. The numbers are Capacity's.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from autowrite.scheduling.capacity import CAPACITY

BUSY = "The app is busy: {limit} generations are running or waiting. Try again in a few seconds."
OWN = (
    "You already have {limit} generations running or waiting, as many as one person may: "
    "wait for one to finish (or stop it), then try again."
)


class Crowded(RuntimeError):
    """A job refused at admission; the message says why and what to do."""


class Admission:
    """At most `limit` jobs running or waiting, `per_caller` of them one caller's; one more is refused."""

    def __init__(self, limit: int = CAPACITY.max_jobs, per_caller: int = CAPACITY.per_caller) -> None:
        self.limit = limit
        self.per_caller = per_caller
        self._lock = threading.Lock()
        self._jobs: Counter[str] = Counter()

    def enter(self, caller: str = "") -> None:
        """Take a job's place for the caller, or raise Crowded when there is none; leave() gives it back."""
        with self._lock:
            if caller and self._jobs[caller] >= self.per_caller:
                raise Crowded(OWN.format(limit=self.per_caller))
            if self._jobs.total() >= self.limit:
                raise Crowded(BUSY.format(limit=self.limit))
            self._jobs[caller] += 1

    def leave(self, caller: str = "") -> None:
        """Give back a place enter() took."""
        with self._lock:
            self._jobs[caller] -= 1
            if self._jobs[caller] <= 0:
                del self._jobs[caller]

    def jobs(self, caller: str | None = None) -> int:
        """Jobs running or waiting: all of them, or one caller's."""
        with self._lock:
            return self._jobs.total() if caller is None else self._jobs[caller]

    @contextmanager
    def held(self, caller: str = "") -> Iterator[None]:
        """Hold a job's place for the caller while the body runs; Crowded when there is none."""
        self.enter(caller)
        try:
            yield
        finally:
            self.leave(caller)
