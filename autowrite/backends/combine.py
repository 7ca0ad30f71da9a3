"""Calls from several threads combined into one decode: people typing at once share decodes.

On the llama.cpp typing context, calls that arrive while one decodes wait; the first
waiting thread then computes every queued call that fits in one batch (up to the slots),
as generations share steps (autowrite.batcher).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch

Sequences = list[list[int]]
# Logits for several calls' sequences in one batch, the backend's lock taken inside.
Compute = Callable[[list[Sequences]], list[list[torch.Tensor]]]


class CacheFull(RuntimeError):
    """The sequences of one decode need more cells than the cache has, with all others dropped."""


class Call:
    """One logits_many call waiting to be computed with others."""

    def __init__(self, sequences: Sequences) -> None:
        self.sequences = sequences
        self.result: list[torch.Tensor] | None = None
        self.error: BaseException | None = None
        self.done = False


class Combiner:
    """Calls waiting for one cache, and whether a thread is computing a batch of them."""

    def __init__(self, room: int, compute: Compute) -> None:
        self.room = room  # sequences one batch holds
        self.compute = compute
        self._changed = threading.Condition()
        self._calls: list[Call] = []
        self._serving = False

    def submit(self, sequences: Sequences) -> list[torch.Tensor]:
        """Queue this call; the first waiting thread computes every queued call that fits."""
        call = Call(sequences)
        with self._changed:
            self._calls.append(call)
            while not call.done:
                if self._serving:
                    self._changed.wait()
                    continue
                self._serving = True
                batch, room = [], self.room
                while self._calls and (not batch or len(self._calls[0].sequences) <= room):
                    batch.append(self._calls.pop(0))
                    room -= len(batch[-1].sequences)
                self._changed.release()
                try:
                    self.serve(batch)
                finally:
                    self._changed.acquire()
                    for c in batch:
                        c.done = True
                    self._serving = False
                    self._changed.notify_all()
        if call.error is not None:
            raise call.error
        return call.result

    def serve(self, batch: list[Call]) -> None:
        """Compute a batch of calls together, or, when together they overfill the cache, one by one.

        Four people typing texts near the words limit (2,040 tokens each) need more than the
        8,192 shared cells at once, though each fits alone once the others' cells are dropped.
        """
        try:
            results = self.compute([c.sequences for c in batch])
            for c, result in zip(batch, results):
                c.result = result
            return
        except CacheFull as error:
            if len(batch) == 1:
                batch[0].error = error
                return
        except BaseException as error:  # every caller in the batch hears of it
            for c in batch:
                c.error = error
            return
        for c in batch:
            try:
                c.result = self.compute([c.sequences])[0]
            except BaseException as error:
                c.error = error
