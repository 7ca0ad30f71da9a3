"""The models on offer, and a name to its entry and its loaded model.

A name is a catalog entry (with its model card's defaults and examples), or where the app
allows it, a folder under the models folder or a Hub repo id within the download bound.
An action resolves its model's name here once and passes the entry, or the loaded model,
down to everything it does with it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from autowrite import hub
from autowrite.backends.base import Backend
from autowrite.cards import Cards
from autowrite.catalog import Entry
from autowrite.errors import UserError
from autowrite.formats import Task
from autowrite.loading import Loaded, LoadError, ModelCache, folder_under, load_entry
from autowrite.outputs import Variant
from autowrite.probe import PROBE_FILE, ToneProbe
from autowrite.settings import FIELDS, SamplingSettings, SettingsError, preset, shown

logger = logging.getLogger(__name__)

# Why 1 GB: GPT-2 and GPT-Neo 125M are about 0.5 GB; this keeps a typed repo id from
# pulling a multi-GB model onto a small Space.
DEFAULT_MAX_DOWNLOAD_BYTES = 1_000_000_000


class Lookup:
    """The models on offer: names to entries with their cards applied, and entries to loaded models."""

    def __init__(
        self,
        entries: Sequence[Entry],
        *,
        cache: ModelCache | None = None,
        allow_custom: bool = False,
        models_dir: Path | None = None,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        read_hub_cards: bool = True,
    ) -> None:
        self.entries = {e.name: e for e in entries}
        self.default_name = entries[0].name
        self.cache = cache or ModelCache(load_entry)
        self.allow_custom = allow_custom
        # The one folder whose sub-folders a typed name may load; None: typed names are Hub ids only.
        self.models_dir = Path(models_dir).resolve() if models_dir else None
        if self.models_dir and not self.models_dir.is_dir():
            raise ValueError(f"the models folder {models_dir} is not a folder")
        self.max_download_bytes = max_download_bytes
        self.cards = Cards(read_hub_cards)
        self._probes: dict[str, ToneProbe | None] = {}

    @property
    def names(self) -> list[str]:
        """Model names in catalog order, for the dropdown."""
        return list(self.entries)

    def entry(self, name: str | None) -> Entry:
        """The catalog entry for a name (with its card's defaults); custom ones if allowed."""
        name = (name or self.default_name).strip()
        if name in self.entries:
            return self.cards.applied(self.entries[name])
        if not self.allow_custom:
            raise UserError(f"Unknown model {shown(name)}. Choose one of: {', '.join(self.entries)}.")
        entry = custom_entry(name, self.models_dir, self.max_download_bytes)
        self.entries[name] = entry
        return entry

    def notes(self, name: str | None) -> list[str]:
        """What the app learned about a model's card (origin, skipped values)."""
        return self.cards.notes(self.entry(name).name)

    def load(self, name: str | None) -> Loaded:
        """The loaded model for a name; a load failure becomes a UserError for this request only."""
        return self.loaded(self.entry(name))

    def loaded(self, entry: Entry) -> Loaded:
        """The loaded model for an entry already resolved; a load failure becomes a UserError."""
        try:
            return self.cache.get(entry)
        except LoadError as error:
            raise UserError(str(error)) from None

    def settings(self, name: str | None, **values: Any) -> SamplingSettings:
        """The model's default settings with the given ones on top, validated strictly."""
        given = {k: v for k, v in values.items() if k in FIELDS and v is not None}
        try:
            return SamplingSettings.from_mapping(given, base=self.entry(name).defaults)
        except SettingsError as error:
            raise UserError(str(error)) from None

    def columns(
        self, model: str, presets: Sequence[str], own: Sequence[dict], seed: int | None, max_new_tokens: int
    ) -> list[Variant]:
        """Each compare column's model and settings: its preset, then its own values over it.

        A column's "model" (none: the page's) reads the preset's card defaults from that
        model; the seed and the length are the page model's, shared by every column.
        """
        shared = self.settings(model, seed=seed, max_new_tokens=max_new_tokens)
        columns = []
        for index, (name, values) in enumerate(zip(presets, own, strict=True)):
            values = dict(values)
            try:
                chosen = self.entry(values.pop("model", None) or model)
            except UserError as error:
                raise UserError(f"columns[{index}].model: {error}") from None
            try:
                base = preset(name, chosen.defaults, shared.max_new_tokens, shared.seed)
                columns.append(Variant(chosen.name, SamplingSettings.from_mapping(values, base=base)))
            except SettingsError as error:
                raise UserError(f"columns[{index}]: {error}") from None
        return columns

    def base_loaded(self, tuned: Loaded) -> Loaded:
        """The base model of a fine-tuned one, loaded; a UserError unless both are fine-tune and base running here."""
        if not tuned.entry.adapter:
            tuned_names = ", ".join(name for name, e in self.entries.items() if e.adapter) or "none here"
            raise UserError(f"{tuned.entry.name} has no adapter to compare with its base; fine-tuned: {tuned_names}.")
        base = self.loaded(self.base_of(tuned.entry))
        if not isinstance(base.backend, Backend) or not isinstance(tuned.backend, Backend):
            raise UserError("Scoring a text needs both models running here, not on a remote server.")
        return base

    def base_of(self, entry: Entry) -> Entry:
        """The catalog's entry for a fine-tuned entry's weights without its adapter, or one made for them."""
        for candidate in self.entries.values():
            same = (candidate.source, candidate.repo, candidate.path, candidate.revision)
            if not candidate.adapter and same == (entry.source, entry.repo, entry.path, entry.revision):
                return self.entry(candidate.name)
        return replace(entry, name=f"{entry.name} without its adapter", adapter="")

    def probe(self, name: str) -> ToneProbe | None:
        """The tone probe a review checkpoint ships beside its weights (autowrite.probe), or None."""
        entry = self.entry(name)
        if entry.name not in self._probes:
            path = entry.folder / PROBE_FILE if entry.folder else None
            try:
                self._probes[entry.name] = ToneProbe.load(path) if path and path.is_file() else None
            except ValueError as error:
                logger.warning("%s: %s", entry.name, error)
                self._probes[entry.name] = None
        return self._probes[entry.name]


def custom_entry(name: str, models_dir: Path | None, max_download_bytes: int) -> Entry:
    """A typed name as a folder under the models folder, else a Hub repo id within the download bound.

    "owner/name" could be either: a folder under the models folder wins (the operator put it
    there), else it is a Hub id. A refusal reads the same whether or not a path exists
    outside the models folder, and echoes only the name as typed.
    """
    folder = folder_under(models_dir, name) if models_dir else None
    if folder is not None:
        return Entry(name=name, source="local", path=str(folder), task=Task.FREE)
    if not hub.is_repo_id(name):
        folders = ", a folder under the models folder," if models_dir else ""
        raise UserError(f"{name!r} is neither a catalog model{folders} nor a Hub repo id (owner/name).")
    try:
        size = hub.download_size(name)
    except hub.HubNotFound:
        raise UserError(f"{name} is not a model repo on the Hub (or it is gated).") from None
    except hub.HubUnreachable:
        if not hub.is_cached(name):
            raise UserError(f"The Hub cannot be reached and {name} is not in the local cache.") from None
        size = 0
    if size > max_download_bytes:
        raise UserError(f"{name} is {size / 1e9:.1f} GB; this app downloads at most {max_download_bytes / 1e9:.1f} GB.")
    return Entry(name=name, source="hub", repo=name, task=Task.FREE)
