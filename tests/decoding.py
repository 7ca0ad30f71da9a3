"""Decoding as the tests drive it: autowrite.decode, with the batcher a loader gives a batching backend.

The app's loader makes one StepBatcher per model whose backend batches generations
(autowrite.loading.load_entry); tests that decode on a backend directly get the same
here, one batcher per generation backend, so their generations share steps as the app's do.

The counters tests read to see reuse and batching live here too, as wrappers: the app
never reads them, so its classes do not keep them.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator, Sequence

from autowrite import decode
from autowrite.backends.base import Backend
from autowrite.backends.llamacpp import LlamaCppBackend
from autowrite.backends.transformers import TransformersBackend
from autowrite.batcher import StepBatcher
from autowrite.decode import Texts, distribution, last, prepare_prompt
from autowrite.settings import SamplingSettings

__all__ = [
    "CountedSteps",
    "CountingLlamaCppBackend",
    "CountingTransformersBackend",
    "StepBatcher",
    "Texts",
    "batcher_for",
    "count_steps",
    "distribution",
    "generate",
    "last",
    "prepare_prompt",
    "stream",
]

_BATCHERS: weakref.WeakKeyDictionary[Backend, StepBatcher] = weakref.WeakKeyDictionary()


def batcher_for(backend: Backend) -> StepBatcher | None:
    """The batcher of a backend that batches generations (made on first use), else None."""
    if not backend.batches_generations:
        return None
    generation = backend.for_generation()
    if generation not in _BATCHERS:
        _BATCHERS[generation] = StepBatcher(generation)
    return _BATCHERS[generation]


def stream_many(
    backend: Backend,
    prompt_ids: Sequence[int],
    variants: Sequence[SamplingSettings],
    stop: threading.Event | None = None,
) -> Iterator[list[str]]:
    """decode.stream_many with the backend's batcher."""
    return decode.stream_many(backend, prompt_ids, variants, stop, batcher_for(backend))


def stream(
    backend: Backend, prompt_ids: Sequence[int], settings: SamplingSettings, stop: threading.Event | None = None
) -> Iterator[str]:
    """decode.stream with the backend's batcher."""
    return decode.stream(backend, prompt_ids, settings, stop, batcher_for(backend))


def generate(backend: Backend, prompt_ids: Sequence[int], settings: SamplingSettings) -> str:
    """The whole generated text at once."""
    return last(stream(backend, prompt_ids, settings), "")


class CountingTransformersBackend(TransformersBackend):
    """The reference backend with tokens_computed: the positions its forward passes ran, to see reuse.

    A generation sibling (for_generation) counts its own, from zero.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.tokens_computed = 0
        _count_forward_passes(self.model)

    def for_generation(self) -> CountingTransformersBackend:
        sibling = super().for_generation()
        sibling.tokens_computed = 0
        return sibling

    def _logits(self, ids: list[int], taken: set[int]):
        # The model is shared with siblings and other backends: its passes count for the
        # backend whose _logits runs them on this thread.
        _computing.backend = self
        try:
            return super()._logits(ids, taken)
        finally:
            _computing.backend = None


_computing = threading.local()
_HOOKED: weakref.WeakSet = weakref.WeakSet()


def _count_forward_passes(model) -> None:
    """Once per model: each forward pass adds its input's length to the counting backend running it."""
    if model in _HOOKED:
        return

    def counted(module, args, kwargs, output) -> None:
        backend = getattr(_computing, "backend", None)
        if backend is not None:
            backend.tokens_computed += kwargs["input_ids"].shape[1]

    model.register_forward_hook(counted, with_kwargs=True)
    _HOOKED.add(model)


class CountingLlamaCppBackend(LlamaCppBackend):
    """The llama.cpp backend with, on each context (typing and for_generation()), decode_calls
    (its llama_decode calls, to see batching) and tokens_computed (the positions they ran, to see reuse)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for context in (self, self.for_generation()):
            context.decode_calls = 0
            context.tokens_computed = 0

    def _decode(self, protected: set[int]) -> None:
        super()._decode(protected)
        self.decode_calls += 1
        self.tokens_computed += self._batch.batch.n_tokens


class CountedSteps:
    """A batcher's backend that counts the steps it served (logits_many calls that returned): steps.

    count_steps puts it in the batcher's place of its backend; all else passes through.
    """

    def __init__(self, backend: Backend) -> None:
        self.steps = 0
        self._backend = backend

    def logits_many(self, sequences):
        logits = self._backend.logits_many(sequences)
        self.steps += 1  # only the batcher's worker thread calls it
        return logits

    def __getattr__(self, name: str):
        return getattr(self._backend, name)


def count_steps(batcher: StepBatcher) -> CountedSteps:
    """The batcher's step counter, put in place while it is idle (once; later calls return it)."""
    if not isinstance(batcher.backend, CountedSteps):
        batcher.backend = CountedSteps(batcher.backend)
    return batcher.backend
