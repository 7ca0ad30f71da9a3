"""What needs the model's vocabulary: banned words, logit bias by word, and DRY's sequence breakers.

sampling.resolve() compiles them against a backend's vocabulary once per request; the
compiled Lexicon rides on the settings (Resolved), so draw() keeps its signature. Each word
is looked up once per vocabulary and kept: a step checks a few string endings per word and
indexes precomputed id tensors, never a loop over the vocabulary.
"""

from __future__ import annotations

import bisect
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from autowrite.settings import SamplingSettings

MAX_TAIL_TOKENS = 20  # llama.cpp's cap on a breaker's tokens after its first
_LAST = "\U0010ffff"  # sorts after any text that starts with a given prefix


class VocabularyIndex:
    """One vocabulary's token texts, searchable by prefix, by suffix and by text without leading spaces."""

    def __init__(self, vocabulary: Sequence[str]) -> None:
        self.vocabulary = vocabulary
        self.size = len(vocabulary)
        self._by_text = sorted((text, i) for i, text in enumerate(vocabulary))
        self._texts = [text for text, _ in self._by_text]
        self._by_end = sorted((text[::-1], i) for i, text in enumerate(vocabulary))
        self._ends = [text for text, _ in self._by_end]
        self._bare: dict[str, list[int]] = {}
        for i, text in enumerate(vocabulary):
            self._bare.setdefault(text.lstrip(), []).append(i)
        self._cache: dict[tuple, object] = {}

    def starting(self, prefix: str) -> list[int]:
        """Tokens whose text starts with prefix."""
        return _between(self._by_text, self._texts, prefix)

    def ending(self, suffix: str) -> list[int]:
        """Tokens whose text ends with suffix."""
        return _between(self._by_end, self._ends, suffix[::-1])

    def containing(self, text: str) -> list[int]:
        """Tokens whose text holds text anywhere (one pass, kept per word by the callers' cache)."""
        return [i for i, piece in enumerate(self.vocabulary) if text in piece]

    def bare(self, text: str) -> list[int]:
        """Tokens whose text, leading spaces dropped, is text."""
        return self._bare.get(text, [])

    def cached(self, key: tuple, build: Callable[[], object]) -> object:
        """A compiled word or breaker, built once per vocabulary."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]


def _between(pairs: list[tuple[str, int]], texts: list[str], prefix: str) -> list[int]:
    low = bisect.bisect_left(texts, prefix)
    high = bisect.bisect_left(texts, prefix + _LAST, low)
    return [i for _, i in pairs[low:high]]


_INDEXES: OrderedDict[int, VocabularyIndex] = OrderedDict()
MAX_INDEXES = 4  # vocabularies kept indexed: the loaded models' (several share one)


def index_for(vocabulary: Sequence[str]) -> VocabularyIndex:
    """The vocabulary's index, built once (a second for 49k tokens) and kept for the few loaded models."""
    key = id(vocabulary)
    index = _INDEXES.get(key)
    if index is None or index.vocabulary is not vocabulary:
        index = _INDEXES[key] = VocabularyIndex(vocabulary)
        while len(_INDEXES) > MAX_INDEXES:
            _INDEXES.popitem(last=False)
    _INDEXES.move_to_end(key)
    return index


def _ids(ids: Sequence[int]) -> torch.Tensor:
    return torch.tensor(sorted(set(ids)), dtype=torch.long)


@dataclass(frozen=True)
class Ban:
    """One banned word: the tokens that hold it whole, and for each proper prefix of it the tokens
    that finish it when the text so far ends with that prefix."""

    word: str
    always: torch.Tensor
    finishing: tuple[tuple[str, torch.Tensor], ...]


def compile_ban(index: VocabularyIndex, word: str) -> Ban:
    """A word banned in every tokenization that spells it: its last token is banned wherever it would end it."""
    finishing = []
    for cut in range(1, len(word)):
        ids = index.starting(word[cut:])
        if ids:
            finishing.append((word[:cut], _ids(ids)))
    return Ban(word, _ids(index.containing(word)), tuple(finishing))


def bias_ids(index: VocabularyIndex, word: str) -> list[int]:
    """The tokens a word's bias applies to: those that spell its start, leading spaces dropped,
    at least half the word (so a bias on "delicious" moves " delicious" and " delic", not " d")."""
    shortest = math.ceil(len(word) / 2)
    return sorted({i for size in range(shortest, len(word) + 1) for i in index.bare(word[:size])})


def compile_breakers(
    index: VocabularyIndex, breakers: Sequence[str], encode: Callable[[str], list[int]]
) -> tuple[dict[int, list[tuple[int, ...]]], torch.Tensor]:
    """DRY's breakers as llama.cpp processes them: a token holding a breaker is one on its own; a token
    ending with a breaker's start is one when the breaker's rest (encoded) follows it."""
    heads: dict[int, list[tuple[int, ...]]] = {}
    for breaker in breakers:
        for token in index.containing(breaker):
            _add(heads, token, ())
        for cut in range(1, len(breaker)):
            tail = tuple(encode(breaker[cut:])[:MAX_TAIL_TOKENS])
            for token in index.ending(breaker[:cut]):
                if breaker not in index.vocabulary[token]:
                    _add(heads, token, tail)
    lone = torch.zeros(index.size, dtype=torch.bool)
    lone[[t for t, tails in heads.items() if () in tails]] = True
    return heads, lone


