"""The cuts in an order a person names (the `samplers` setting), as llama.cpp's server chains them.

The built-in chain (autowrite.sampling.chain) takes the cuts in one fixed order and skips
work no setting asks for; here every named cut acts in its place, on the candidates the
cuts before it left, likeliest first. Only the named cuts act: a sampler left out of the
order does nothing, whatever its setting, as on llama.cpp's server. Temperature named after
top-p or min-p (llama.cpp's own default) makes them read the unscaled distribution.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from autowrite.sampling import filters
from autowrite.settings import SamplingSettings

Candidates = tuple[torch.Tensor, torch.Tensor]  # token ids, likeliest first, and their scores


def survivors(penalized: torch.Tensor, settings: SamplingSettings, generator: torch.Generator | None) -> Candidates:
    """The tokens the named cuts leave, likeliest first, and their scores. generator None: XTC's coin is
    not drawn (a view of one step, as adjust() shows it); else it comes from the text's stream where XTC stands.

    The candidates stay in id order between cuts, and only a cut that reads an order (top-p,
    XTC) sorts them, once they are few: sorting all 49,152 tokens at every step would cost more
    than the rest of the draw. The survivors are sorted at the end as the built-in chain sorts
    them (likeliest first, ties in id order), so the seeded race reads them the same way.
    """
    finite = torch.isfinite(penalized)
    kept = finite.nonzero().squeeze(1)
    scores = penalized[kept]
    for name in settings.order:
        if len(kept) > 1 or name == "temperature":
            kept, scores = _CUTS[name](kept, scores, settings, generator)
    return _likeliest_first(kept, scores)


def _likeliest_first(kept: torch.Tensor, scores: torch.Tensor) -> Candidates:
    """Candidates in id order, sorted likeliest first; ties keep their id order."""
    scores, order = torch.sort(scores, descending=True, stable=True)
    return kept[order], scores


def _in_id_order(kept: torch.Tensor, scores: torch.Tensor) -> Candidates:
    order = torch.argsort(kept)
    return kept[order], scores[order]


def _masked(kept: torch.Tensor, scores: torch.Tensor, keep: torch.Tensor) -> Candidates:
    return kept[keep], scores[keep]


def _temperature(kept, scores, settings, _generator) -> Candidates:
    return kept, scores / settings.temperature


def _top_k(kept, scores, settings, _generator) -> Candidates:
    if not 0 < settings.top_k < len(scores):
        return kept, scores
    kth = torch.topk(scores, settings.top_k).values[-1]
    return _masked(kept, scores, scores >= kth)  # ties with the k-th stay


def _top_n_sigma(kept, scores, settings, _generator) -> Candidates:
    if settings.top_n_sigma <= 0:
        return kept, scores
    return _masked(kept, scores, torch.isfinite(filters.top_n_sigma(scores, settings.top_n_sigma)))


def _typical(kept, scores, settings, _generator) -> Candidates:
    return (
        _masked(kept, scores, filters.typical(scores, settings.typical_p)) if settings.typical_p < 1 else (kept, scores)
    )


def _top_p(kept, scores, settings, _generator, first: int = 256) -> Candidates:
    if settings.top_p >= 1.0:
        return kept, scores
    total = torch.logsumexp(scores, 0)
    if first < len(scores):  # the nucleus nearly always lies within the likeliest few hundred
        values, places = torch.topk(scores, first)
        if float(torch.exp(values - total).sum()) >= settings.top_p:
            kept, scores = _in_id_order(kept[places], values)
    kept, scores = _likeliest_first(kept, scores)
    probabilities = torch.exp(scores - total)
    keep = (probabilities.cumsum(dim=-1) - probabilities) < settings.top_p  # the first always stays
    keep[0] = True
    return _in_id_order(kept[keep], scores[keep])


def _min_p(kept, scores, settings, _generator) -> Candidates:
    if settings.min_p <= 0:
        return kept, scores
    return _masked(kept, scores, scores >= scores.max() + math.log(settings.min_p))


def _epsilon(kept, scores, settings, _generator) -> Candidates:
    if settings.epsilon_cutoff <= 0:
        return kept, scores
    return _masked(kept, scores, filters.epsilon(scores, settings.epsilon_cutoff, scores.max()))


def _eta(kept, scores, settings, _generator) -> Candidates:
    if settings.eta_cutoff <= 0:
        return kept, scores
    return _masked(kept, scores, filters.eta(scores, settings.eta_cutoff, scores.max()))


def _xtc(kept, scores, settings, generator) -> Candidates:
    if settings.xtc_probability <= 0 or generator is None:
        return kept, scores
    coin = float(torch.rand(1, generator=generator))
    if coin > settings.xtc_probability:
        return kept, scores
    kept, scores = _likeliest_first(kept, scores)
    start = filters.xtc(scores, settings.xtc_threshold)
    return _in_id_order(kept[start:], scores[start:])


Cut = Callable[[torch.Tensor, torch.Tensor, SamplingSettings, "torch.Generator | None"], Candidates]
_CUTS: dict[str, Cut] = {
    "temperature": _temperature, "top_k": _top_k, "top_n_sigma": _top_n_sigma, "typ_p": _typical,
    "top_p": _top_p, "min_p": _min_p, "epsilon": _epsilon, "eta": _eta, "xtc": _xtc,
}  # fmt: skip
