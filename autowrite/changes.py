"""What a fine-tune changed: one text scored token by token under the base model and the fine-tuned one.

Both models read the same tokens after the same context (the fine-tuned model's prompt
for the request), so each token's change in log-probability is the adapter's doing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from autowrite.backends.base import Backend

TOP_WORDS = 8  # words listed as made most and least likely
# Why 32: scoring yields its progress after each part, and a Stop (or a client that left)
# ends it there; 32 positions are about half a second of one model's decoding on 2 cores.
PART_TOKENS = 32


@dataclass(frozen=True)
class TokenChange:
    """One token of the text: its log-probability under each model."""

    text: str
    token_id: int
    base: float
    tuned: float

    @property
    def change(self) -> float:
        return self.tuned - self.base


@dataclass(frozen=True)
class WordChange:
    """A word of the text and its change in log-probability (its tokens' summed), averaged over its occurrences."""

    word: str
    change: float
    count: int


@dataclass(frozen=True)
class Changes:
    """A text under both models: its tokens, each model's perplexity, and the words moved most."""

    tokens: list[TokenChange]
    base_perplexity: float
    tuned_perplexity: float
    raised: list[WordChange]
    lowered: list[WordChange]


def token_logprobs(backend: Backend, prefix: Sequence[int], ids: Sequence[int]) -> list[float]:
    """log P(ids[i] | prefix + ids[:i]) for each token, one position at a time (prefix not empty).

    Each call adds one token to a sequence the backend already holds, so a backend with
    prefix reuse computes one position per token; keystrokes go first between tokens.
    """
    prefix = list(prefix)
    scores = []
    for token in ids:
        backend.yield_to_keystrokes()
        row = backend.next_logits(prefix).float()
        scores.append(float(row[token] - torch.logsumexp(row, 0)))
        prefix.append(token)
    return scores


def split(backend: Backend, context: str, text: str) -> tuple[list[int], list[int]]:
    """The context's token ids and the text's after it, as the model reads them together.

    Tokenizing the two apart could split a word where the whole never would; the text's
    tokens are the whole's beyond the context's when the whole starts with them.
    """
    before = backend.encode(context)
    whole = backend.encode(context + text)
    if whole[: len(before)] == before:
        return before, whole[len(before) :]
    return before, backend.encode(text)


def scoring(base: Backend, tuned: Backend, context: str, text: str) -> Iterator[float | Changes]:
    """The text under both models, in parts of PART_TOKENS: the share done after each part, then the Changes.

    ValueError (at the first item) when they do not share a vocabulary, or the text is empty or
    longer than the models read.
    """
    if base.vocab_size != tuned.vocab_size or base.encode(text) != tuned.encode(text):
        raise ValueError("the base model and the fine-tuned one tokenize differently: their scores cannot be compared")
    before, ids = split(tuned, context, text)
    if not ids:
        raise ValueError("the text is empty: type or paste a text to score")
    start = list(before) or list(tuned.start_ids)
    room = min(base.context_length, tuned.context_length) - len(start)
    if len(ids) > room:
        raise ValueError(
            f"the text is {len(ids):,} tokens; this model reads at most {max(room, 0):,} after its prompt: "
            "score a shorter text"
        )
    base_scores: list[float] = []
    tuned_scores: list[float] = []
    for backend, scores in ((base, base_scores), (tuned, tuned_scores)):
        for at in range(0, len(ids), PART_TOKENS):
            scores += token_logprobs(backend, start + ids[:at], ids[at : at + PART_TOKENS])
            yield (len(base_scores) + len(tuned_scores)) / (2 * len(ids))
    yield _changes(tuned, ids, base_scores, tuned_scores)


def _changes(tuned: Backend, ids: list[int], base_scores: list[float], tuned_scores: list[float]) -> Changes:
    pieces = _pieces(tuned, ids)
    tokens = [TokenChange(*row) for row in zip(pieces, ids, base_scores, tuned_scores, strict=True)]
    raised, lowered = moved_words(tokens)
    return Changes(tokens, perplexity(base_scores), perplexity(tuned_scores), raised, lowered)


def _pieces(backend: Backend, ids: Sequence[int]) -> list[str]:
    """What each token adds to the decoded text ("" while a character split across tokens is incomplete)."""
    pieces, shown = [], ""
    for end in range(1, len(ids) + 1):
        decoded = backend.decode(ids[:end])
        if decoded.endswith("\ufffd"):
            pieces.append("")
            continue
        pieces.append(decoded[len(shown) :] if decoded.startswith(shown) else decoded)
        shown = decoded
    return pieces


def perplexity(scores: Sequence[float]) -> float:
    """exp of the mean negative log-probability per token."""
    return math.exp(-sum(scores) / len(scores))


def words(tokens: Sequence[TokenChange]) -> list[tuple[str, float]]:
    """The text's words with their tokens' summed change.

    A token starting with a space or line break starts a word; so does punctuation, which
    stands as a word of its own ("sweat" and "." rather than "sweat.").
    """
    found: list[tuple[str, float]] = []
    word, change = "", 0.0
    for token in tokens:
        starts = token.text[:1].isspace() or _punctuation(token.text) or _punctuation(word)
        if starts and word.strip():
            found.append((word.strip(), change))
            word, change = "", 0.0
        word += token.text
        change += token.change
    if word.strip():
        found.append((word.strip(), change))
    return found


def _punctuation(text: str) -> bool:
    return bool(text.strip()) and not any(c.isalnum() for c in text)


def moved_words(tokens: Sequence[TokenChange], top: int = TOP_WORDS) -> tuple[list[WordChange], list[WordChange]]:
    """The words the fine-tune made most likely and least likely, each word once (its mean change); no punctuation."""
    by_word: dict[str, list[float]] = {}
    for word, change in words(tokens):
        if not _punctuation(word):
            by_word.setdefault(word, []).append(change)
    ranked = sorted(
        (WordChange(word, sum(values) / len(values), len(values)) for word, values in by_word.items()),
        key=lambda w: w.change,
        reverse=True,
    )
    raised = [w for w in ranked if w.change > 0][:top]
    lowered = [w for w in reversed(ranked) if w.change < 0][:top]
    return raised, lowered
