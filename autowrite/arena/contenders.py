"""Who competes in the arena: a catalog model with one of the compare tab's presets, and how two are drawn.

Contenders come only from what the server offers (the catalog's models whose weights are
here, times the presets), never from a client's own settings. A draw favours contenders
with few votes, so every interval on the leaderboard narrows at about the same pace, and
pairs only contenders that can write the same prompt.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from autowrite.catalog import Entry
from autowrite.formats import Task
from autowrite.settings import PRESET_NAMES, SamplingSettings, preset


@dataclass(frozen=True, order=True)
class Contender:
    """A model from the catalog writing with a named preset."""

    model: str
    preset: str

    @property
    def name(self) -> str:
        """How the page and the leaderboard name it."""
        return f"{self.model} · {self.preset}"

    def settings(self, defaults: SamplingSettings, seed: int, max_new_tokens: int) -> SamplingSettings:
        """Its settings for a pair: the preset over its model's card defaults, the pair's seed and length."""
        return preset(self.preset, defaults, max_new_tokens, seed)


@dataclass(frozen=True)
class Restriction:
    """An arena narrowed to one model (its presets compete) or one preset (the models compete); "" is any."""

    model: str = ""
    preset: str = ""

    def admits(self, contender: Contender) -> bool:
        """Whether the contender belongs to this arena."""
        return self.model in ("", contender.model) and self.preset in ("", contender.preset)

    def describe(self) -> str:
        """The restriction in words."""
        if self.model and self.preset:
            return f"{self.model} with {self.preset}"
        if self.model:
            return f"the presets of {self.model}"
        if self.preset:
            return f"the models with {self.preset}"
        return "every model and preset"


def writes(entry: Entry, task: Task) -> bool:
    """Whether a model can write a prompt of this task: its own task, or any task for a free-text model."""
    return entry.task == task or entry.task == Task.FREE


def shared_task(first: Entry, second: Entry) -> Task | None:
    """The task a prompt for both models has, or None where one writes reviews and the other ads."""
    if first.task == second.task:
        return first.task
    if Task.FREE in (first.task, second.task):
        return second.task if first.task == Task.FREE else first.task
    return None


def pool(entries: Sequence[Entry], restriction: Restriction) -> list[Contender]:
    """Every contender the restriction admits: the entries' models times the presets."""
    return [c for e in entries for name in PRESET_NAMES if restriction.admits(c := Contender(e.name, name))]


def weight(votes: int) -> float:
    """How likely a contender is drawn: 1 / sqrt(1 + its votes).

    An interval's width goes as 1 / sqrt(votes); drawing the least-voted more often brings
    every contender's count, and so every interval, along together.
    """
    return 1.0 / math.sqrt(1 + votes)


def draw_two(
    rng: random.Random,
    contenders: Sequence[Contender],
    entries: Mapping[str, Entry],
    votes: Mapping[Contender, int],
    task: Task | None = None,
) -> tuple[Contender, Contender, Task] | None:
    """Two different contenders that can write one prompt (of `task` if given), and its task; None if none can."""
    able = [c for c in contenders if task is None or writes(entries[c.model], task)]
    firsts = [c for c in able if any(_pairable(c, other, entries, task) for other in able)]
    if not firsts:
        return None
    first = rng.choices(firsts, [weight(votes.get(c, 0)) for c in firsts])[0]
    seconds = [c for c in able if _pairable(first, c, entries, task)]
    second = rng.choices(seconds, [weight(votes.get(c, 0)) for c in seconds])[0]
    chosen = task or shared_task(entries[first.model], entries[second.model])
    return (first, second, chosen) if rng.random() < 0.5 else (second, first, chosen)


def _pairable(first: Contender, second: Contender, entries: Mapping[str, Entry], task: Task | None) -> bool:
    if first == second:
        return False
    return task is not None or shared_task(entries[first.model], entries[second.model]) is not None
