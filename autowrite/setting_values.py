"""What a setting's value may be: errors that name it, numbers, and the text-valued settings' lists.

The text settings (banned words, logit bias, DRY's sequence breakers) arrive as a person
types them, as a JSON list or object, or from a link; each is kept as one canonical text,
so links, widgets and JSON carry it unchanged.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, NamedTuple


class SettingsError(ValueError):
    """A sampling setting is missing, of the wrong type, or out of bounds."""


class TextBound(NamedTuple):
    """The accepted size of one text-valued setting: how many items, and how long each."""

    items: int
    chars: int


# Why these: a list a person types, not a dictionary. 40 characters is llama.cpp's own cap on a
# DRY sequence breaker; 32 words cover any ban list seen in peers' presets, and keep a step's
# checks (one per word and prefix) far below a step's model time.
TEXT_BOUNDS: dict[str, TextBound] = {
    "dry_sequence_breakers": TextBound(16, 40),
    "logit_bias": TextBound(32, 40),
    "banned_words": TextBound(32, 40),
    "samplers": TextBound(12, 12),
}
# The cuts a sampler order may name, as llama.cpp's server names them (its "samplers" field),
# plus epsilon and eta, which are transformers'. "penalties" and "dry" are taken and do
# nothing where they stand: here they always act first, on the whole vocabulary.
ORDERED = ("top_n_sigma", "top_k", "typ_p", "top_p", "min_p", "epsilon", "eta", "xtc", "temperature")
ALWAYS_FIRST = ("penalties", "dry")
MAX_TEXT_CHARS = 4_000  # a text setting as sent, before it is split: above any list within TEXT_BOUNDS
MAX_LOGIT_BIAS = 100.0  # OpenAI's and llama.cpp's range, -100 to 100
# llama.cpp's default breakers: a new line, a colon, a quote and an asterisk end a repeat.
DRY_BREAKERS = '"\\n", ":", "\\"", "*"'


def canonical_text(name: str, raw: Any) -> str:
    """A text setting (a string, or from JSON a list, or for logit_bias an object) as its one canonical text."""
    if name == "logit_bias":
        return bias_text(parse_biases(raw))
    items = parse_list(name, raw)
    if name == "samplers":
        check_order(items)
    return list_text(items)


def check_order(items: tuple[str, ...]) -> None:
    """A sampler order names each cut at most once, from ORDERED (or ALWAYS_FIRST)."""
    unknown = [item for item in items if item not in ORDERED + ALWAYS_FIRST]
    if unknown:
        raise SettingsError(f"samplers: no sampler {shown(unknown[0])}; the order takes {', '.join(ORDERED)}")
    twice = sorted({item for item in items if items.count(item) > 1})
    if twice:
        raise SettingsError(f"samplers: {twice[0]} is named twice")


def parse_list(name: str, raw: Any) -> tuple[str, ...]:
    """A list of strings: a JSON list, quoted strings ('"\\n", ":"'), or plain words separated by commas."""
    if isinstance(raw, (list, tuple)):
        items = list(raw)
    else:
        text = _text_value(name, raw)
        if text.startswith(("[", '"')):
            items = _json(name, text if text.startswith("[") else f"[{text}]", 'a list such as "a", "b"', list)
        else:
            items = [item.strip() for item in text.split(",") if item.strip()]
    bound = TEXT_BOUNDS[name]
    if len(items) > bound.items:
        raise SettingsError(f"{name} takes at most {bound.items} items, got {len(items)}")
    for item in items:
        _check_item(name, item, bound)
    return tuple(items)


def parse_biases(raw: Any) -> tuple[tuple[str, float], ...]:
    """logit_bias: a JSON object or list of [word, bias] pairs, or text such as "great: 2, awful: -5"."""
    name, bound = "logit_bias", TEXT_BOUNDS["logit_bias"]
    if isinstance(raw, str):
        text = _text_value(name, raw)
        if text.startswith(("{", "[")):
            raw = _json(name, text, 'an object such as {"great": 2}', (dict, list))
        else:
            raw = [_pair(item) for item in text.split(",") if item.strip()]
    if isinstance(raw, Mapping):
        raw = list(raw.items())
    if not isinstance(raw, (list, tuple)):
        raise SettingsError(f'logit_bias must be word: bias pairs such as "great: 2, awful: -5", got {shown(raw)}')
    if len(raw) > bound.items:
        raise SettingsError(f"logit_bias takes at most {bound.items} words, got {len(raw)}")
    pairs = {}
    for pair in raw:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise SettingsError(f"logit_bias: each entry must be a word and a bias, got {shown(pair)}")
        word, bias = pair
        _check_item(name, word, bound)
        bias = parse_number(f"logit_bias for {word!r}", bias)
        if not -MAX_LOGIT_BIAS <= bias <= MAX_LOGIT_BIAS:
            raise SettingsError(f"logit_bias for {word!r} must be between -100 and 100, got {bias!r}")
        pairs[word] = float(bias)  # a word given twice keeps its last bias, as a JSON object would
    return tuple(pairs.items())


def _pair(item: str) -> tuple[str, str] | str:
    word, colon, bias = item.rpartition(":")
    return (word.strip(), bias) if colon and word.strip() else item  # not a pair: the check below names it


def _text_value(name: str, raw: Any) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise SettingsError(f"{name} must be text, got {shown(raw)}")
    if len(raw) > MAX_TEXT_CHARS:
        raise SettingsError(f"{name} is {len(raw):,} characters; the limit is {MAX_TEXT_CHARS:,}")
    return raw.strip()


def _json(name: str, text: str, example: str, kind: type | tuple[type, ...]) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, kind):
        raise SettingsError(f"{name} must be {example}; cannot read {shown(text)}")
    return value


def _check_item(name: str, item: Any, bound: TextBound) -> None:
    if not isinstance(item, str) or not item:
        raise SettingsError(f"{name}: each item must be a non-empty string, got {shown(item)}")
    if len(item) > bound.chars:
        raise SettingsError(f"{name}: {shown(item)} is longer than {bound.chars} characters")
    try:
        item.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate that JSON can carry
        raise SettingsError(f"{name}: {shown(item)} holds invalid Unicode") from None


def _plain(item: str) -> bool:
    """Whether an item reads back from plain comma-separated text as it is."""
    return item == item.strip() and item.isprintable() and not any(c in item for c in ',:"[]{}')


def list_text(items: tuple[str, ...]) -> str:
    """A list as parse_list reads it back: plain words with commas, or every item quoted when one needs it."""
    if all(_plain(item) for item in items):
        return ", ".join(items)
    return ", ".join(json.dumps(item, ensure_ascii=False) for item in items)


def bias_text(pairs: tuple[tuple[str, float], ...]) -> str:
    """Biases as parse_biases reads them back: "word: bias, ...", or a JSON object when a word needs quoting."""
    if all(_plain(word) for word, _ in pairs):
        return ", ".join(f"{word}: {bias:g}" for word, bias in pairs)
    return json.dumps(dict(pairs), ensure_ascii=False)


def parse_number(name: str, raw: Any) -> float:
    """A finite number, from a JSON number or text."""
    if isinstance(raw, str):
        try:
            raw = float(raw.strip())
        except ValueError:
            raise SettingsError(f"{name} must be a number, got {shown(raw)}") from None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise SettingsError(f"{name} must be a number, got {shown(raw)}")
    if isinstance(raw, float) and not math.isfinite(raw):  # NaN, inf, "inf", 1e999 in JSON
        raise SettingsError(f"{name} must be a finite number, got {raw!r}")
    return raw


SHOWN_CHARS = 60  # enough to recognise a value, short enough for one line of a notice


def shown(value: Any) -> str:
    """A bad value as a message repeats it: its repr, cut short (a link can carry 8,000 characters)."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."
