"""Fair shares of the machine: how many jobs each caller may have, and whose texts decode next.

A caller is a browser session, or the client host of a REST call that sent no session
(autowrite.ui.boundary.caller). Two bounds keep one caller from starving the rest:

- Admission: at most `limit` heavy jobs (generate, tokens, compare, report, changes) run or
  wait in the whole app, at most `per_caller` of them one caller's; the next is refused at
  once, by name, so a backlog never fills the page's shared queue.
- Steps: a model's decode step holds `width` sequences (backend.batch_sequences). Waiting
  texts are taken caller by caller, the one with the fewest sequences running first, so a
  newcomer goes before a caller who already runs many. Bulk work (a report's samples) is
  admitted a text at a time, and one caller's bulk work leaves `reserve` sequences of every
  step to others, so someone else's generation starts at the next step, not after a report.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

# Why 8: generations share decode steps of 8 sequences, so 8 jobs running or waiting keep
# the steps full while a newcomer waits about one batch. Past that, demand the machine
# cannot decode would queue without end, fill the page's shared queue and turn keystrokes
# away too, so a job past the limit is refused at once, by name, and typing keeps being served.
MAX_JOBS = 8
# Why 2: a person may run a report while generating on another tab; a third job from one
# caller is refused, so one caller holds at most a quarter of the app's jobs.
PER_CALLER = 2
# Why 2: one text with rating guidance decodes two sequences; two sequences of every step
# kept from bulk work let another person's sample (guided or not) start at the next step.
# A report alone runs 6 texts a step instead of 8, about 5% fewer tokens a second
# (a step of 8 costs about 4 of one; benchmarks/run.py).
RESERVE = 2
BUSY = "The app is busy: {limit} generations are running or waiting. Try again in a few seconds."
OWN = (
    "You already have {limit} generations running or waiting, as many as one person may: "
    "wait for one to finish (or stop it), then try again."
)


@dataclass(frozen=True)
class Share:
    """Who a generation is for, and whether it is bulk work that may take its turn a text at a time."""

    caller: str = ""  # "": the app's own work (benchmarks, tests), bounded only by the total
    bulk: bool = False


class Crowded(RuntimeError):
    """A job refused at admission; the message says why and what to do."""


class Admission:
    """At most `limit` jobs running or waiting, `per_caller` of them one caller's; one more is refused."""

    def __init__(self, limit: int = MAX_JOBS, per_caller: int = PER_CALLER) -> None:
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


class Part(Protocol):
    """A piece of a generation that takes part in decode steps as a whole."""

    share: Share

    def size(self) -> int:
        """Sequences it decodes in a step."""


P = TypeVar("P", bound=Part)


class FairQueue(Generic[P]):
    """Parts waiting for a model's decode steps, taken caller by caller (see the module's doc)."""

    def __init__(self, width: int, reserve: int = RESERVE) -> None:
        self.width = width
        self.reserve = min(reserve, width - 1)
        self._waiting: dict[str, deque[P]] = {}  # insertion order: the order callers came

    def __len__(self) -> int:
        return sum(len(parts) for parts in self._waiting.values())

    def push(self, parts: Iterable[P]) -> None:
        """Queue parts behind their callers' earlier ones."""
        for part in parts:
            self._waiting.setdefault(part.share.caller, deque()).append(part)

    def remove(self, gone: Callable[[P], bool]) -> list[P]:
        """Take out every waiting part for which gone() holds, and return them."""
        removed = []
        for caller in list(self._waiting):
            kept = deque()
            for part in self._waiting[caller]:
                (removed if gone(part) else kept).append(part)
            self._set(caller, kept)
        return removed

    def take(self, running: Mapping[str, int], free: int) -> P | None:
        """The next part to start, given each caller's sequences running and the step's free room.

        The caller with the fewest sequences running goes first (then the one who came
        first). A caller whose bulk part would pass its share is passed over; any other
        first part that does not fit waits for room, and no one overtakes it.
        """
        for caller in sorted(self._waiting, key=lambda c: running.get(c, 0)):
            part = self._waiting[caller][0]
            held = running.get(caller, 0)
            if part.share.bulk and held and held + part.size() > self.width - self.reserve:
                continue
            if part.size() > free:
                return None
            parts = self._waiting[caller]
            parts.popleft()
            self._set(caller, parts)
            return part
        return None

    def _set(self, caller: str, parts: deque[P]) -> None:
        if parts:
            self._waiting[caller] = parts
        else:
            del self._waiting[caller]
