"""Decoding as the tests drive it: autowrite.decode, with the batcher a loader gives a batching backend.

The app's loader makes one StepBatcher per model whose backend batches generations
(autowrite.loading.load_entry); tests that decode on a backend directly get the same
here, one batcher per generation backend, so their generations share steps as the app's do.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator, Sequence

from autowrite import decode
from autowrite.backends.base import Backend
from autowrite.batcher import StepBatcher
from autowrite.decode import Texts, distribution, last, prepare_prompt
from autowrite.settings import SamplingSettings

__all__ = ["StepBatcher", "Texts", "batcher_for", "distribution", "generate", "last", "prepare_prompt", "stream"]

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
