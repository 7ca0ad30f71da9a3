"""Model cards: their defaults and examples, read from a checkpoint's folder or the Hub, and kept.

A card's `inference.parameters` become the model's default settings and its `widget`
prompts its examples, as the Hub's widget read them. Cards is the one place that reads
them and remembers what it read; the service asks it for each entry with its card applied.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from huggingface_hub import ModelCard, constants, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from autowrite import formats
from autowrite.catalog import Entry
from autowrite.hub import HUB_TIMEOUT_S
from autowrite.settings import FIELDS, SamplingSettings


class Cards:
    """Each entry with its card applied, and what reading the card said (origin, skipped values)."""

    def __init__(self, read_hub_cards: bool = True) -> None:
        self.read_hub_cards = read_hub_cards
        self._lock = threading.Lock()
        self._hub_locks: dict[str, threading.Lock] = {}
        self._hub_entries: dict[str, Entry] = {}
        self._notes: dict[str, list[str]] = {}
        # A shipped checkpoint's card, by entry name: where it would be, and the entry with it
        # applied as of the card's modification time.
        self._paths: dict[str, Path | None] = {}
        self._local: dict[str, tuple[int, Entry]] = {}

    def notes(self, name: str) -> list[str]:
        """What reading the model's card said."""
        return list(self._notes.get(name, []))

    def applied(self, entry: Entry) -> Entry:
        """The entry with its card's defaults and examples, where it has a card that can be read."""
        local = self._local_card(entry)
        if local is not None:
            return local
        if entry.source != "hub" or not self.read_hub_cards:
            return entry
        # A lock per model: a slow Hub holds up only those waiting for this model's card, not
        # every keystroke on every model.
        with self._hub_locks.setdefault(entry.name, threading.Lock()):
            if entry.name not in self._notes:
                card, origin = read_hub_card(entry.repo, entry.revision)
                notices = [f"Defaults and examples: {origin}" + ("" if card else "; using the catalog's copy")]
                if card is not None:
                    updated, skipped = apply_card(entry, card)
                    self._hub_entries[entry.name] = updated
                    notices += skipped
                self._notes[entry.name] = notices
            return self._hub_entries.get(entry.name, entry)

    def _local_card(self, entry: Entry) -> Entry | None:
        """The entry with its checkpoint's card applied, read again only when the file changes.

        Every keystroke asks for its entry, so this costs one stat, not a parse of the card.
        """
        if entry.name not in self._paths:
            self._paths[entry.name] = entry.card_file
        path = self._paths[entry.name]
        if path is None:
            return None
        try:
            stamp = path.stat().st_mtime_ns
        except FileNotFoundError:
            return None
        with self._lock:
            cached = self._local.get(entry.name)
            if cached is None or cached[0] != stamp:
                updated, skipped = apply_card(entry, card_from_file(path))
                cached = (stamp, updated)
                self._local[entry.name] = cached
                self._notes[entry.name] = skipped  # values out of bounds, shown by the model's notes
            return cached[1]


@dataclass(frozen=True)
class CardInfo:
    """What a model card's metadata says about using the model, as the Hub widget read it."""

    defaults: dict[str, Any]
    examples: tuple[str, ...]


# The Hub widget's names for generation settings, mapped to ours. max_length counted the
# prompt too; without the prompt's length at hand we read it as a cap on new tokens.
_CARD_NAMES = {"max_length": "max_new_tokens", "num_return_sequences": None, "return_full_text": None}


def read_card_metadata(metadata: Mapping[str, Any]) -> CardInfo:
    """Default settings from `inference.parameters` and examples from `widget`."""
    inference = metadata.get("inference")
    parameters = inference.get("parameters", {}) if isinstance(inference, Mapping) else {}
    defaults: dict[str, Any] = {}
    for key, value in (parameters or {}).items():
        name = _CARD_NAMES.get(key, key)
        if name in FIELDS:
            defaults[name] = value
    if {"temperature", "top_k", "top_p", "min_p"} & defaults.keys():
        defaults.setdefault("do_sample", True)
    widget = metadata.get("widget") or []
    examples = tuple(
        item["text"] if isinstance(item, Mapping) else str(item)
        for item in widget
        if (isinstance(item, Mapping) and isinstance(item.get("text"), str)) or isinstance(item, str)
    )
    return CardInfo(defaults=defaults, examples=examples)


def apply_card(entry: Entry, card: CardInfo) -> tuple[Entry, list[str]]:
    """The entry with the card's defaults and examples; values out of bounds are skipped, with notices."""
    settings, notices = SamplingSettings.lenient(card.defaults, base=entry.defaults)
    examples = card.examples
    if entry.prompt_format == "autowrite":
        examples = tuple(e for e in (_typed_part(x) for x in examples) if e)
    return replace(entry, defaults=settings, examples=examples or entry.examples), notices


def _typed_part(example: str) -> str:
    """What a person types for a card's widget prompt: the ad or review text after the field markers.

    Widget prompts carry the markers because the Hub widget sends them as they are; in the
    app the markers come from the mode and the review fields, so only the text is an example.
    """
    for parse, text_of in ((formats.parse_ad, lambda ad: ad), (formats.parse_review, lambda r: r.body)):
        try:
            return text_of(parse(example.strip()))
        except formats.FormatError:
            continue
    return example


def read_hub_card(repo: str, revision: str | None = None) -> tuple[CardInfo | None, str]:
    """A Hub model card's defaults and examples, from the Hub or the local cache, with its origin."""
    if not constants.is_offline_mode():
        try:
            path = hf_hub_download(repo, "README.md", revision=revision, etag_timeout=HUB_TIMEOUT_S)
            return card_from_file(Path(path)), "model card"
        except (RepositoryNotFoundError, RevisionNotFoundError, GatedRepoError, EntryNotFoundError):
            return None, "no model card on the Hub"
        except Exception:  # unreachable: fall through to the cache
            pass
    try:
        path = hf_hub_download(repo, "README.md", revision=revision, local_files_only=True)
    except (LocalEntryNotFoundError, EntryNotFoundError, OSError):
        return None, "model card not reachable (Hub offline, not cached)"
    return card_from_file(Path(path)), "cached model card"


def card_from_file(path: Path) -> CardInfo:
    """Defaults and examples from a README.md with model card metadata."""
    card = ModelCard.load(path)
    return read_card_metadata(card.data.to_dict())