def _add(heads: dict[int, list[tuple[int, ...]]], token: int, tail: tuple[int, ...]) -> None:
    tails = heads.setdefault(token, [])
    if tail not in tails:
        tails.append(tail)


@dataclass(frozen=True)
class Lexicon:
    """The settings' words compiled against one vocabulary; key: the settings' texts it was compiled from."""

    key: tuple[str, str, str]
    vocabulary: Sequence[str]
    bans: tuple[Ban, ...] = ()
    bias_tokens: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))
    bias_values: torch.Tensor = field(default_factory=lambda: torch.zeros(0))
    breakers: dict[int, list[tuple[int, ...]]] = field(default_factory=dict)
    lone_breakers: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.bool))

    def tail(self, previous: Sequence[int], chars: int) -> str:
        """At least the last `chars` characters of the text so far (each token's text joined)."""
        pieces, size = [], 0
        for token in reversed(previous):
            if size >= chars:
                break
            piece = self.vocabulary[token] if 0 <= token < len(self.vocabulary) else ""
            pieces.append(piece)
            size += len(piece)
        return "".join(reversed(pieces))

    def banned(self, previous: Sequence[int]) -> torch.Tensor | None:
        """The tokens that would complete a banned word after previous."""
        if not self.bans:
            return None
        text = self.tail(previous, max(len(ban.word) for ban in self.bans))
        parts = [ban.always for ban in self.bans]
        parts += [ids for ban in self.bans for prefix, ids in ban.finishing if text.endswith(prefix)]
        return torch.cat(parts)

    def apply(self, logits: torch.Tensor, previous: Sequence[int]) -> torch.Tensor:
        """Logits after the biases, then the bans."""
        banned = self.banned(previous)
        if not len(self.bias_tokens) and banned is None:
            return logits
        logits = logits.clone()
        logits.index_add_(0, self.bias_tokens, self.bias_values)
        if banned is not None:
            logits[banned] = float("-inf")
        return logits


def text_key(settings: SamplingSettings) -> tuple[str, str, str]:
    """The settings a Lexicon is compiled from."""
    return settings.banned_words, settings.logit_bias, settings.dry_sequence_breakers


def needs_vocabulary(settings: SamplingSettings) -> bool:
    """Whether these settings mean anything only against a vocabulary: banned words, logit bias or DRY."""
    return bool(settings.banned_words or settings.logit_bias or settings.dry_multiplier > 0)


def compile_lexicon(
    settings: SamplingSettings, vocabulary: Sequence[str], encode: Callable[[str], list[int]]
) -> Lexicon:
    """The settings' words, biases and breakers against one vocabulary, from the vocabulary's cache."""
    index = index_for(vocabulary)
    bans = tuple(index.cached(("ban", w), lambda w=w: compile_ban(index, w)) for w in settings.banned)
    tokens, values = [], []
    for word, bias in settings.biases:
        ids = index.cached(("bias", word), lambda w=word: bias_ids(index, w))
        tokens += ids
        values += [bias] * len(ids)
    breakers, lone = {}, torch.zeros(index.size, dtype=torch.bool)
    if settings.dry_multiplier > 0:
        key = ("breakers", settings.breakers)
        breakers, lone = index.cached(key, lambda: compile_breakers(index, settings.breakers, encode))
    return Lexicon(
        text_key(settings), vocabulary, bans, torch.tensor(tokens, dtype=torch.long),
        torch.tensor(values, dtype=torch.float32), breakers, lone,
    )  # fmt: skip


@dataclass(frozen=True)
class Resolved(SamplingSettings):
    """Settings with their words compiled against the model's vocabulary (sampling.resolve)."""

    lexicon: Lexicon | None = field(default=None, compare=False, repr=False)


def resolve(
    settings: SamplingSettings, vocabulary: Sequence[str], encode: Callable[[str], list[int]]
) -> SamplingSettings:
    """The settings ready for draw() on a model with this vocabulary and tokenizer; as they are when
    nothing in them needs the vocabulary (so default settings stay the very same object)."""
    if not needs_vocabulary(settings):
        return settings
    lexicon = getattr(settings, "lexicon", None)
    if lexicon is not None and lexicon.key == text_key(settings) and lexicon.vocabulary is vocabulary:
        return settings
    return Resolved(**settings.as_dict(), lexicon=compile_lexicon(settings, vocabulary, encode))


def lexicon_of(settings: SamplingSettings) -> Lexicon | None:
    """The compiled words draw() applies; an error when the settings need them and were not resolved."""
    if not needs_vocabulary(settings):
        return None
    lexicon = getattr(settings, "lexicon", None)
    if lexicon is None or lexicon.key != text_key(settings):
        raise ValueError(
            "banned_words, logit_bias and DRY need the model's vocabulary: pass the settings through "
            "sampling.resolve(settings, backend.vocabulary, backend.encode) first"
        )
    return lexicon
