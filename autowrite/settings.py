"""Sampling settings: one validated dataclass shared by every tab, the API and share links."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from autowrite.setting_values import (
    ALWAYS_FIRST,
    DRY_BREAKERS,
    TEXT_BOUNDS,
    SettingsError,
    canonical_text,
    parse_biases,
    parse_list,
    parse_number,
    shown,
)


@dataclass(frozen=True)
class Bound:
    """The accepted range of one numeric setting, inclusive."""

    low: float
    high: float
    kind: type


# Why these bounds: wide enough for every sensible experiment, tight enough that one
# request cannot occupy a CPU for minutes (max_new_tokens) or produce NaNs (temperature).
BOUNDS: dict[str, Bound] = {
    "temperature": Bound(0.05, 2.0, float),
    "top_k": Bound(0, 200, int),  # 0 turns top-k filtering off
    "top_p": Bound(0.05, 1.0, float),  # 1.0 turns nucleus filtering off
    "repetition_penalty": Bound(1.0, 2.0, float),  # 1.0 turns the penalty off
    "max_new_tokens": Bound(1, 512, int),
    "seed": Bound(0, 2**31 - 1, int),
    "min_p": Bound(0.0, 1.0, float),  # 0 turns min-p filtering off
    # Why at most 10: a repeat of more than ten tokens is a copied sentence, which the
    # repetition penalty already discourages; 0 turns the ban off.
    "no_repeat_ngram_size": Bound(0, 10, int),
    # Why at most 5: past about 3 the reviews shrink to a word or two (docs/guidance.md).
    "rating_guidance": Bound(1.0, 5.0, float),  # 1.0 turns guidance off
    # The samplers peers offer, named as llama.cpp's server names them (docs/samplers.md).
    "typical_p": Bound(0.01, 1.0, float),  # 1.0 turns typical sampling off
    # Probabilities as transformers takes them (text-generation-webui's sliders are in 1e-4); 0 is off.
    "epsilon_cutoff": Bound(0.0, 0.1, float),
    "eta_cutoff": Bound(0.0, 0.1, float),
    "top_n_sigma": Bound(0.0, 5.0, float),  # 0 turns it off (llama.cpp: any value <= 0)
    "xtc_probability": Bound(0.0, 1.0, float),  # 0 turns XTC off
    "xtc_threshold": Bound(0.0, 0.5, float),  # above 0.5 llama.cpp turns XTC off, so it is no setting
    "dry_multiplier": Bound(0.0, 5.0, float),  # 0 turns DRY off
    "dry_base": Bound(1.0, 4.0, float),
    "dry_allowed_length": Bound(1, 20, int),
    # Why at most 8,192: more than any context the app loads; -1 is the whole text, as in llama.cpp.
    "dry_penalty_last_n": Bound(-1, 8192, int),
    "mirostat": Bound(0, 2, int),  # 0 off, 2 Mirostat v2; 1 (v1) is refused by name
    "mirostat_tau": Bound(0.0, 10.0, float),
    "mirostat_eta": Bound(0.0, 1.0, float),
}


@dataclass(frozen=True)
class SamplingSettings:
    """How to pick each next token; the same meaning in every backend, and as transformers' generate().

    min_p keeps the tokens at least min_p times as likely as the likeliest (after
    temperature); no_repeat_ngram_size=n bans any token that would repeat an n-token run
    already in the text, the prompt included. rating_guidance=g steers a review toward its
    stars: each step's logits are contrast + g * (asked - contrast), asked being the prompt
    with the stars asked and contrast the same prompt with the opposite stars (see
    autowrite.decode); 1 leaves the logits as they are.
    """

    temperature: float = 0.8
    top_k: int = 50
    top_p: float = 0.95
    repetition_penalty: float = 1.2
    max_new_tokens: int = 80
    do_sample: bool = True
    seed: int = 42
    # After the seed so that settings built by position keep their meaning.
    min_p: float = 0.0
    no_repeat_ngram_size: int = 0
    rating_guidance: float = 1.0
    # The samplers peers offer (autowrite.sampling; docs/samplers.md), each off by default.
    typical_p: float = 1.0
    epsilon_cutoff: float = 0.0
    eta_cutoff: float = 0.0
    top_n_sigma: float = 0.0
    xtc_probability: float = 0.0
    xtc_threshold: float = 0.1
    dry_multiplier: float = 0.0
    dry_base: float = 1.75
    dry_allowed_length: int = 2
    dry_penalty_last_n: int = -1
    dry_sequence_breakers: str = DRY_BREAKERS
    mirostat: int = 0
    mirostat_tau: float = 5.0
    mirostat_eta: float = 0.1
    logit_bias: str = ""
    banned_words: str = ""
    # The cuts' order, as llama.cpp's server takes it ("top_k, top_p, min_p, temperature");
    # empty: the built-in order (docs/samplers.md). Only the cuts it names act.
    samplers: str = ""

    def __post_init__(self) -> None:
        for name, bound in BOUNDS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise SettingsError(f"{name} must be a number, got {value!r}")
            if isinstance(value, float) and not math.isfinite(value):
                raise SettingsError(f"{name} must be a finite number, got {value!r}")
            if bound.kind is int and value != int(value):
                raise SettingsError(f"{name} must be a whole number, got {value!r}")
            if not bound.low <= value <= bound.high:
                raise SettingsError(f"{name} must be between {bound.low:g} and {bound.high:g}, got {value!r}")
            object.__setattr__(self, name, bound.kind(value))
        if not isinstance(self.do_sample, bool):
            raise SettingsError(f"do_sample must be true or false, got {self.do_sample!r}")
        if self.mirostat == 1:
            raise SettingsError("mirostat 1 (Mirostat v1) is not offered; use 2 (Mirostat v2) or 0 (off)")
        for name in TEXT_BOUNDS:  # kept as their canonical text, so links, widgets and JSON carry them as text
            object.__setattr__(self, name, canonical_text(name, getattr(self, name)))

    @property
    def breakers(self) -> tuple[str, ...]:
        """dry_sequence_breakers as strings."""
        return parse_list("dry_sequence_breakers", self.dry_sequence_breakers)

    @property
    def banned(self) -> tuple[str, ...]:
        """banned_words as words."""
        return parse_list("banned_words", self.banned_words)

    @property
    def order(self) -> tuple[str, ...]:
        """samplers as names, without those that always act first; () for the built-in order."""
        return tuple(name for name in parse_list("samplers", self.samplers) if name not in ALWAYS_FIRST)

    @property
    def biases(self) -> tuple[tuple[str, float], ...]:
        """logit_bias as (word, bias) pairs."""
        return parse_biases(self.logit_bias)

    def replace(self, **changes: Any) -> SamplingSettings:
        """A copy with some settings changed, validated again."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """Plain values keyed by setting name, as in URLs and API calls."""
        return {name: getattr(self, name) for name in FIELDS}

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], base: SamplingSettings | None = None) -> SamplingSettings:
        """Strictly build settings from named values (API calls): any bad value raises."""
        unknown = set(values) - set(FIELDS)
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        parsed = {name: parse_value(name, raw) for name, raw in values.items() if raw is not None}
        return dataclasses.replace(base or cls(), **parsed)

    @classmethod
    def lenient(
        cls, values: Mapping[str, Any], base: SamplingSettings | None = None
    ) -> tuple[SamplingSettings, list[str]]:
        """Build settings from untrusted values (share links): bad ones fall back, with notices."""
        settings = base or cls()
        notices = []
        for name in FIELDS:
            if name not in values or values[name] in (None, ""):
                continue
            try:
                settings = dataclasses.replace(settings, **{name: parse_value(name, values[name])})
            except SettingsError as error:
                notices.append(f"{error}; using {getattr(settings, name)!r} instead")
        return settings, notices


FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(SamplingSettings))

_TRUE = {"1", "true", "yes", "on", "sample", "sampling"}
_FALSE = {"0", "false", "no", "off", "greedy"}


def parse_value(name: str, raw: Any) -> Any:
    """Convert one raw value (a string from a URL, or a JSON value) to the setting's type."""
    if name == "do_sample":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
            return raw.strip().lower() in _TRUE
        raise SettingsError(f"do_sample must be true or false, got {shown(raw)}")
    if name in TEXT_BOUNDS:
        return canonical_text(name, raw)
    bound = BOUNDS[name]
    raw = parse_number(name, raw)
    if bound.kind is int and raw == int(raw):
        return int(raw)
    return raw


