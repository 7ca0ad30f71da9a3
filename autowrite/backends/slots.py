"""Which key/value slot a sequence goes to, and what of the slot's cache it keeps: one planner for both local backends.

A local backend keeps a few slots, each remembering the token ids whose keys and values
it holds. A sequence continues the slot that shares the longest prefix with it, a prefix
another slot holds is copied rather than computed again, and the least recently used slot
makes room. This module only decides: it keeps each slot's ids and when it was last used,
and returns Placements, which the backend (transformers.py, llamacpp.py) applies to its
caches in order and then computes. No model, no tensor, no lock: the backend holds its
own lock while it plans.

Three policies, one per kind of cache:

- place_one (transformers): a sequence at a time; the longest prefix held by a slot this
  call already uses is copied into the least recently used free slot, so the call's
  other sequence keeps its cache for the next step.
- place_sharing (llama.cpp typing: one buffer shared by every slot): a batch of
  sequences, each into the free slot sharing most with it, the longest prefix any slot
  holds copied in.
- place_packed (llama.cpp generations: a buffer per slot): n sequences into slots 0 to
  n-1, so that they decode in one pass (see LlamaCppBackend._run_plan).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading ids two sequences share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


@dataclass(frozen=True)
class Placement:
    """Where one sequence goes and how its slot is prepared; the backend then computes ids[keep:] there.

    keep: the positions of ids whose keys and values the slot holds once prepared;
    len(ids) when the slot (or source) evaluated exactly ids last, so its logits answer and
    nothing is computed. source: a slot whose cache is copied in first (its first keep
    positions), or None. trim: drop the slot's cells past keep; a slot that already holds
    exactly ids[:keep] (a text grown by one token) needs nothing.
    """

    slot: int
    ids: list[int]
    keep: int
    source: int | None = None
    trim: bool = False


class SlotTable:
    """Each slot's token ids and when it was last used: all a planner reads and writes."""

    def __init__(self, count: int) -> None:
        self.ids: list[list[int]] = [[] for _ in range(count)]
        self.last_used = [0] * count
        self.clock = 0

    def __len__(self) -> int:
        return len(self.ids)

    def tick(self) -> None:
        """Move the clock on: one more sequence placed."""
        self.clock += 1

    def touch(self, slot: int) -> None:
        """Mark a slot used now."""
        self.last_used[slot] = self.clock

    def hold(self, slot: int, ids: list[int]) -> None:
        """Record that a slot holds ids (or will, once computed), used now."""
        self.ids[slot] = ids
        self.touch(slot)

    def drop(self, slot: int) -> None:
        """Forget what a slot holds (its cache was emptied)."""
        self.ids[slot] = []

    def least_recent(self, slots: Collection[int]) -> int:
        """The slot among these used longest ago (the first of them on a tie)."""
        return min(slots, key=lambda i: self.last_used[i])

    def longest_prefix(self, ids: Sequence[int]) -> int:
        """The most leading ids of this sequence any slot holds."""
        return max(common_prefix_length(held, ids) for held in self.ids)

    def grown(self, ids: list[int], taken: Collection[int], valid: Sequence[int]) -> int | None:
        """A slot not taken whose cache holds all of ids but the last token, found without the prefix scan.

        valid: the positions each slot's cache really holds (a slot placed earlier in the
        same batch holds only what it kept).
        """
        held = len(ids) - 1
        for i, slot in enumerate(self.ids):
            if i not in taken and valid[i] == held and len(slot) == held and slot == ids[:held]:
                return i
        return None


def place_one(table: SlotTable, ids: list[int], taken: set[int], answered: Collection[int]) -> Placement:
    """A slot for one sequence of a call whose sequences each keep a slot (taken: those placed before it).

    answered: the slots whose logits after their ids are kept. A sequence some slot
    evaluated last is answered from it, wherever it is. Otherwise the free slot sharing
    most (then used last) is extended or cut back; when the longest prefix is in a slot
    this call already took, it is copied into the least recently used free slot rather
    than cut back there. Nothing shared: the least recently used free slot starts anew.
    The backend records the ids (table.hold) once they are computed.
    """
    shared = [common_prefix_length(held, ids) for held in table.ids]
    table.tick()
    for i, n in enumerate(shared):
        if n == len(ids) == len(table.ids[i]) and i in answered:
            table.touch(i)
            return Placement(i, ids, len(ids))  # the same sequence again, in this call or an earlier one
    free = [i for i in range(len(table)) if i not in taken] or list(range(len(table)))
    oldest = table.least_recent(free)
    best = max(free, key=lambda i: (shared[i], table.last_used[i]))
    source = max(range(len(table)), key=lambda i: (shared[i], table.last_used[i]))
    keep = min(shared[source], len(ids) - 1)
    if keep == 0:
        placement = Placement(oldest, ids, 0, trim=True)
    elif shared[best] >= shared[source]:
        placement = Placement(best, ids, keep, trim=True)
    else:
        placement = Placement(oldest, ids, keep, source=source)
    taken.add(placement.slot)
    table.touch(placement.slot)
    return placement


