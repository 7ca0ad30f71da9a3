"""The model catalog (checkpoints/catalog.yaml): what the dropdown offers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from autowrite.formats import Task
from autowrite.settings import SamplingSettings, SettingsError

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
    url: str = ""  # an OpenAI-compatible completions server, for source remote (autowrite.remote)
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
    def folder(self) -> Path | None:
        """The checkpoint's own folder here (its adapter's, or a local model's), if it has one."""
        folder = self.adapter or self.path
        return self.resolve(folder) if folder else None

    @property
    def card_file(self) -> Path | None:
        """Where the local model card (README.md) of a checkpoint would be; it may not exist."""
        return self.folder / "README.md" if self.folder else None


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
