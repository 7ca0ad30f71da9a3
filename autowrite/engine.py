"""The backend interface, the reference transformers backend, and decoding built on it.

A backend does three things: tokenize, detokenize, and give next-token logits for a
sequence of token ids while reusing whatever it computed for an earlier sequence with the
same prefix. Streaming generation, several samples, the next-token distribution and live
suggestions are written once, on top of that, so every backend means the same thing by
every setting.
"""

from __future__ import annotations

import copy
import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from autowrite import sampling
from autowrite.settings import SamplingSettings

logger = logging.getLogger(__name__)

# Why 0.1 s: a keystroke's suggestions take a few to a few tens of milliseconds; a generation
# waits at most this long per token for them, so a crowd of typists slows generations to
# ~10 tokens/s at worst but never stops them.
KEYSTROKE_PRIORITY_S = 0.1


class _InFlight:
    """How many requests (keystrokes, generations) the process is serving, and when it last typed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self.keystrokes = 0
        self.last_keystroke = -float("inf")  # time.monotonic() when the last keystroke ended

    def add(self, n: int, keystroke: bool) -> None:
        with self._lock:
            self.count += n
            if keystroke:
                self.keystrokes += n
                self.last_keystroke = time.monotonic()


_IN_FLIGHT = _InFlight()


@contextmanager
def serving(keystroke: bool = False) -> Iterator[None]:
    """Count a request as in flight while it runs (a backend may size its threads by it)."""
    _IN_FLIGHT.add(1, keystroke)
    try:
        yield
    finally:
        _IN_FLIGHT.add(-1, keystroke)


def requests_in_flight(typing_window_s: float = 1.0) -> tuple[int, bool]:
    """Requests being served right now in this process, and whether people are typing:
    a keystroke in flight, or one that ended within the window."""
    typing = _IN_FLIGHT.keystrokes > 0 or time.monotonic() - _IN_FLIGHT.last_keystroke < typing_window_s
    return _IN_FLIGHT.count, typing


class _Turns:
    """How many live suggestions wait for or hold a model, and a condition to wait on."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.waiting = 0