def place_sharing(table: SlotTable, sequences: list[list[int]], answered: Collection[int]) -> list[Placement]:
    """A distinct slot for each sequence of a batch, in a cache whose slots share one buffer.

    A sequence one token past what a free slot holds continues it (the common case while
    typing on). Otherwise it takes the free slot sharing most with it (then used last, or,
    sharing nothing, the least recently used); a longer prefix held by any slot is copied
    in instead of computed. answered: the slots whose last logits are kept.
    """
    taken: set[int] = set()
    # Positions whose keys and values are really in the cache: a slot given to a sequence
    # in this same batch holds only what it kept; the rest is computed by the batch.
    valid = [len(held) for held in table.ids]
    plan = []
    for ids in sequences:
        table.tick()
        slot = table.grown(ids, taken, valid)
        placement = (
            Placement(slot, ids, len(ids) - 1) if slot is not None else _share(table, ids, taken, valid, answered)
        )
        table.hold(placement.slot, ids)
        valid[placement.slot] = placement.keep
        taken.add(placement.slot)
        plan.append(placement)
    return plan


def _share(table: SlotTable, ids: list[int], taken: set[int], valid: list[int], answered: Collection[int]) -> Placement:
    shared = [min(common_prefix_length(held, ids), valid[i]) for i, held in enumerate(table.ids)]
    free = [i for i in range(len(table)) if i not in taken]
    best = max(free, key=lambda i: (shared[i], table.last_used[i]))
    if shared[best] == 0:
        best = table.least_recent(free)
    source = max(range(len(table)), key=lambda i: shared[i])
    keep = min(shared[best], len(ids) - 1)
    copied = min(shared[source], len(ids) - 1)
    if copied > keep:
        return Placement(best, ids, copied, source=source)  # another slot holds a longer prefix
    if table.ids[best] == ids and best in answered:
        return Placement(best, ids, len(ids))  # exactly this sequence was evaluated last
    return Placement(best, ids, keep, trim=True)


def place_packed(table: SlotTable, sequences: list[list[int]], answered: Collection[int]) -> list[Placement]:
    """Slots 0 to n-1 for the n sequences of a call on buffers of their own, so that they decode in one pass.

    A sequence one token past what its slot holds keeps that slot when it is below n;
    every other sequence takes the next free slot below n, with the longest prefix any
    slot holds copied in (a text above n moves down when one below it has ended).
    answered: the slots whose last logits are kept (a slot copied whole from one of them
    is answered too).
    """
    count = len(sequences)
    answered = set(answered)
    valid = [len(held) for held in table.ids]  # every slot's buffer holds its whole sequence
    slots: list[int | None] = [None] * count
    kept: set[int] = set()
    for index, ids in enumerate(sequences):
        grown = table.grown(ids, kept, valid)
        if grown is not None and grown < count:
            slots[index] = grown
            kept.add(grown)
    free = iter(sorted(set(range(count)) - kept))
    plan = []
    for index, ids in enumerate(sequences):
        table.tick()
        slot = slots[index]
        placement = (
            Placement(slot, ids, len(ids) - 1) if slot is not None else _fill(table, next(free), ids, valid, answered)
        )
        table.hold(placement.slot, ids)
        valid[placement.slot] = placement.keep
        plan.append(placement)
    return plan


def _fill(table: SlotTable, slot: int, ids: list[int], valid: list[int], answered: set[int]) -> Placement:
    """How slot's buffer gets ids from the longest prefix any slot holds.

    valid: the positions each buffer holds, which is also all a copy of it takes (a slot
    given to a sequence earlier in this call holds only what it kept).
    """
    shared = [min(common_prefix_length(held, ids), valid[i]) for i, held in enumerate(table.ids)]
    source = max(range(len(table)), key=lambda i: (shared[i], i == slot))
    # Exactly this sequence was evaluated last: its logits are kept and nothing is computed.
    exact = shared[source] == len(ids) and table.ids[source] == ids and source in answered
    keep = len(ids) if exact else min(shared[source], len(ids) - 1)
    if source != slot and keep > min(shared[slot], len(ids) - 1):
        if exact:
            answered.add(slot)
        return Placement(slot, ids, keep, source=source, trim=True)
    keep = len(ids) if exact and source == slot else min(shared[slot], len(ids) - 1)
    return Placement(slot, ids, keep, trim=True)
