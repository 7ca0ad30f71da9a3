"""What changes the logits before any token is cut: the repetition penalty, the n-gram ban, guidance."""

from __future__ import annotations

from collections.abc import Sequence

import torch


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
