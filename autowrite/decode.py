"""Decoding on any backend: the prompt, and one request's variants streamed token by token.

Every backend gives logits (autowrite.backends.base); this module turns them into texts
with the shared sampling, so a setting and a seed mean the same on every backend. Steps
that several people's generations share are autowrite.batcher's.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from autowrite import sampling
from autowrite.backends.base import Alternative, Backend, Candidate, Sample, Step
from autowrite.scheduling import Share
from autowrite.settings import SamplingSettings

INSPECT_TOP = 10  # alternatives the token inspector shows at each step


@dataclass(frozen=True)
class Options:
    """What a generation asks of decoding beyond its settings; see Texts for each, and
    autowrite.scheduling for the share (who it is for, and whether it is bulk work)."""

    inspect: bool = False
    forced: Mapping[int, int] | None = None
    contrast_ids: Sequence[int] | None = None
    share: Share = Share()


class SharedSteps(Protocol):
    """Decode steps that several generations share: autowrite.batcher.StepBatcher."""

    def stream(
        self,
        prompt_ids: Sequence[int],
        variants: Sequence[SamplingSettings],
        stop: threading.Event | None,
        options: Options,
    ) -> Iterator[list[Sample]]:
        """The samples so far after each step this generation took part in."""


@dataclass
class Prepared:
    """Prompt token ids ready to decode from, with any warning about the prompt."""

    ids: list[int]
    warnings: list[str]


def prepare_prompt(backend: Backend, prompt: str, max_new_tokens: int) -> Prepared:
    """Tokenize a prompt, keeping its end when it would not leave room for the new tokens.

    ValueError when the new tokens alone fill the model's context: no prompt would fit.
    """
    room = backend.context_length - max_new_tokens
    if room < 1:
        raise ValueError(
            f"This model reads at most {backend.context_length} tokens, its prompt included: "
            f"ask for fewer than {backend.context_length} new tokens (not {max_new_tokens})."
        )
    ids = backend.encode(prompt)
    warnings = []
    if len(ids) > room:
        warnings.append(
            f"The prompt is {len(ids)} tokens; this model reads at most {backend.context_length} "
            f"including the {max_new_tokens} new ones, so only its last {room} tokens were used."
        )
        ids = ids[-room:]
    return Prepared(ids=ids if ids else backend.start_ids + ids, warnings=warnings)


def stream(
    backend: Backend,
    prompt_ids: Sequence[int],
    settings: SamplingSettings,
    stop: threading.Event | None = None,
    batcher: SharedSteps | None = None,
) -> Iterator[str]:
    """Yield the generated text so far after each new token; ends at EOS, the limit or stop."""
    for texts in stream_many(backend, prompt_ids, [settings], stop, batcher):
        yield texts[0]


def stream_many(
    backend: Backend,
    prompt_ids: Sequence[int],
    variants: Sequence[SamplingSettings],
    stop: threading.Event | None = None,
    batcher: SharedSteps | None = None,
) -> Iterator[list[str]]:
    """The texts of sample_many, one per variant, after each step."""
    for samples in sample_many(backend, prompt_ids, variants, stop, batcher):
        yield [sample.text for sample in samples]


def sample_many(
    backend: Backend,
    prompt_ids: Sequence[int],
    variants: Sequence[SamplingSettings],
    stop: threading.Event | None = None,
    batcher: SharedSteps | None = None,
    options: Options = Options(),  # noqa: B008 - frozen, never changed
) -> Iterator[list[Sample]]:
    """Decode one text per settings variant from the same prompt, one token each per step.

    All unfinished texts go to the backend together (logits_many), so a batching backend
    computes a step of four compare columns in about the time of one; with a batcher,
    other people's generations join the same steps. Each variant has its own random
    stream, so a text never depends on which others run beside it. More variants than the
    backend decodes at once (backend.batch_sequences) run in parts of that size.
    options: what else the generation asks (the inspector's steps, a branch, guidance); see Texts.
    """
    with backend.traffic.serving():
        if batcher is not None:
            yield from batcher.stream(prompt_ids, variants, stop, options)
        else:
            yield from _stream_alone(backend.for_generation(), prompt_ids, variants, stop, options)


def check_forced(backend: Backend, forced: Mapping[int, int] | None) -> None:
    """ValueError for a branch token the model does not have (autowrite.local checks before decoding)."""
    for step, token in (forced or {}).items():
        if not 0 <= token < backend.vocab_size:
            raise ValueError(f"branch: token {token} at step {step} is not in this model's vocabulary")


def parts(variants: Sequence[SamplingSettings], size: int, guided: bool = False) -> list[list[SamplingSettings]]:
    """Variants in consecutive parts of at most size sequences (at least one variant each).

    guided: a variant with rating guidance decodes two sequences (see Texts) and counts twice.
    """
    chunks: list[list[SamplingSettings]] = []
    room = 0
    for variant in variants:
        weight = 2 if guided and variant.rating_guidance != 1.0 else 1
        if not chunks or weight > room:
            chunks.append([])
            room = max(size, weight)
        chunks[-1].append(variant)
        room -= weight
    return chunks


def _stream_alone(
    backend: Backend,
    prompt_ids: Sequence[int],
    variants: Sequence[SamplingSettings],
    stop: threading.Event | None,
    options: Options,
) -> Iterator[list[Sample]]:
    done: list[Sample] = []
    for piece in parts(variants, backend.batch_sequences, guided=options.contrast_ids is not None):
        # A shared link must give the same text whatever the server computed before, so each
        # part starts from a clean cache (the prompt costs one batched pass).
        backend.forget()
        texts = Texts(backend, prompt_ids, piece, options)
        later = [Sample("")] * (len(variants) - len(done) - len(piece))
        while texts.active:
            if stop is not None and stop.is_set():
                return
            backend.yield_to_keystrokes()
            texts.advance(backend.logits_many(texts.pending()))
            yield [*done, *texts.samples(), *later]
        done += texts.samples()


class Texts:
    """The texts of one generation request: ids, random streams and decoded text per variant.

    Each chosen token's log-probability under the model (before the settings) is summed,
    for the report card's fit; it costs one log-sum-exp over the vocabulary per token.
    options.inspect keeps each token's Step for the token inspector. forced maps a step to the
    token written there instead of the one drawn (a branch); the draw still happens, so
    the random stream after it is the one the unbranched text had.

    contrast_ids: the prompt with the opposite stars, for variants with rating_guidance
    other than 1. Such a variant decodes two sequences, its text after each prompt; the
    token is drawn from sampling.guide() of their logits, and its log-probability (the
    report card's fit) and the inspector's raw column are the asked prompt's, unguided.
    """

    def __init__(
        self,
        backend: Backend,
        prompt_ids: Sequence[int],
        variants: Sequence[SamplingSettings],
        options: Options = Options(),  # noqa: B008 - frozen, never changed
    ) -> None:
        self.backend = backend
        self.variants = list(variants)
        self.ids = [list(prompt_ids) for _ in variants]
        self.generated: list[list[int]] = [[] for _ in variants]
        self.generators = [sampling.make_generator(v.seed) for v in variants]
        self.texts = [""] * len(variants)
        self.logprobs = [0.0] * len(variants)
        self.ended = [False] * len(variants)
        self.active = [i for i, v in enumerate(variants) if v.max_new_tokens > 0]
        self.inspect = options.inspect
        self.steps: list[list[Step]] = [[] for _ in variants]
        self.forced = dict(options.forced or {})
        self.contrast = [
            list(options.contrast_ids) if options.contrast_ids is not None and v.rating_guidance != 1.0 else None
            for v in variants
        ]

    def pending(self) -> list[list[int]]:
        """The sequences whose next token is wanted, in the order advance() takes their logits:
        each active variant's text, followed by its text after the contrasting prompt when guided."""
        sequences = []
        for i in self.active:
            sequences.append(self.ids[i])
            if self.contrast[i] is not None:
                sequences.append(self.contrast[i])
        return sequences

    def samples(self) -> list[Sample]:
        """Each variant's text so far, with its token count, summed log-probability, ending and steps."""
        return [
            Sample(text, len(generated), logprob, ended, tuple(steps) if self.inspect else None)
            for text, generated, logprob, ended, steps in zip(
                self.texts, self.generated, self.logprobs, self.ended, self.steps
            )
        ]

    def advance(self, logits: Sequence[torch.Tensor]) -> None:
        """Choose each active variant's next token from its logits (in pending()'s order)."""
        rows = iter(logits)
        for i in self.active:
            row = next(rows)
            steered = row
            if self.contrast[i] is not None:
                steered = sampling.guide(row, next(rows), self.variants[i].rating_guidance)
            drawn = sampling.draw(steered, self.variants[i], self.ids[i], self.generators[i])
            token = self.forced.get(len(self.generated[i]), drawn.token)
            row = row.float()
            total = torch.logsumexp(row, 0)
            self.logprobs[i] += float(row[token] - total)
            before = self.texts[i]
            self._write(i, token)
            if self.inspect:
                added = self.texts[i][len(before) :] if self.texts[i].startswith(before) else self.texts[i]
                self.steps[i].append(self._step(row, total, drawn, token, added))
        if next(rows, None) is not None:
            raise ValueError("more logits than pending sequences")
        self.active = [
            i
            for i in self.active
            if self.generated[i][-1:] != [-1] and len(self.generated[i]) < self.variants[i].max_new_tokens
        ]

    def _write(self, i: int, token: int) -> None:
        """Append a chosen token to variant i: its ids and decoded text, or its end."""
        if token == self.backend.eos_token_id:
            self.generated[i].append(-1)  # marks the end; never decoded
            self.ended[i] = True
            return
        self.ids[i].append(token)
        if self.contrast[i] is not None:
            self.contrast[i].append(token)
        self.generated[i].append(token)
        decoded = self.backend.decode(self.generated[i])
        # A multi-byte character split across tokens decodes to U+FFFD until it is whole.
        if not decoded.endswith("\ufffd"):
            self.texts[i] = decoded

    def _step(self, row: torch.Tensor, total: torch.Tensor, drawn: sampling.Draw, token: int, added: str) -> Step:
        """What the inspector shows for one token: its chances, and the likeliest others."""
        ids = torch.topk(row, INSPECT_TOP).indices.tolist()
        if token not in ids:
            ids.append(token)
        raw = torch.exp(row[ids] - total).tolist()
        if drawn.kept is None:  # greedy: all the mass on the token the settings chose
            adjusted = [1.0 if t == drawn.token else 0.0 for t in ids]
        else:
            spread = torch.zeros_like(row)
            spread[drawn.kept] = drawn.probabilities
            adjusted = spread[ids].tolist()
        vocabulary = self.backend.vocabulary
        alternatives = tuple(
            Alternative(t, vocabulary[t] if 0 <= t < len(vocabulary) else "", r, a)
            for t, r, a in zip(ids, raw, adjusted)
        )
        chosen = ids.index(token)
        forced = token != drawn.token
        return Step(token, added, raw[chosen], adjusted[chosen], alternatives, forced)


def last(items: Iterator, default=None):
    """The final item of a stream (draining it), or default when it yields nothing."""
    remaining = deque(items, maxlen=1)
    return remaining[0] if remaining else default


def distribution(
    backend: Backend, prompt_ids: Sequence[int], settings: SamplingSettings, top: int = 10
) -> list[Candidate]:
    """The most likely next tokens, with raw and setting-adjusted probabilities."""
    logits = backend.next_logits(prompt_ids)
    raw = torch.softmax(logits.float(), dim=-1)
    adjusted = sampling.adjusted_probabilities(logits, settings, prompt_ids)
    order = torch.argsort(raw, descending=True)[:top].tolist()
    return [Candidate(backend.vocabulary[i], float(raw[i]), float(adjusted[i])) for i in order]