class Backend(ABC):
    """Next-token logits with prefix reuse, plus the tokenizer; thread-safe."""

    name: str = "backend"
    # Whether concurrent generations should decode as one batch (StepBatcher): for a backend
    # whose logits_many costs about one sequence's time for many, and whose results do not
    # depend on what runs beside them.
    batches_generations: bool = False
    # How many sequences a StepBatcher may decode at once; each must fit context_length.
    batch_sequences: int = 1
    context_length: int
    eos_token_id: int | None
    start_ids: list[int]  # fed before an empty text, so there is always a position to predict from

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._batcher: StepBatcher | None = None
        self._vocabulary: list[str] | None = None
        self._turns = _Turns()  # shared with any sibling backend on the same weights

    @contextmanager
    def keystroke(self) -> Iterator[None]:
        """Mark a live suggestion in progress: generation steps and ghosts let it go first.

        A generation takes the lock one token at a time and would otherwise win it back at
        once, so a keystroke could wait several tokens behind it (see yield_to_keystrokes).
        The model is not held for the whole suggestion: its calls take the lock one by one,
        so a backend can serve several people's keystrokes in one batch (fast.py).
        """
        with self._turns.changed:
            self._turns.waiting += 1
        try:
            yield
        finally:
            with self._turns.changed:
                self._turns.waiting -= 1
                self._turns.changed.notify_all()

    def yield_to_keystrokes(self, limit_s: float = KEYSTROKE_PRIORITY_S) -> None:
        """Wait (at most limit_s) while live suggestions wait for or hold the model."""
        with self._turns.changed:
            self._turns.changed.wait_for(lambda: self._turns.waiting == 0, timeout=limit_s)

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """Token ids of a text, without special tokens."""

    @abstractmethod
    def decode(self, ids: Sequence[int]) -> str:
        """Text of token ids, special tokens dropped."""

    @abstractmethod
    def next_logits(self, ids: Sequence[int]) -> torch.Tensor:
        """Float logits over the vocabulary for the token after ids (ids must not be empty)."""

    def logits_many(self, sequences: Sequence[Sequence[int]]) -> list[torch.Tensor]:
        """Logits after each of several sequences; backends may evaluate them as one batch."""
        return [self.next_logits(s) for s in sequences]

    def forget(self) -> None:  # noqa: B027 - optional: only a backend whose memory can change results needs it
        """Drop remembered prefixes, so what comes next is computed as in a new backend."""

    def step_batcher(self) -> StepBatcher:
        """The StepBatcher of this backend (made on first use)."""
        with self.lock:
            if self._batcher is None:
                self._batcher = StepBatcher(self)
            return self._batcher

    def for_generation(self) -> Backend:
        """The backend generations run on: this one, or the same model with a memory of its own.

        A backend whose forget() would also throw away what live suggestions keep (every
        typist's prefix) gives generations their own memory instead.
        """
        return self

    @property
    def vocabulary(self) -> list[str]:
        """The text of each token id on its own (computed once)."""
        if self._vocabulary is None:
            self._vocabulary = [self.decode([i]) for i in range(self.vocab_size)]
        return self._vocabulary

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of logits per position."""

    @property
    @abstractmethod
    def nbytes(self) -> int:
        """Memory the model's weights take, for the model cache's budget."""


@dataclass
class _Slot:
    """One remembered sequence: its ids, its key/value cache and the logits after it."""

    ids: list[int] = field(default_factory=list)
    cache: object | None = None
    logits: torch.Tensor | None = None


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading ids two sequences share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _truncate(cache, length: int) -> None:
    """Keep the first length positions of a key/value cache (transformers 5 crops by a negative count)."""
    extra = cache.get_seq_length() - length
    if extra > 0:
        cache.crop(-extra)


class TransformersBackend(Backend):
    """The reference backend: any causal LM from transformers, with a few reusable KV caches."""

    name = "transformers"

    def __init__(self, model, tokenizer, *, max_slots: int = 4) -> None:
        super().__init__()
        self.model = model.eval()
        self.tokenizer = tokenizer
        config = model.config
        self.context_length = int(
            getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None) or 1024
        )
        self.eos_token_id = tokenizer.eos_token_id
        start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        self.start_ids = [start] if start is not None else []
        # Why several slots: two people typing at once would otherwise evict each other's
        # prefix on every keystroke. Four keeps memory small for a 135M model.
        self._slots = [_Slot() for _ in range(max_slots)]
        self._clock = 0
        self._last_used = [0] * max_slots
        self.tokens_computed = 0  # positions run through the model; tests read it to see reuse
        # A generation's variants each keep a slot (for_generation); a typist's candidate words
        # share the typist's slot, so that one keystroke does not evict the other typists.
        self._slot_per_sequence = False

    @property
    def vocab_size(self) -> int:
        return int(self.model.get_output_embeddings().weight.shape[0])

    @property
    def nbytes(self) -> int:
        return sum(p.numel() * p.element_size() for p in self.model.parameters())

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def forget(self) -> None:
        with self.lock:
            self._slots = [_Slot() for _ in self._slots]
            self._last_used = [0] * len(self._slots)

    def for_generation(self) -> TransformersBackend:
        """The same model with caches of its own, for one generation.

        A prefix computed in pieces (a typist's keystrokes, another generation) and the same
        prefix computed in one pass differ in the last bits of fp32 on CPU, enough to change a
        sampled token now and then; a shared link must give the same text whatever else the
        server computed before or beside it. The lock is shared: one forward pass at a time.
        """
        sibling = copy.copy(self)
        sibling.forget()  # new slot lists on the sibling; this backend's stay as they are
        sibling.tokens_computed = 0
        sibling._slot_per_sequence = True
        return sibling

    def next_logits(self, ids: Sequence[int]) -> torch.Tensor:
        ids = list(ids)
        if not ids:
            raise ValueError("next_logits needs at least one token id")
        with self.lock, torch.inference_mode():
            return self._logits(ids, taken=set())

    def logits_many(self, sequences: Sequence[Sequence[int]]) -> list[torch.Tensor]:
        if not self._slot_per_sequence:
            return super().logits_many(sequences)
        if any(not s for s in sequences):
            raise ValueError("next_logits needs at least one token id")
        with self.lock, torch.inference_mode():
            taken: set[int] = set()
            return [self._logits(list(s), taken) for s in sequences]

    def _logits(self, ids: list[int], taken: set[int]) -> torch.Tensor:
        """Logits after ids from the slot sharing most of them, skipping the slots in taken."""
        slots = self._slots
        shared = [common_prefix_length(slot.ids, ids) for slot in slots]
        self._clock += 1
        for i, (slot, n) in enumerate(zip(slots, shared, strict=True)):
            if n == len(ids) == len(slot.ids) and slot.logits is not None:
                self._last_used[i] = self._clock
                return slot.logits  # the same sequence again, in this call or an earlier one
        free = [i for i in range(len(slots)) if i not in taken] or list(range(len(slots)))
        oldest = min(free, key=lambda i: self._last_used[i])
        best = max(free, key=lambda i: (shared[i], self._last_used[i]))
        source = max(range(len(slots)), key=lambda i: (shared[i], self._last_used[i]))
        keep = min(shared[source], len(ids) - 1)
        if keep == 0:
            index, cache = oldest, None
        elif shared[best] >= shared[source]:
            index, cache = best, slots[best].cache  # extend it, or cut it back to what it shares
        else:
            # The longest prefix is in a slot already used in this call: copy it rather than
            # cut back a cache that its sequence needs on the next step.
            index, cache = oldest, copy.deepcopy(slots[source].cache)
        if cache is not None:
            _truncate(cache, keep)
        else:
            keep = 0
        taken.add(index)
        self._last_used[index] = self._clock
        new = torch.tensor([ids[keep:]], dtype=torch.long)
        out = self.model(input_ids=new, past_key_values=cache, use_cache=True)
        self.tokens_computed += new.shape[1]
        slot = slots[index]
        slot.ids, slot.cache, slot.logits = ids, out.past_key_values, out.logits[0, -1].float()
        return slot.logits


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
) -> Iterator[str]:
    """Yield the generated text so far after each new token; ends at EOS, the limit or stop."""
    for texts in stream_many(backend, prompt_ids, [settings], stop):
        yield texts[0]


def stream_many(
    backend: Backend,
    prompt_ids: Sequence[int],
    variants: Sequence[SamplingSettings],
    stop: threading.Event | None = None,
) -> Iterator[list[str]]:
    """Decode one text per settings variant from the same prompt, one token each per step.

    All unfinished texts go to the backend together (logits_many), so a batching backend
    computes a step of four compare columns in about the time of one; on such a backend
    other people's generations join the same steps (StepBatcher). Each variant has its own
    random stream, so a text never depends on which others run beside it.
    """
    with serving():
        yield from _stream_many(backend.for_generation(), prompt_ids, variants, stop)


def _stream_many(
    backend: Backend, prompt_ids: Sequence[int], variants: Sequence[SamplingSettings], stop: threading.Event | None
) -> Iterator[list[str]]:
    if backend.batches_generations:
        yield from backend.step_batcher().stream(prompt_ids, variants, stop)
        return
    # A shared link must give the same text whatever the server computed before, so each
    # generation starts from a clean cache (the prompt costs one batched pass).
    backend.forget()
    texts = _Texts(backend, prompt_ids, variants)
    while texts.active:
        if stop is not None and stop.is_set():
            return
        backend.yield_to_keystrokes()
        texts.advance(backend.logits_many(texts.pending()))
        yield list(texts.texts)


class _Texts:
    """The texts of one generation request: ids, random streams and decoded text per variant."""

    def __init__(self, backend: Backend, prompt_ids: Sequence[int], variants: Sequence[SamplingSettings]) -> None:
        self.backend = backend
        self.variants = list(variants)
        self.ids = [list(prompt_ids) for _ in variants]
        self.generated: list[list[int]] = [[] for _ in variants]
        self.generators = [sampling.make_generator(v.seed) for v in variants]
        self.texts = [""] * len(variants)
        self.active = [i for i, v in enumerate(variants) if v.max_new_tokens > 0]

    def pending(self) -> list[list[int]]:
        """The sequences whose next token is wanted, in the order advance() takes their logits."""
        return [self.ids[i] for i in self.active]

    def advance(self, logits: Sequence[torch.Tensor]) -> None:
        """Choose each active variant's next token from its logits."""
        for i, row in zip(self.active, logits, strict=True):
            token = sampling.choose(row, self.variants[i], self.ids[i], self.generators[i])
            if token == self.backend.eos_token_id:
                self.generated[i].append(-1)  # marks the end; never decoded
                continue
            self.ids[i].append(token)
            self.generated[i].append(token)
            decoded = self.backend.decode(self.generated[i])
            # A multi-byte character split across tokens decodes to U+FFFD until it is whole.
            if not decoded.endswith("\ufffd"):
                self.texts[i] = decoded
        self.active = [
            i
            for i in self.active
            if self.generated[i][-1:] != [-1] and len(self.generated[i]) < self.variants[i].max_new_tokens
        ]


_DONE = object()  # ends a request's queue of texts


@dataclass(eq=False)
class _Request:
    """A generation waiting for or taking part in a StepBatcher's steps."""

    texts: _Texts
    stop: threading.Event | None
    results: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    left: bool = False  # the reader went away (Stop, a closed tab): drop it at the next step

    @property
    def ended(self) -> bool:
        return self.left or (self.stop is not None and self.stop.is_set())


class StepBatcher:
    """Decodes every generation running on one backend together: each step, one token for each.

    One person's generation costs a llama.cpp call per token that reads all the weights; a
    step of eight sequences took about four times one sequence's step (benchmarks/run.py:
    138.5 tokens/s in all for eight people, against 33.0 taking turns), so generations
    started by different people share steps instead of taking turns. A worker thread runs the steps
    while any request is running and stops when none is. Requests join and leave between
    steps; those that do not fit (more sequences than the backend decodes at once) wait
    their turn, in order of arrival.

    The results do not depend on what runs beside them: llama.cpp computes each sequence's
    logits the same, bit for bit, in any batch (tests/test_fast.py), and each request has
    its own random streams. The memory starts empty whenever the worker starts, as a lone
    generation did before (see forget()).
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._lock = threading.Lock()
        self._waiting: deque[_Request] = deque()
        self._running: list[_Request] = []
        self._working = False
        self.steps = 0  # logits_many calls; tests read it to see that requests shared steps

    def stream(
        self, prompt_ids: Sequence[int], variants: Sequence[SamplingSettings], stop: threading.Event | None = None
    ) -> Iterator[list[str]]:
        """The texts so far after each step this request took part in (later ones, if it lags)."""
        request = _Request(_Texts(self.backend, prompt_ids, variants), stop)
        if not request.texts.active:
            return
        with self._lock:
            self._waiting.append(request)
            if not self._working:
                try:
                    threading.Thread(target=self._work, name="generation-steps", daemon=True).start()
                except BaseException:  # no thread (out of resources): no worker would ever serve
                    self._waiting.remove(request)
                    raise
                self._working = True  # still under the lock, which the worker takes first
        try:
            while True:
                item = request.results.get()
                while item is not _DONE and not isinstance(item, BaseException):
                    try:  # a reader that fell behind skips to the newest texts
                        newer = request.results.get_nowait()
                    except queue.Empty:
                        break
                    if newer is _DONE or isinstance(newer, BaseException):
                        yield item
                    item = newer
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            request.left = True

    def _admit(self) -> None:
        """Move waiting requests into the steps while their sequences fit; the first always fits alone."""
        sequences = sum(len(r.texts.active) for r in self._running)
        while self._waiting:
            request = self._waiting[0]
            if request.ended:
                self._waiting.popleft()
                request.results.put(_DONE)
                continue
            wanted = len(request.texts.active)
            if self._running and sequences + wanted > self.backend.batch_sequences:
                return
            self._waiting.popleft()
            self._running.append(request)
            sequences += wanted

    def _work(self) -> None:
        try:
            self.backend.forget()
            while True:
                with self._lock:
                    for request in [r for r in self._running if r.ended]:
                        self._running.remove(request)
                        request.results.put(_DONE)
                    self._admit()
                    if not self._running:
                        self._working = False
                        return
                    running = list(self._running)
                self._step(running)
        except Exception as error:  # noqa: BLE001 - readers block on their queues: none may be left waiting
            logger.exception("generation steps stopped")
            with self._lock:
                for request in [*self._running, *self._waiting]:
                    request.results.put(error)
                self._running.clear()
                self._waiting.clear()
                self._working = False

    def _step(self, running: list[_Request]) -> None:
        self.backend.yield_to_keystrokes()
        wanted = [r.texts.pending() for r in running]
        try:
            logits = self.backend.logits_many([ids for sequences in wanted for ids in sequences])
        except Exception as error:  # noqa: BLE001 - handed to every reader of this step, then the next step runs
            with self._lock:
                for request in running:
                    self._running.remove(request)
                    request.results.put(error)
            return
        self.steps += 1
        start = 0
        for request, sequences in zip(running, wanted, strict=True):
            try:
                request.texts.advance(logits[start : start + len(sequences)])
            except Exception as error:  # noqa: BLE001 - one request's sampling error ends that request only
                with self._lock:
                    self._running.remove(request)
                request.results.put(error)
                continue
            finally:
                start += len(sequences)
            request.results.put(list(request.texts.texts))
            if not request.texts.active:
                with self._lock:
                    self._running.remove(request)
                request.results.put(_DONE)


def last(items: Iterator, default=None):
    """The final item of a stream (draining it), or default when it yields nothing."""
    remaining = deque(items, maxlen=1)
    return remaining[0] if remaining else default


def generate(backend: Backend, prompt_ids: Sequence[int], settings: SamplingSettings) -> str:
    """The whole generated text at once."""
    return last(stream(backend, prompt_ids, settings), "")


@dataclass
class Candidate:
    """One next token with its probability before and after the sampling settings."""

    token: str
    raw: float
    adjusted: float


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