# Presets for the compare tab, each a whole set of sampling settings. Each shows a difference
# of its own and passes the report card's sanity figures on the review and ad checkpoints
# (docs/presets.md has the runs that chose the values).
PRESETS: dict[str, dict[str, Any]] = {
    "Greedy": {"do_sample": False, "repetition_penalty": 1.2},
    # Hot, with the tail cut relative to the top token: longer, less expected texts that still
    # read (fit within 0.2 log-prob/token of the cards'); nucleus sampling at 1.1 wrote gibberish.
    "Creative": {"do_sample": True, "temperature": 1.3, "top_k": 0, "top_p": 1.0, "min_p": 0.15, "repetition_penalty": 1.1},
    "Precise": {"do_sample": True, "temperature": 0.4, "top_k": 20, "top_p": 0.8, "repetition_penalty": 1.3},
    # Min-p alone, as its authors suggest: a higher temperature, the tail cut relative to the top token.
    "Min-p": {"do_sample": True, "temperature": 1.0, "top_k": 0, "top_p": 1.0, "min_p": 0.1, "repetition_penalty": 1.1},
    "Greedy, no repeats": {"do_sample": False, "repetition_penalty": 1.0, "no_repeat_ngram_size": 3},
    # DRY's and XTC's authors' values, over min-p; DRY stands in for the repetition penalty.
    "DRY + min-p": {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "min_p": 0.05, "repetition_penalty": 1.0, "dry_multiplier": 0.8},
    "XTC creative": {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "min_p": 0.02, "repetition_penalty": 1.05, "xtc_probability": 0.5},
}  # fmt: skip

