"""The steps generations share (autowrite.batcher.StepBatcher): texts equal their solo runs, requests wait their turn, errors reach their readers."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from autowrite.backends.base import Backend
from autowrite.settings import SamplingSettings
from tests import decoding


class _BatchingBackend(Backend):
    """Logits that depend only on a sequence's own ids, computed in batches that are recorded."""

    batches_generations = True
    batch_sequences = 4
    context_length = 64
    eos_token_id = None
    start_ids = [0]

    def __init__(self, step_s: float = 0.0) -> None:
        super().__init__()
        self.batches: list[int] = []  # sequences per logits_many call
        self.step_s = step_s
        self.fail_next = False
        self.forgotten = 0

    def encode(self, text: str) -> list[int]:
        return [ord(c) % 16 for c in text]

    def decode(self, ids) -> str:
        return "".join(chr(97 + i) for i in ids)

    def next_logits(self, ids) -> torch.Tensor:
        generator = torch.Generator().manual_seed(hash(tuple(ids[-3:])) % 2**31)
        return torch.randn(16, generator=generator)

    def logits_many(self, sequences):
        with self.lock:
            time.sleep(self.step_s)  # a step's own work, so that requests started meanwhile join it
            if self.fail_next:
                self.fail_next = False
                raise RuntimeError("the model failed")
            self.batches.append(len(sequences))
            return [self.next_logits(s) for s in sequences]

    def forget(self) -> None:
        self.forgotten += 1

    @property
    def vocab_size(self) -> int:
        return 16

    @property
    def nbytes(self) -> int:
        return 0


def _in_threads(streams):
    """Read each stream on a thread of its own; the last thing each yielded.

    Each starts once the one before has taken its first step, so later requests join steps
    already under way.
    """
    results = [None] * len(streams)
    stepped = [threading.Event() for _ in streams]

    def run(i, stream):
        try:
            for results[i] in stream():
                stepped[i].set()
        finally:
            stepped[i].set()  # a stream that fails lets the next one start, and the comparison says why

    threads = [threading.Thread(target=run, args=(i, stream)) for i, stream in enumerate(streams)]
    for thread, first_step in zip(threads, stepped, strict=True):
        thread.start()
        assert first_step.wait(timeout=60)  # a safety net: a step takes milliseconds
    for thread in threads:
        thread.join()
    return results


def test_concurrent_generations_share_steps_and_equal_their_solo_texts():
    backend = _BatchingBackend(step_s=0.005)
    requests = [
        ("Great blender", SamplingSettings(seed=1, max_new_tokens=12)),
        ("Ad: TV mount", SamplingSettings(seed=2, max_new_tokens=20, temperature=1.3, top_k=5)),
        ("It broke", SamplingSettings(do_sample=False, max_new_tokens=8, repetition_penalty=1.3)),
    ]
    solo = [decoding.generate(backend, backend.encode(p), s) for p, s in requests]
    backend.batches.clear()
    together = _in_threads([lambda p=p, s=s: decoding.stream(backend, backend.encode(p), s) for p, s in requests])
    assert together == solo
    assert max(backend.batches) == 3  # all three in one step at some point
    assert len(backend.batches) < 12 + 20 + 8  # fewer steps than tokens


def test_requests_that_do_not_fit_wait_their_turn():
    backend = _BatchingBackend(step_s=0.002)
    columns = [SamplingSettings(seed=s, max_new_tokens=10) for s in range(4)]  # all of batch_sequences
    prompt = backend.encode("Four columns")
    results = _in_threads(
        [
            lambda: decoding.stream_many(backend, prompt, columns),
            lambda: decoding.stream(backend, prompt, SamplingSettings(seed=9, max_new_tokens=5)),
        ]
    )
    assert max(backend.batches) == 4  # never more sequences than the backend holds
    assert results[1] == decoding.generate(backend, prompt, SamplingSettings(seed=9, max_new_tokens=5))
    assert len(results[0]) == 4


def test_a_reader_that_leaves_is_dropped_and_a_failed_step_reaches_its_readers():
    backend = _BatchingBackend(step_s=0.002)
    settings = SamplingSettings(max_new_tokens=40)
    stream = decoding.stream(backend, backend.encode("Leaving"), settings)
    next(stream)
    stream.close()  # a closed tab: the generation ends with it
    assert decoding.batcher_for(backend).wait_idle(timeout=10)
    assert len(backend.batches) <= 3
    backend.fail_next = True
    with pytest.raises(RuntimeError, match="the model failed"):
        decoding.generate(backend, backend.encode("Unlucky"), settings)
    # The batcher keeps serving, from an empty memory whenever it starts again.
    forgotten = backend.forgotten
    assert len(decoding.generate(backend, backend.encode("Next"), SamplingSettings(max_new_tokens=6))) == 6
    assert backend.forgotten == forgotten + 1


def test_an_error_outside_the_model_call_reaches_its_readers_and_the_batcher_keeps_serving(monkeypatch):
    backend = _BatchingBackend(step_s=0.002)
    settings = SamplingSettings(max_new_tokens=6)
    advance = decoding.Texts.advance
    failures = iter(["sampling"])

    def advance_or_fail(self, logits):
        if next(failures, None):
            raise ValueError("sampling failed")
        advance(self, logits)

    monkeypatch.setattr(decoding.Texts, "advance", advance_or_fail)
    with pytest.raises(ValueError, match="sampling failed"):
        decoding.generate(backend, backend.encode("Unlucky"), settings)
    assert len(decoding.generate(backend, backend.encode("Next"), settings)) == 6

    # The worker itself failing (here, taking in waiting requests) reaches the reader instead
    # of leaving it waiting forever, and the next generation starts a new worker.
    admit = decoding.StepBatcher._admit
    monkeypatch.setattr(
        decoding.StepBatcher, "_admit", lambda self: (_ for _ in ()).throw(RuntimeError("admit failed"))
    )
    with pytest.raises(RuntimeError, match="admit failed"):
        decoding.generate(backend, backend.encode("Unlucky"), settings)
    monkeypatch.setattr(decoding.StepBatcher, "_admit", admit)
    assert len(decoding.generate(backend, backend.encode("Next"), settings)) == 6
