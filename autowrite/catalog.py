"""The model catalog (checkpoints/catalog.yaml) and model cards: what the dropdown offers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from autowrite import formats
from autowrite.formats import Task
from autowrite.settings import FIELDS, SamplingSettings, SettingsError

CHECKPOINTS_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
CATALOG_PATH = CHECKPOINTS_DIR / "catalog.yaml"

SOURCES = ("embedded", "hub", "local", "remote")
PROMPT_FORMATS = ("autowrite", "plain")


class CatalogError(ValueError):
    """The catalog file or one of its entries is malformed."""


@dataclass(frozen=True)
class Entry:
    """One model the app offers."""

    name: str
    source: str  # embedded | hub | local | remote
    task: Task
    repo: str = ""  # Hub repo id, for source hub
    path: str = ""  # folder, for source local (relative to checkpoints/)
    url: str = ""  # an OpenAI-compatible completions server, for source remote (autowrite.backends.remote)
    # The name the server serves the model under, sent as "model" when set. vLLM needs it
    # only when it serves several models; TGI would read it as a LoRA adapter id.
    served_model: str = ""
    adapter: str = ""  # LoRA adapter folder on top of the source (relative to checkpoints/)
    revision: str | None = None
    # "autowrite": the field markers of autowrite.formats; "plain": the model was trained on
    # bare text (the public GPT-2/GPT-Neo checkpoints), so the prompt is the text alone.
    prompt_format: str = "plain"
    defaults: SamplingSettings = field(default_factory=SamplingSettings)
    examples: tuple[str, ...] = ()
    description: str = ""
    # The folder of the catalog that lists the entry: its path and adapter are relative to it,
    # so a catalog elsewhere (--catalog, a Space's copy) names its own folders.
    root: Path = CHECKPOINTS_DIR

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise CatalogError(f"{self.name}: source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        if self.source == "hub" and not self.repo:
            raise CatalogError(f"{self.name}: a hub entry needs a repo id")
        if self.source == "local" and not self.path:
            raise CatalogError(f"{self.name}: a local entry needs a path")
        if self.source == "remote" and not self.url:
            raise CatalogError(f"{self.name}: a remote entry needs a url")
        if self.prompt_format not in PROMPT_FORMATS:
            raise CatalogError(f"{self.name}: prompt_format must be one of {', '.join(PROMPT_FORMATS)}")

    def resolve(self, relative: str) -> Path:
        """A folder named in the catalog, relative to the catalog's own folder."""
        return (self.root / relative).resolve()

    @property
    def card_file(self) -> Path | None:
        """Where the local model card (README.md) of a checkpoint would be; it may not exist."""
        folder = self.adapter or self.path
        return self.resolve(folder) / "README.md" if folder else None


def _entry(raw: Mapping[str, Any], root: Path) -> Entry:
    name = raw.get("name") or raw.get("repo") or "unnamed"
    try:
        defaults = SamplingSettings.from_mapping(raw.get("defaults") or {})
    except SettingsError as error:
        raise CatalogError(f"{name}: bad defaults: {error}") from None
    known = {
        "name",
        "source",
        "task",
        "repo",
        "path",
        "url",
        "served_model",
        "adapter",
        "revision",
        "prompt_format",
        "examples",
        "description",
    }
    unknown = set(raw) - known - {"defaults"}
    if unknown:
        raise CatalogError(f"{name}: unknown field(s) {', '.join(sorted(unknown))}")
    try:
        task = Task(raw.get("task", "free"))
    except ValueError:
        raise CatalogError(f"{name}: task must be one of {', '.join(t.value for t in Task)}") from None
    values = {k: v for k, v in raw.items() if k in known - {"task", "examples", "name"}}
    examples = tuple(raw.get("examples") or ())
    return Entry(name=name, task=task, examples=examples, defaults=defaults, root=root, **values)


def load_catalog(path: Path = CATALOG_PATH) -> list[Entry]:
    """Read the catalog file; names must be unique, the first entry is the default."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise CatalogError(f"cannot read catalog {path}: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("models"), list) or not document["models"]:
        raise CatalogError(f"{path}: expected a 'models' list with at least one entry")
    entries = [_entry(raw, path.resolve().parent) for raw in document["models"]]
    names = [e.name for e in entries]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise CatalogError(f"{path}: duplicate model name(s): {', '.join(sorted(duplicated))}")
    return entries


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
    if "temperature" in defaults or "top_k" in defaults or "top_p" in defaults:
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
