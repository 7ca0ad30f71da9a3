"""DRY ("don't repeat yourself"): a penalty on the token that would extend a run already in the text.

llama.cpp's definition (src/llama-sampling.cpp, after KoboldCpp's): a token that would make
the text's end repeat a run of n >= allowed_length tokens seen before loses
multiplier * base ** (n - allowed_length) from its logit. A sequence breaker (a new line, by
default) ends every run: no run reaches back across one. The scan of the history is
Python over the last tokens (the Z-algorithm, linear in their number); the penalty is one
indexed subtraction, so no step loops over the vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

FLOAT_MAX_LOG = 88.7228391  # llama.cpp clamps the exponent so that base ** exponent stays a float


def dry_repeats(
    history: Sequence[int], allowed_length: int, breakers: Mapping[int, Sequence[tuple[int, ...]]]
) -> dict[int, int]:
    """Each token that would extend a repeated run, and the longest such run (llama.cpp's steps 1 to 3).

    history: the last tokens to scan, oldest first; breakers, as llama.cpp keeps them: for
    each token that starts a sequence breaker, the tokens that must follow it (empty for a
    token that is a breaker on its own).
    """
    n = len(history)
    if n <= allowed_length:
        return {}
    rat = history[::-1]  # rat[i]: the token i places from the end, as llama.cpp's ring buffer reads it
    limit = _repeat_limit(rat, breakers)
    if limit < allowed_length:
        return {}
    counts = _match_lengths(rat, limit)
    longest: dict[int, int] = {}
    for i in range(n - 1):
        if counts[i] >= allowed_length:
            token = rat[n - 2 - i]
            if longest.get(token, -1) < counts[i]:
                longest[token] = counts[i]
    return longest


def _repeat_limit(rat: Sequence[int], breakers: Mapping[int, Sequence[tuple[int, ...]]]) -> int:
    """How far back a run may reach: up to the latest sequence breaker (llama.cpp's step 1)."""
    for i, token in enumerate(rat):
        longest = -1
        for tail in breakers.get(token, ()):
            size = len(tail)
            if longest < size <= i and all(tail[k] == rat[i - k - 1] for k in range(size)):
                longest = size
        if longest >= 0:
            return i - longest
    return len(rat)


def _match_lengths(rat: Sequence[int], limit: int) -> list[int]:
    """For each earlier place, how many tokens before it match the text's end, at most limit (step 2, the Z-algorithm)."""
    n = len(rat)
    last = n - 1
    counts = [0] * n
    right = left = 0
    for k in range(1, n):
        if k > right:
            length = 0
            while length + k < n and rat[length] == rat[length + k]:
                length += 1
            counts[last - k] = min(length, limit)
            if length > 0:
                left, right = k, k + length - 1
        else:
            p = k - left
            if counts[last - p] < right - k + 1:
                counts[last - k] = min(counts[last - p], limit)
            else:
                i = right + 1
                while i < n and rat[i] == rat[i - k]:
                    i += 1
                counts[last - k] = min(i - k, limit)
                left, right = k, i - 1
    return counts


def dry_penalize(
    logits: torch.Tensor,
    history: Sequence[int],
    multiplier: float,
    base: float,
    allowed_length: int,
    last_n: int,
    breakers: Mapping[int, Sequence[tuple[int, ...]]],
    lone_breakers: torch.Tensor,
) -> torch.Tensor:
    """Logits after DRY over the last `last_n` tokens of history (-1: all); lone_breakers marks tokens that
    are a breaker on their own, which are never penalized."""
    if multiplier == 0 or base < 1 or last_n == 0:
        return logits
    scanned = history if last_n < 0 else history[max(len(history) - last_n, 0) :]
    longest = dry_repeats(scanned, allowed_length, breakers)
    if not longest:
        return logits
    ids = torch.tensor(list(longest), dtype=torch.long)
    ids = ids[~lone_breakers[ids]]
    if not len(ids):
        return logits
    exponent = torch.tensor([longest[int(t)] for t in ids], dtype=torch.float64) - allowed_length
    if base > 1.000001:
        exponent = exponent.clamp(max=int(FLOAT_MAX_LOG / math.log(_f32(base))))
    # In double, rounded to float once, as llama.cpp's float * std::pow(float, int) is.
    penalty = (_f32(multiplier) * torch.pow(torch.tensor(_f32(base), dtype=torch.float64), exponent)).float()
    logits = logits.clone()
    logits[ids] -= penalty
    return logits


def _f32(x: float) -> float:
    """x as a C float holds it."""
    return float(torch.tensor(x, dtype=torch.float32))
