"""Decoding on any backend: the prompt, streaming several variants, and steps shared by generations.

Every backend gives logits (autowrite.backends.base); this module turns them into texts
with the shared sampling, so a setting and a seed mean the same on every backend.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter, deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch

from autowrite import sampling
from autowrite.backends.base import Alternative, Backend, Candidate, Sample, Step
from autowrite.scheduling import FairQueue, Share
from autowrite.settings import SamplingSettings

logger = logging.getLogger(__name__)

INSPECT_TOP = 10  # alternatives the token inspector shows at each step


@dataclass(frozen=True)
class Options:
    """What a generation asks of decoding beyond its settings; see _Texts for each, and
    autowrite.scheduling for the share (who it is for, and whether it is bulk work)."""

    inspect: bool = False
    forced: Mapping[int, int] | None = None
    contrast_ids: Sequence[int] | None = None
    share: Share = Share()


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
    batcher: StepBatcher | None = None,
) -> Iterator[str]:
    """Yield the generated text so far after each new token; ends at EOS, the limit or stop."""
    for texts in stream_many(backend, prompt_ids, [settings], stop, batcher):
        yield texts[0]


def stream_many(
    backend: Backend,
    prompt_ids: Sequence[int],
    variants: Sequence[SamplingSettings],
    stop: threading.Event | None = None,
    batcher: StepBatcher | None = None,
) -> Iterator[list[str]]:
    """The texts of sample_many, one per variant, after each step."""
    for samples in sample_many(backend, prompt_ids, variants, stop, batcher):
        yield [sample.text for sample in samples]


def sample_many(
    backend: Backend,
    prompt_ids: Sequence[int],
    variants: Sequence[SamplingSettings],
    stop: threading.Event | None = None,
    batcher: StepBatcher | None = None,
    options: Options = Options(),  # noqa: B008 - frozen, never changed
) -> Iterator[list[Sample]]:
    """Decode one text per settings variant from the same prompt, one token each per step.

    All unfinished texts go to the backend together (logits_many), so a batching backend
    computes a step of four compare columns in about the time of one; with a batcher,
    other people's generations join the same steps. Each variant has its own random
    stream, so a text never depends on which others run beside it. More variants than the
    backend decodes at once (backend.batch_sequences) run in parts of that size.
    options: what else the generation asks (the inspector's steps, a branch, guidance); see _Texts.
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

    guided: a variant with rating guidance decodes two sequences (see _Texts) and counts twice.
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
        texts = _Texts(backend, prompt_ids, piece, options)
        later = [Sample("")] * (len(variants) - len(done) - len(piece))
        while texts.active:
            if stop is not None and stop.is_set():
                return
            backend.yield_to_keystrokes()
            texts.advance(backend.logits_many(texts.pending()))
            yield [*done, *texts.samples(), *later]
        done += texts.samples()


class _Texts:
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


_DONE = object()  # ends a request's queue of texts
_ANY_SIZE = 1 << 30  # room in a step when nothing runs: the first request always fits alone


@dataclass(eq=False)
class _Request:
    """A part of a generation, waiting for or taking part in a StepBatcher's steps.

    Its results go onto the generation's queue as (part, item): the samples after a step,
    _DONE, or an error.
    """

    texts: _Texts
    stop: threading.Event | None
    results: queue.SimpleQueue
    share: Share
    part: int = 0
    left: bool = False  # the reader went away (Stop, a closed tab): drop it at the next step

    @property
    def ended(self) -> bool:
        return self.left or (self.stop is not None and self.stop.is_set())

    def size(self) -> int:
        """Sequences it decodes in a step."""
        return len(self.texts.pending())

    def put(self, item: object) -> None:
        self.results.put((self.part, item))


class StepBatcher:
    """Decodes every generation running on one backend together: each step, one token for each.

    One person's generation costs a llama.cpp call per token that reads all the weights; a
    step of eight sequences took about four times one sequence's step (benchmarks/run.py:
    138.5 tokens/s in all for eight people, against 33.0 taking turns), so generations
    started by different people share steps instead of taking turns. A worker thread runs the steps
    while any request is running and stops when none is. Requests join and leave between
    steps; those that do not fit (more sequences than the backend decodes at once) wait
    their turn, caller by caller (autowrite.scheduling.FairQueue): one caller's report
    cannot hold the steps while someone else's generation waits.

    The results do not depend on what runs beside them: llama.cpp computes each sequence's
    logits the same, bit for bit, in any batch (tests/test_llamacpp.py), and each request has
    its own random streams. The memory starts empty whenever the worker starts, as a
    generation alone starts (see forget()).

    One batcher serves one model's generation backend (backend.for_generation()); the
    model's loader makes it, for backends that batch_generations.
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._lock = threading.Condition()  # notified when the worker stops: nothing runs or waits
        self._waiting: FairQueue[_Request] = FairQueue(backend.batch_sequences)
        self._running: list[_Request] = []
        self._working = False
        self.steps = 0  # logits_many calls; tests read it to see that requests shared steps

    def stream(
        self,
        prompt_ids: Sequence[int],
        variants: Sequence[SamplingSettings],
        stop: threading.Event | None = None,
        options: Options = Options(),  # noqa: B008 - frozen, never changed
    ) -> Iterator[list[Sample]]:
        """The samples so far after each step this generation took part in (later ones, if it lags).

        A generation larger than a step holds runs in parts, each waiting its turn as other
        requests do; parts not yet started read as empty texts.
        """
        results: queue.SimpleQueue = queue.SimpleQueue()
        # Bulk work takes its turn a text at a time, so it fills the room others leave.
        size = 1 if options.share.bulk else self.backend.batch_sequences
        requests = [
            _Request(_Texts(self.backend, prompt_ids, piece, options), stop, results, options.share, part)
            for part, piece in enumerate(parts(variants, size, options.contrast_ids is not None))
        ]
        latest = [request.texts.samples() for request in requests]
        running = {request.part for request in requests if request.texts.active}
        if not running:
            return
        self._enqueue([request for request in requests if request.part in running])
        try:
            while running:
                items = [results.get()]
                while True:  # a reader that fell behind skips to the newest samples
                    try:
                        items.append(results.get_nowait())
                    except queue.Empty:
                        break
                error = None
                for part, item in items:
                    if item is _DONE:
                        running.discard(part)
                    elif isinstance(item, BaseException):
                        error = error or item
                    else:
                        latest[part] = item
                if any(item is not _DONE and not isinstance(item, BaseException) for _, item in items):
                    yield [sample for part in latest for sample in part]
                if error is not None:
                    raise error
        finally:
            for request in requests:
                request.left = True

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no generation runs or waits here (every stopped one dropped); False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._working, timeout)

    def _enqueue(self, requests: list[_Request]) -> None:
        """Queue a generation's parts, starting the worker if none runs."""
        with self._lock:
            self._waiting.push(requests)
            if not self._working:
                try:
                    threading.Thread(target=self._work, name="generation-steps", daemon=True).start()
                except BaseException:  # no thread (out of resources): no worker would ever serve
                    self._waiting.remove(lambda request: request in requests)
                    raise
                self._working = True  # still under the lock, which the worker takes first

    def _admit(self) -> None:
        """Move waiting requests into the steps while their sequences fit, fairly by caller.

        When nothing runs, the next request starts whatever its size.
        """
        for request in self._waiting.remove(lambda request: request.ended):
            request.put(_DONE)
        running: Counter[str] = Counter()
        for request in self._running:
            running[request.share.caller] += request.size()
        while True:
            free = self.backend.batch_sequences - running.total() if self._running else _ANY_SIZE
            request = self._waiting.take(running, free)
            if request is None:
                return
            self._running.append(request)
            running[request.share.caller] += request.size()

    def _work(self) -> None:
        try:
            self.backend.forget()
            while True:
                with self._lock:
                    for request in [r for r in self._running if r.ended]:
                        self._running.remove(request)
                        request.put(_DONE)
                    self._admit()
                    if not self._running:
                        self._working = False
                        self._lock.notify_all()
                        return
                    running = list(self._running)
                self._step(running)
        except Exception as error:  # noqa: BLE001 - readers block on their queues: none may be left waiting
            logger.exception("generation steps stopped")
            with self._lock:
                for request in [*self._running, *self._waiting.remove(lambda _: True)]:
                    request.put(error)
                self._running.clear()
                self._working = False
                self._lock.notify_all()

    def _step(self, running: list[_Request]) -> None:
        self.backend.yield_to_keystrokes()
        wanted = [r.texts.pending() for r in running]
        try:
            logits = self.backend.logits_many([ids for sequences in wanted for ids in sequences])
        except Exception as error:  # noqa: BLE001 - handed to every reader of this step, then the next step runs
            with self._lock:
                for request in running:
                    self._running.remove(request)
                    request.put(error)
            return
        self.steps += 1
        start = 0
        for request, sequences in zip(running, wanted, strict=True):
            try:
                request.texts.advance(logits[start : start + len(sequences)])
            except Exception as error:  # noqa: BLE001 - one request's sampling error ends that request only
                with self._lock:
                    self._running.remove(request)
                request.put(error)
                continue
            finally:
                start += len(sequences)
            request.put(request.texts.samples())
            if not request.texts.active:
                with self._lock:
                    self._running.remove(request)
                request.put(_DONE)


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
    adjusted_logits = sampling.adjust(logits, settings, prompt_ids)
    if settings.do_sample:
        adjusted = torch.softmax(adjusted_logits, dim=-1)
    else:
        # Greedy puts all the mass on one token.
        adjusted = torch.zeros_like(raw)
        adjusted[int(torch.argmax(adjusted_logits))] = 1.0
    order = torch.argsort(raw, descending=True)[:top].tolist()
    return [Candidate(backend.vocabulary[i], float(raw[i]), float(adjusted[i])) for i in order]
