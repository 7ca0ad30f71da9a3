"""Whose texts a model's decode step takes next: parts of generations, caller by caller.

A caller is a browser session, or the client host of a REST call that sent no session
(autowrite.ui.boundary.caller). A model's decode step holds `width` sequences
(backend.batch_sequences). Waiting texts are taken caller by caller, the one with the
fewest sequences running first, so a newcomer goes before a caller who already runs many.
Bulk work (a report's samples) is admitted a text at a time, and one caller's bulk work
leaves `reserve` sequences of every step to others, so someone else's generation starts at
the next step, not after a report.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from autowrite.scheduling.capacity import CAPACITY


@dataclass(frozen=True)
class Share:
    """Who a generation is for, and whether it is bulk work that may take its turn a text at a time."""

    caller: str = ""  # "": the app's own work (benchmarks, tests), bounded only by the total
    bulk: bool = False


class Part(Protocol):
    """A piece of a generation that takes part in decode steps as a whole."""

    share: Share

    def size(self) -> int:
        """Sequences it decodes in a step."""


P = TypeVar("P", bound=Part)


class FairQueue(Generic[P]):
    """Parts waiting for a model's decode steps, taken caller by caller (see the module's doc)."""

    def __init__(self, width: int, reserve: int = CAPACITY.reserve) -> None:
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
