"""The chain from next-token logits to a choice: every sampler in its place (docs/samplers.md has the order)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from autowrite.sampling import filters, order
from autowrite.sampling.dry import dry_penalize
from autowrite.sampling.penalties import apply_repetition_penalty, repeated_ngram_ends
from autowrite.sampling.words import Lexicon, lexicon_of
from autowrite.settings import SamplingSettings


def apply_penalties(
    logits: torch.Tensor, settings: SamplingSettings, previous: Sequence[int], lexicon: Lexicon | None = None
) -> torch.Tensor:
    """Float logits after what applies to greedy and sampling alike: logit bias and banned words (lexicon),
    the repetition penalty, the n-gram ban and DRY."""
    logits = logits.float()
    if lexicon is not None:
        logits = lexicon.apply(logits, previous)
    logits = apply_repetition_penalty(logits, previous, settings.repetition_penalty)
    banned = repeated_ngram_ends(previous, settings.no_repeat_ngram_size)
    if banned:
        logits = logits.clone()
        logits[torch.tensor(banned, dtype=torch.long)] = float("-inf")
    if settings.dry_multiplier > 0 and lexicon is not None:
        logits = dry_penalize(
            logits, previous, settings.dry_multiplier, settings.dry_base, settings.dry_allowed_length,
            settings.dry_penalty_last_n, lexicon.breakers, lexicon.lone_breakers,
        )  # fmt: skip
    return logits


def adjust(logits: torch.Tensor, settings: SamplingSettings, previous: Sequence[int] = ()) -> torch.Tensor:
    """Logits after the settings: filtered-out tokens are -inf. Greedy keeps the raw scale.

    A view of one step: XTC's cut happens only when its coin says so, so it is left out, and
    mirostat shows its first step's cut. Settings that need the vocabulary apply once
    resolved (sampling.resolve), and are left out otherwise.
    """
    lexicon = getattr(settings, "lexicon", None)
    logits = apply_penalties(logits, settings, previous, lexicon)
    if not settings.do_sample:
        return logits
    if settings.mirostat:
        kept, scores = _mirostat_candidates(logits, settings, 2 * settings.mirostat_tau)
    elif settings.samplers:
        kept, scores = order.survivors(logits, settings, None)
    else:
        kept, scores = _survivors(_sigma(logits, settings), settings)
    adjusted = torch.full_like(logits, float("-inf"))
    adjusted[kept] = scores
    return adjusted


def adjusted_probabilities(
    logits: torch.Tensor, settings: SamplingSettings, previous: Sequence[int] = ()
) -> torch.Tensor:
    """Each token's chance after the settings (adjust, then softmax); greedy puts all the mass on one token."""
    adjusted = adjust(logits, settings, previous)
    if settings.do_sample:
        return torch.softmax(adjusted, dim=-1)
    chosen = torch.zeros_like(adjusted)
    chosen[int(torch.argmax(adjusted))] = 1.0
    return chosen


def _sigma(logits: torch.Tensor, settings: SamplingSettings) -> torch.Tensor:
    return filters.top_n_sigma(logits, settings.top_n_sigma) if settings.top_n_sigma > 0 else logits


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
        if settings.top_n_sigma > 0:  # it may leave fewer than k: the k-th is then -inf, tied with every cut token
            kept = kept[torch.isfinite(penalized[kept])]
        total = None
    elif settings.typical_p < 1.0:
        # Typical sampling reads the whole distribution's entropy, so nothing is cut before it.
        kept, total = torch.arange(size), None
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
    if settings.typical_p < 1.0:  # between top-k and top-p, as in llama.cpp's chain
        keep = filters.typical(scores, settings.typical_p)
        kept, scores, total = kept[keep], scores[keep], None
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
    for cut, value in ((filters.epsilon, settings.epsilon_cutoff), (filters.eta, settings.eta_cutoff)):
        if value > 0:  # after min-p, as transformers orders its warpers
            keep = cut(scores, value)
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


def choose(logits: torch.Tensor, settings: SamplingSettings, previous: Sequence[int], generator: Stream) -> int:
    """The next token id: argmax when greedy, else a seeded draw from the adjusted distribution."""
    return draw(logits, settings, previous, generator).token


def draw(logits: torch.Tensor, settings: SamplingSettings, previous: Sequence[int], generator: Stream) -> Draw:
    """The next token, with the distribution it was drawn from.

    The draw is an exponential race over the surviving tokens only: token i wins with
    probability p_i, exactly as torch.multinomial (which runs the same race over the whole
    vocabulary). Racing the few tokens the settings leave rather than all 49k makes the
    choice a small part of a step on one thread (docs/performance.md). The random stream is
    consumed in this order, and share links depend on it: changing the draw changes every
    seeded text. XTC's coin comes from the same stream, before the race, only when XTC is on.
    """
    stream = generator if isinstance(generator, Stream) else Stream(generator)
    penalized = apply_penalties(logits, settings, previous, lexicon_of(settings))
    if not settings.do_sample:
        return Draw(int(torch.argmax(penalized)))
    if settings.mirostat:
        return _mirostat_draw(penalized, settings, stream)
    if settings.samplers:  # a named order: every cut in its place, XTC's coin where XTC stands
        return _race(*order.survivors(penalized, settings, stream.generator), stream.generator)
    kept, scores = _survivors(_sigma(penalized, settings), settings)
    if settings.xtc_probability > 0 and len(kept) > 1:
        coin = float(torch.rand(1, generator=stream.generator))
        start = filters.xtc(scores, settings.xtc_threshold) if coin <= settings.xtc_probability else 0
        kept, scores = kept[start:], scores[start:]
    return _race(kept, scores, stream.generator)


def _race(kept: torch.Tensor, scores: torch.Tensor, generator: torch.Generator) -> Draw:
    probabilities = torch.softmax(scores, dim=-1)
    if len(kept) == 1:
        return Draw(int(kept[0]), kept, probabilities)
    race = torch.empty_like(probabilities).exponential_(generator=generator)
    return Draw(int(kept[torch.argmax(probabilities / race)]), kept, probabilities)


def _mirostat_candidates(
    penalized: torch.Tensor, settings: SamplingSettings, mu: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The tokens mirostat v2 keeps at mu, likeliest first, and their logits after temperature."""
    scaled = penalized / settings.temperature
    kept = filters.mirostat_keep(scaled, mu).nonzero().squeeze(1)
    scores, order = torch.sort(scaled[kept], descending=True, stable=True)
    return kept[order], scores


def _mirostat_draw(penalized: torch.Tensor, settings: SamplingSettings, stream: Stream) -> Draw:
    """Mirostat v2 (llama.cpp's): temperature, the cut at mu, a draw, and mu moved toward the target surprise."""
    mu = 2 * settings.mirostat_tau if stream.mu is None else stream.mu
    kept, scores = _mirostat_candidates(penalized, settings, mu)
    drawn = _race(kept, scores, stream.generator)
    chosen = float(drawn.probabilities[kept == drawn.token][0]) if drawn.probabilities is not None else 1.0
    stream.mu = filters.mirostat_mu(mu, chosen, settings.mirostat_tau, settings.mirostat_eta)
    return drawn


class Stream:
    """One sequence's random stream and sampler state: a private torch.Generator, so concurrent
    requests never disturb each other's seeds, and mirostat's mu, which each token moves."""

    def __init__(self, generator: torch.Generator) -> None:
        self.generator = generator
        self.mu: float | None = None  # mirostat's: 2 * tau before the first token


def make_generator(seed: int) -> Stream:
    """A sequence's private random stream and sampler state, seeded."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    return Stream(generator)
