"""Turning next-token logits into a choice: one implementation for every backend.

Each backend only computes logits; the adjustments and the draw happen here, so a setting
such as top_p=0.9 or a seed means exactly the same thing whichever backend serves a model.
The order follows transformers' generate(): the repetition penalty and the n-gram ban
(greedy too), then temperature, top-k, top-p and min-p (sampling only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from autowrite.settings import SamplingSettings


def apply_repetition_penalty(logits: torch.Tensor, previous: Sequence[int], penalty: float) -> torch.Tensor:
    """Make tokens already in the text less likely (CTRL's penalty, as in transformers)."""
    if penalty == 1.0 or not previous:
        return logits
    index = torch.tensor(sorted(set(previous)), dtype=torch.long)
    picked = logits[index]
    logits = logits.clone()
    logits[index] = torch.where(picked > 0, picked / penalty, picked * penalty)
    return logits


def repeated_ngram_ends(previous: Sequence[int], n: int) -> list[int]:
    """The tokens that would complete an n-token run already in previous (transformers' no_repeat_ngram_size)."""
    if n <= 0 or len(previous) < n:
        return []
    previous = list(previous)
    prefix = previous[len(previous) - n + 1 :]
    return sorted(
        {
            previous[i + n - 1]
            for i in range(len(previous) - n + 1)
            # The window's last token before the end first: most windows differ there.
            if n == 1 or (previous[i + n - 2] == prefix[-1] and previous[i : i + n - 1] == prefix)
        }
    )


def guide(asked: torch.Tensor, contrast: torch.Tensor, scale: float) -> torch.Tensor:
    """Logits pushed away from a contrasting prompt's: contrast + scale * (asked - contrast).

    The contrastive form of classifier-free guidance. Each row's log-normaliser is a
    constant across the vocabulary, so raw logits and log-probabilities give the same
    distribution; scale 1 gives asked back.
    """
    asked, contrast = asked.float(), contrast.float()
    return contrast + scale * (asked - contrast)


def apply_penalties(logits: torch.Tensor, settings: SamplingSettings, previous: Sequence[int]) -> torch.Tensor:
    """Float logits after what applies to greedy and sampling alike: the repetition penalty and the n-gram ban."""
    logits = apply_repetition_penalty(logits.float(), previous, settings.repetition_penalty)
    banned = repeated_ngram_ends(previous, settings.no_repeat_ngram_size)
    if banned:
        logits = logits.clone()
        logits[torch.tensor(banned, dtype=torch.long)] = float("-inf")
    return logits


def adjust(logits: torch.Tensor, settings: SamplingSettings, previous: Sequence[int] = ()) -> torch.Tensor:
    """Logits after the settings: filtered-out tokens are -inf. Greedy keeps the raw scale."""
    logits = apply_penalties(logits, settings, previous)
    if not settings.do_sample:
        return logits
    kept, scores = _survivors(logits, settings)
    adjusted = torch.full_like(logits, float("-inf"))
    adjusted[kept] = scores
    return adjusted


def _survivors(penalized: torch.Tensor, settings: SamplingSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """The token ids that temperature, top-k and top-p leave, likeliest first, and their logits.

    Ties keep their id order (a stable sort over ids in ascending order), so the same
    logits always give the same list: the seeded draw in choose() depends on its order.
    """
    size = penalized.numel()
    if 0 < settings.top_k < size:
        # Temperature does not change the order, so top-k runs on the logits as they are and
        # only the survivors are divided.
        kth = torch.topk(penalized, settings.top_k).values[-1]
        kept = (penalized >= kth).nonzero().squeeze(1)  # ties with the k-th stay, as in transformers
        total = None
    elif settings.top_p >= 1.0 and settings.min_p > 0:
        # Min-p alone: only tokens within its ratio of the top can survive, so the whole
        # vocabulary need not be sorted. The same comparison as below, so the same tokens.
        scaled = penalized / settings.temperature
        kept = (scaled >= scaled.max() + math.log(settings.min_p)).nonzero().squeeze(1)
        total = None
    else:
        kept, total = _nucleus_candidates(penalized / settings.temperature, settings.top_p)
    scores, order = torch.sort(penalized[kept] / settings.temperature, descending=True, stable=True)
    kept = kept[order]
    if settings.top_p < 1.0:
        # Only tokens top-k kept can be in the nucleus: sorting those few instead of the
        # whole vocabulary gives the same nucleus for a fraction of the time.
        probabilities = torch.exp(scores - (torch.logsumexp(scores, 0) if total is None else total))
        # Drop a token once the mass before it already reaches top_p; the first always stays.
        keep = (probabilities.cumsum(dim=-1) - probabilities) < settings.top_p
        keep[0] = True
        kept, scores = kept[keep], scores[keep]
    if settings.min_p > 0:
        # Tokens less than min_p times as likely as the top one go; the ratio of two
        # probabilities does not depend on which others survived, so top-k and top-p
        # before it change nothing here, as in transformers' MinPLogitsWarper.
        keep = scores >= scores[0] + math.log(settings.min_p)
        kept, scores = kept[keep], scores[keep]
    return kept, scores


def _nucleus_candidates(logits: torch.Tensor, top_p: float, first: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids (ascending) that contain the top-p nucleus when top-k is off, and the log-normaliser.

    The nucleus nearly always lies within the likeliest few hundred tokens: when their mass
    reaches top_p, sorting the whole vocabulary (4 ms for 49k tokens on one thread) is not needed.
    """
    total = torch.logsumexp(logits, 0)
    if top_p < 1.0 and first < logits.numel():
        values, ids = torch.topk(logits, first)
        if float(torch.exp(values - total).sum()) >= top_p:
            return torch.sort(ids).values, total
    return torch.arange(logits.numel()), total


@dataclass(frozen=True)
class Draw:
    """A chosen token, and the distribution the settings left it to be drawn from.

    kept: the surviving token ids, likeliest first, and probabilities their chances;
    both None for greedy, which puts all the mass on the token.
    """

    token: int
    kept: torch.Tensor | None = None
    probabilities: torch.Tensor | None = None


def choose(
    logits: torch.Tensor, settings: SamplingSettings, previous: Sequence[int], generator: torch.Generator
) -> int:
    """The next token id: argmax when greedy, else a seeded draw from the adjusted distribution."""
    return draw(logits, settings, previous, generator).token


def draw(logits: torch.Tensor, settings: SamplingSettings, previous: Sequence[int], generator: torch.Generator) -> Draw:
    """The next token, with the distribution it was drawn from.

    The draw is an exponential race over the surviving tokens only: token i wins with
    probability p_i, exactly as torch.multinomial (which runs the same race over the whole
    vocabulary). Racing the few tokens the settings leave rather than all 49k makes the
    choice a small part of a step on one thread (docs/performance.md). The random stream is
    consumed in this order, and share links depend on it: changing the draw changes every
    seeded text.
    """
    penalized = apply_penalties(logits, settings, previous)
    if not settings.do_sample:
        return Draw(int(torch.argmax(penalized)))
    kept, scores = _survivors(penalized, settings)
    probabilities = torch.softmax(scores, dim=-1)
    if len(kept) == 1:
        return Draw(int(kept[0]), kept, probabilities)
    race = torch.empty_like(probabilities).exponential_(generator=generator)
    return Draw(int(kept[torch.argmax(probabilities / race)]), kept, probabilities)


def make_generator(seed: int) -> torch.Generator:
    """A private random stream, so concurrent requests never disturb each other's seeds."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator
