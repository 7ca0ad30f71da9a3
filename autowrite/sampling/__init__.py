"""Turning next-token logits into a choice: one implementation for every backend.

Each backend only computes logits; the adjustments and the draw happen here, so a setting
such as top_p=0.9 or a seed means exactly the same thing whichever backend serves a model.
The order (docs/samplers.md): logit bias and banned words, the repetition penalty, the
n-gram ban and DRY (greedy too); then, sampling only, top-n-sigma, temperature, top-k,
typical-p, top-p, min-p, epsilon, eta and XTC, or in place of the cuts, mirostat v2.

Banned words, logit bias and DRY need the model's vocabulary: resolve() compiles them once
per request, and draw() refuses settings that need it and were not resolved.
"""

from autowrite.sampling.chain import (
    Draw,
    Stream,
    adjust,
    adjusted_probabilities,
    apply_penalties,
    choose,
    draw,
    make_generator,
)
from autowrite.sampling.penalties import apply_repetition_penalty, guide, repeated_ngram_ends
from autowrite.sampling.words import Lexicon, Resolved, needs_vocabulary, resolve

__all__ = [
    "Draw",
    "Lexicon",
    "Resolved",
    "Stream",
    "adjust",
    "adjusted_probabilities",
    "apply_penalties",
    "apply_repetition_penalty",
    "choose",
    "draw",
    "guide",
    "make_generator",
    "needs_vocabulary",
    "repeated_ngram_ends",
    "resolve",
]