# How much harder "Guided stars" steers than the card: one step, so beside "Card defaults" the
# two columns differ in guidance alone (g=2 over an unguided card, 3 over the review card's 2).
GUIDANCE_STEP = 1.0


def guided(card_defaults: SamplingSettings) -> SamplingSettings:
    """The card's settings with the stars guided one step harder, within the bound."""
    stronger = min(card_defaults.rating_guidance + GUIDANCE_STEP, BOUNDS["rating_guidance"].high)
    return card_defaults.replace(rating_guidance=stronger)


def preset(name: str, card_defaults: SamplingSettings, max_new_tokens: int, seed: int) -> SamplingSettings:
    """Settings for a named preset; "Card defaults" and "Guided stars" start from the model card's settings."""
    if name == "Card defaults":
        return card_defaults.replace(max_new_tokens=max_new_tokens, seed=seed)
    if name == "Guided stars":
        return guided(card_defaults).replace(max_new_tokens=max_new_tokens, seed=seed)
    if name not in PRESETS:
        raise SettingsError(f"unknown preset {name!r}; choose one of {', '.join(PRESET_NAMES)}")
    return SamplingSettings(max_new_tokens=max_new_tokens, seed=seed, **PRESETS[name])


# The compare tab's columns start as the first four.
PRESET_NAMES: tuple[str, ...] = (
    "Greedy", "Card defaults", "Creative", "Precise", "Min-p", "Greedy, no repeats", "Guided stars", "DRY + min-p",
    "XTC creative",
)  # fmt: skip

__all__ = [
    "BOUNDS", "FIELDS", "PRESETS", "PRESET_NAMES", "TEXT_BOUNDS", "SamplingSettings", "SettingsError", "guided",
    "parse_biases", "parse_list", "parse_value", "preset", "shown",
]  # fmt: skip
