"""Turning next-token logits into a choice: one implementation for every backend.

Each backend only computes logits; the adjustments and the draw happen here, so a setting
such as top_p=0.9 or a seed means exactly the same thing whichever backend serves a model.
The order follows transformers' generate(): repetition penalty, temperature, top-k, top-p.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def adjust(logits: torch.Tensor, settings: SamplingSettings, previous: Sequence[int] = ()) -> torch.Tensor:
    """Logits after the settings: filtered-out tokens are -inf. Greedy keeps the raw scale."""
    logits = apply_repetition_penalty(logits.float(), previous, settings.repetition_penalty)
    if not settings.do_sample:
        return logits
    logits = logits / settings.temperature
    if 0 < settings.top_k < logits.numel():
        kth = torch.topk(logits, settings.top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if settings.top_p < 1.0:
        # Only tokens top-k kept can be in the nucleus: sorting those few instead of the
        # whole vocabulary gives the same nucleus for a fraction of the time.
        kept = torch.isfinite(logits).nonzero().squeeze(1)
        sorted_logits, order = torch.sort(logits[kept], descending=True)
        probabilities = torch.softmax(sorted_logits, dim=-1)
        # Drop a token once the mass before it already reaches top_p; the first always stays.
        drop_sorted = (probabilities.cumsum(dim=-1) - probabilities) >= settings.top_p
        logits = logits.clone()
        logits[kept[order[drop_sorted]]] = float("-inf")
    return logits


def choose(
    logits: torch.Tensor, settings: SamplingSettings, previous: Sequence[int], generator: torch.Generator
) -> int:
    """The next token id: argmax when greedy, else a draw from the adjusted distribution."""
    adjusted = adjust(logits, settings, previous)
    if not settings.do_sample:
        return int(torch.argmax(adjusted))
    probs = torch.softmax(adjusted, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))


def make_generator(seed: int) -> torch.Generator:
    """A private random stream, so concurrent requests never disturb each other's seeds."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator
