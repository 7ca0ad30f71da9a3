"""Sampling settings: one validated dataclass shared by every tab, the API and share links."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class SettingsError(ValueError):
    """A sampling setting is missing, of the wrong type, or out of bounds."""


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
                raise SettingsError(f"{name} must be between {_fmt(bound.low)} and {_fmt(bound.high)}, got {value!r}")
            object.__setattr__(self, name, bound.kind(value))
        if not isinstance(self.do_sample, bool):
            raise SettingsError(f"do_sample must be true or false, got {self.do_sample!r}")

    def replace(self, **changes: Any) -> SamplingSettings:
        """A copy with some settings changed, validated again."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """Plain values keyed by setting name, as in URLs and API calls."""
        return dataclasses.asdict(self)

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
    bound = BOUNDS[name]
    if isinstance(raw, str):
        try:
            raw = float(raw.strip())
        except ValueError:
            raise SettingsError(f"{name} must be a number, got {shown(raw)}") from None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise SettingsError(f"{name} must be a number, got {shown(raw)}")
    if isinstance(raw, float) and not math.isfinite(raw):  # NaN, inf, "inf", 1e999 in JSON
        raise SettingsError(f"{name} must be a finite number, got {raw!r}")
    if bound.kind is int and raw == int(raw):
        return int(raw)
    return raw


SHOWN_CHARS = 60  # enough to recognise a value, short enough for one line of a notice


def _fmt(x: float) -> str:
    return f"{x:g}"


def shown(value: Any) -> str:
    """A bad value as a message repeats it: its repr, cut short (a link can carry 8,000 characters)."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


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
    "Greedy", "Card defaults", "Creative", "Precise", "Min-p", "Greedy, no repeats", "Guided stars",
)  # fmt: skip

__all__ = [
    "BOUNDS",
    "FIELDS",
    "PRESETS",
    "PRESET_NAMES",
    "SamplingSettings",
    "SettingsError",
    "guided",
    "parse_value",
    "preset",
    "shown",
]
