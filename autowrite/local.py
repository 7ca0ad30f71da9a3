"""A model on this machine, served as the service asks: its token-level backend, decoded and suggested on.

The transformers and llama.cpp backends give logits; this wraps one of them (and the batcher
its generations share steps in) in the same Model protocol the remote backend answers, so
the service never asks which kind of model it holds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence

from autowrite import decode, sampling
from autowrite.backends.base import MIN_PROBABILITY, Backend, BackendError, Candidate, Sample, Suggestions
from autowrite.batcher import StepBatcher
from autowrite.decode import Prepared
from autowrite.scheduling import Share
from autowrite.settings import SamplingSettings
from autowrite.suggest import forget, suggest


class LocalModel:
    """The Model protocol over a local backend's logits."""

    def __init__(self, backend: Backend, batcher: StepBatcher | None = None) -> None:
        self.backend = backend
        self.batcher = batcher  # the model's shared generation steps, for a backend that batches them

    @property
    def nbytes(self) -> int:
        """Memory the model's weights take."""
        return self.backend.nbytes

    def forget(self) -> None:
        """Drop every computed position (the suggestions' memo and the backend's caches): what comes next
        starts cold, as after loading."""
        forget(self.backend)
        self.backend.forget()

    def stream_many(
        self,
        prompt: str,
        variants: Sequence[SamplingSettings],
        stop: threading.Event | None = None,
        *,
        inspect: bool = False,
        forced: Mapping[int, int] | None = None,
        contrast: str | None = None,
        share: Share = Share(),  # noqa: B008 - frozen, never changed
    ) -> Iterator[tuple[list[Sample], list[str]]]:
        """Decode one text per variant; a prompt that leaves no room or a token the model lacks fails here."""
        longest = max(v.max_new_tokens for v in variants)
        generation = self.backend.for_generation()
        try:
            prepared = decode.prepare_prompt(generation, prompt, longest)
            # The contrast decodes beside the prompt, so it keeps its end within the same room.
            contrasting = decode.prepare_prompt(generation, contrast, longest).ids if contrast is not None else None
            decode.check_forced(self.backend, forced)
        except ValueError as error:
            raise BackendError(str(error)) from None
        # Banned words, logit bias and DRY compiled against this model's vocabulary, once per request.
        variants = [sampling.resolve(v, self.backend.vocabulary, self.backend.encode) for v in variants]
        return self._steps(prepared, variants, stop, decode.Options(inspect, forced, contrasting, share))

    def _steps(
        self,
        prepared: Prepared,
        variants: Sequence[SamplingSettings],
        stop: threading.Event | None,
        options: decode.Options,
    ) -> Iterator[tuple[list[Sample], list[str]]]:
        yield [Sample("")] * len(variants), prepared.warnings
        for samples in decode.sample_many(self.backend, prepared.ids, variants, stop, self.batcher, options):
            yield samples, prepared.warnings

    def distribution(self, prompt: str, settings: SamplingSettings, top: int = 10) -> list[Candidate]:
        """The likeliest next tokens after the prompt, before and after the settings."""
        settings = sampling.resolve(settings, self.backend.vocabulary, self.backend.encode)
        prepared = decode.prepare_prompt(self.backend, prompt, 1)
        return decode.distribution(self.backend, prepared.ids, settings, top)

    def suggest(
        self,
        text: str,
        context: str = "",
        count: int = 5,
        ghost_tokens: int = 8,
        min_probability: float = MIN_PROBABILITY,
        finish: bool = True,
    ) -> Suggestions:
        """Live suggestions for text typed after context; a text too long keeps its end."""
        budget = self.backend.context_length - ghost_tokens - 8
        # A token covers at least one byte, so a text of fewer bytes fits without encoding it
        # here (suggest() encodes it anyway).
        if len((context + text).encode()) > budget:
            ids = self.backend.encode(context + text)
            if len(ids) > budget:
                # Long texts keep their end: suggestions depend on the last few hundred tokens.
                context, text = "", self.backend.decode(ids[-budget:])
        return suggest(
            self.backend,
            text,
            context=context,
            count=count,
            ghost_tokens=ghost_tokens,
            min_probability=min_probability,
            finish=finish,
        )
