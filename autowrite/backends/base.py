"""What every backend is: the token-level interface and the results it serves.

A backend does three things: tokenize, detokenize, and give next-token logits for a
sequence of token ids while reusing whatever it computed for an earlier sequence with the
same prefix. Streaming generation (autowrite.decode), the next-token distribution and live
suggestions (autowrite.suggest) are written once on top of that, so every backend means
the same thing by every setting. The result types here are what the service hands on,
whichever backend made them (the remote backend makes them from a server's answers).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

import torch

from autowrite.scheduling import KEYSTROKE_PRIORITY_S, Share, Traffic, Turns
from autowrite.settings import SamplingSettings


class BackendError(RuntimeError):
    """A request this backend cannot serve; the message says why in words a person can act on."""


class NotSupported(BackendError):
    """Something this backend does not offer (no log-probabilities from TGI); the rest still works."""


# Why 1%: rarer words are mostly tokenizer accidents ("Greturn") that distract more than help.
MIN_PROBABILITY = 0.01


@dataclass
class Candidate:
    """One next token with its probability before and after the sampling settings."""

    token: str
    raw: float
    adjusted: float


@dataclass(frozen=True)
class Word:
    """A suggested word: the text to append after what was typed, and its probability."""

    word: str  # the whole word as shown, e.g. "Great"
    append: str  # what to add to the typed text, e.g. "at" after "Gre", or " Great" after "It is"
    probability: float


@dataclass
class Suggestions:
    """Everything the live tab shows for one state of the text."""

    partial: str  # letters of the word being typed, "" right after a space
    words: list[Word] = field(default_factory=list)
    ghost: str = ""  # a few words to append, starting with the best word's completion


@dataclass(frozen=True)
class Alternative:
    """A token the model could have written at a step, with its probability before and after the settings."""

    token_id: int
    text: str
    raw: float
    adjusted: float


@dataclass(frozen=True)
class Step:
    """One token of a sample as the inspector shows it: what was written and what could have been.

    text is what the token added to the sample ("" for the end of the text, or while a
    character split across tokens is incomplete). alternatives are the likeliest tokens
    under the model, likeliest first, with the chosen one among them (added when it is not).
    """

    token_id: int
    text: str
    raw: float
    adjusted: float
    alternatives: tuple[Alternative, ...]
    forced: bool = False  # chosen by hand (a branch), not drawn

    def wrote(self, alternative: Alternative) -> bool:
        """Whether an alternative is the token written: by id, or by text from a server that gives no ids (-1)."""
        if self.token_id >= 0:
            return alternative.token_id == self.token_id
        return alternative.text == self.text


@dataclass(frozen=True)
class Sample:
    """One generated text so far, and what the report card reads from it."""

    text: str
    tokens: int = 0  # tokens chosen so far, the end of text included
    # The chosen tokens' summed log-probability under the model, before the settings
    # reshaped it; None where the model gives none (a remote server).
    logprob: float | None = None
    ended: bool = False  # the model ended the text itself, before the length limit
    steps: tuple[Step, ...] | None = None  # token by token, when inspected; None otherwise


class Backend(ABC):
    """Next-token logits with prefix reuse, plus the tokenizer; thread-safe."""

    name: str = "backend"
    # Whether concurrent generations should decode as one batch (autowrite.batcher.StepBatcher): for a backend
    # whose logits_many costs about one sequence's time for many, and whose results do not
    # depend on what runs beside them.
    batches_generations: bool = False
    # How many sequences one logits_many call keeps caches for (each within context_length):
    # a StepBatcher's steps hold at most this many, and a larger generation decodes in parts.
    batch_sequences: int = 1
    context_length: int
    eos_token_id: int | None
    start_ids: list[int]  # fed before an empty text, so there is always a position to predict from

    def __init__(self, traffic: Traffic | None = None) -> None:
        self.lock = threading.RLock()
        # A holder rather than the list: the copies for_generation() makes on the same weights
        # share it, so the vocabulary is decoded once whichever of them asks first.
        self._vocabulary: list[list[str]] = []
        self._turns = Turns()  # shared with any sibling backend on the same weights
        # The process's requests in flight; shared by every backend the app loads.
        self.traffic = traffic or Traffic()

    def keystroke(self) -> AbstractContextManager[None]:
        """Mark a live suggestion in progress: generation steps and ghosts let it go first.

        A generation takes the lock one token at a time and would otherwise win it back at
        once, so a keystroke could wait several tokens behind it (autowrite.scheduling.keystrokes).
        The model is not held for the whole suggestion: its calls take the lock one by one,
        so a backend can serve several people's keystrokes in one batch (backends/combine.py).
        """
        return self._turns.keystroke()

    def yield_to_keystrokes(self, limit_s: float = KEYSTROKE_PRIORITY_S) -> None:
        """Wait (at most limit_s) while live suggestions wait for or hold the model."""
        self._turns.let_keystrokes_go(limit_s)

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

    def for_generation(self) -> Backend:
        """The backend generations run on: this one, or the same model with a memory of its own.

        A backend whose forget() would also throw away what live suggestions keep (every
        typist's prefix) gives generations their own memory instead.
        """
        return self

    @property
    def vocabulary(self) -> list[str]:
        """The text of each token id on its own (computed once)."""
        if not self._vocabulary:
            self._vocabulary.append([self.decode([i]) for i in range(self.vocab_size)])
        return self._vocabulary[0]

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of logits per position."""

    @property
    @abstractmethod
    def nbytes(self) -> int:
        """Memory the model's weights take, for the model cache's budget."""


class Model(Protocol):
    """What the service asks of a model, local or remote: texts in, the app's results out.

    Local backends answer through autowrite.local.LocalModel (decoding and suggestions
    over their logits); the remote backend answers from its server. Either raises
    BackendError for a request it cannot serve, and NotSupported for what it cannot do.
    """

    nbytes: int  # memory its weights take here, for the model cache's budget (0 when they live elsewhere)

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
        """One sample per settings variant and the warnings so far: first empty, then after each step.

        inspect: each sample carries its Steps, where the model gives probabilities (else
        None). forced: step -> token id written there instead of the drawn one, the random
        stream going on as drawn (a branch). contrast: the prompt that variants with
        rating_guidance steer away from. NotSupported where the model cannot do these.
        share: who the texts are for, for a model whose steps several callers share.
        """

    def distribution(self, prompt: str, settings: SamplingSettings, top: int = 10) -> list[Candidate]:
        """The likeliest next tokens after the prompt, before and after the settings."""

    def suggest(
        self,
        text: str,
        context: str = "",
        count: int = 5,
        ghost_tokens: int = 8,
        min_probability: float = MIN_PROBABILITY,
        finish: bool = True,
    ) -> Suggestions:
        """Next words (or the word being typed, completed) and ghost text after context + text."""
