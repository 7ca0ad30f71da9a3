"""The cuts peers offer besides top-k, top-p and min-p: top-n-sigma, typical-p, epsilon, eta, XTC, mirostat v2.

Each works on the candidates as the chain hands them on: `scores` are the surviving
tokens' logits after temperature, likeliest first, and a cut returns which to keep, in
that order. Their definitions are llama.cpp's (top-n-sigma, XTC, mirostat v2) and
transformers' (typical-p, epsilon, eta); tests/test_sampler_parity.py checks each one
against its reference.
"""

from __future__ import annotations

import math

import torch


def top_n_sigma(logits: torch.Tensor, n: float) -> torch.Tensor:
    """Logits below the top by more than n standard deviations become -inf (llama.cpp's top_n_sigma).

    The mean and the (population) deviation are over the tokens not already -inf. Scaling
    every logit by a temperature scales both sides alike, so its place before or after
    temperature changes nothing.
    """
    finite = torch.isfinite(logits)
    values = logits if bool(finite.all()) else logits[finite]  # most steps ban nothing: no copy then
    if n <= 0 or values.numel() <= 1:
        return logits
    deviation, mean = torch.std_mean(values, correction=0)
    return logits.masked_fill(logits < values.max() - n * deviation, float("-inf"))


def typical(scores: torch.Tensor, mass: float) -> torch.Tensor:
    """Which candidates locally typical sampling keeps (transformers' TypicalLogitsWarper, min_tokens_to_keep=1).

    Tokens are ranked by how far their surprise lies from the distribution's entropy, and
    kept nearest first until their probability reaches `mass`; ties with the last stay.
    """
    log_p = torch.log_softmax(scores, dim=-1)
    p = log_p.exp()
    entropy = -(log_p * p).nansum()
    shifted = (-log_p - entropy).abs()
    ranked, order = torch.sort(shifted, stable=True)
    last = min(int((p[order].cumsum(dim=-1) < mass).sum()), len(scores) - 1)
    return shifted <= ranked[last]


def epsilon(scores: torch.Tensor, cutoff: float, top: torch.Tensor | None = None) -> torch.Tensor:
    """Which candidates an epsilon cutoff keeps: probability at least `cutoff`, and the likeliest always
    (transformers' EpsilonLogitsWarper). top: the likeliest's score, when the scores are not sorted."""
    p = torch.softmax(scores, dim=-1)
    return (p >= cutoff) | (scores >= (scores[0] if top is None else top))


def eta(scores: torch.Tensor, cutoff: float, top: torch.Tensor | None = None) -> torch.Tensor:
    """Which candidates an eta cutoff keeps: the epsilon cut at min(cutoff, sqrt(cutoff) * exp(-entropy))
    (transformers' EtaLogitsWarper). top: the likeliest's score, when the scores are not sorted."""
    log_p = torch.log_softmax(scores, dim=-1)
    entropy = -(log_p * log_p.exp()).nansum()
    floor = torch.minimum(torch.tensor(cutoff), math.sqrt(cutoff) * torch.exp(-entropy))
    return (log_p.exp() >= floor) | (scores >= (scores[0] if top is None else top))


def xtc(scores: torch.Tensor, threshold: float) -> int:
    """Where XTC's cut starts: every candidate at least `threshold` likely goes but the least likely of them
    (llama.cpp's xtc, min_keep=1); 0 when fewer than two reach it. Whether it cuts at all is drawn by the caller."""
    if len(scores) < 2:
        return 0
    above = int((torch.softmax(scores, dim=-1) >= threshold).sum())
    return max(above - 1, 0)


def mirostat_keep(scores: torch.Tensor, mu: float) -> torch.Tensor:
    """Which tokens mirostat v2 keeps: those whose surprise, -log2 p, is at most mu, and the likeliest always.

    llama.cpp sorts and stops at the first token past mu; surprise grows down the sorted
    list, so that is the same set, found here without sorting the vocabulary.
    """
    surprise = -torch.log_softmax(scores, dim=-1) / math.log(2)
    return (surprise <= mu) | (scores >= scores.max())


def mirostat_mu(mu: float, probability: float, tau: float, eta_rate: float) -> float:
    """mu after a token drawn with `probability` (among the kept): moved toward the target surprise tau."""
    return mu - eta_rate * (-math.log2(probability) - tau)
