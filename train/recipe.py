"""Training recipes: the typed, validated description of a fine-tuning run and its card, read from YAML.

A recipe (train/recipes/*.yaml) holds every FinetuneConfig field; command-line overrides
use dotted keys (prepare.max_chars=900). The resolved recipe is saved next to the adapter
as training_config.yaml, from which the card is rendered again and evaluation reads its
task and sampling settings. finetune, evaluate and card all take these types from here, so
none of them needs another for its configuration.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from autowrite.formats import Task
from autowrite.settings import SamplingSettings
from train.prepare import PrepareConfig

METHODS = ("lora", "full")
PRECISIONS = ("auto", "bf16", "fp32")
# Fields a resumed run may change: where files go, threads, how often it checkpoints,
# logs and validates, and what happens after training. Anything else would continue the
# saved optimizer and data order under other data, model or schedule.
RESUMABLE_CHANGES = frozenset(
    {
        "output_dir",
        "state_dir",
        "threads",
        "eval_steps",
        "eval_examples",
        "save_steps",
        "save_total_limit",
        "logging_steps",
        "final_eval_examples",
        "final_eval_per_category",
        "samples_per_rating",
        "memorisation_samples",
        "card",
    }
)
TRAINING_CONFIG = "training_config.yaml"  # the resolved recipe, saved next to the adapter
# The sampling settings a card publishes as inference.parameters; the app chooses do_sample
# and the seed itself. A recipe lists them flat under card:, in the card's own layout.
CARD_SAMPLING = ("temperature", "top_k", "top_p", "repetition_penalty", "max_new_tokens", "rating_guidance")


class RecipeError(ValueError):
    """A recipe or override is invalid."""


def _card_sampling() -> SamplingSettings:
    return SamplingSettings(max_new_tokens=120)


@dataclass
class CardConfig:
    """What the model card says beyond the numbers: license, data sets, tags, widget defaults."""

    license: str = "apache-2.0"  # the base model's license; the adapter is the project's own
    datasets: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    language: str = "en"
    # Sampling defaults the app and the Hub widget use; tuned by reading samples, see the card.
    # Bounded and typed by the app's own SamplingSettings, so a card never offers what the app refuses.
    sampling: SamplingSettings = field(default_factory=_card_sampling)
    widget: list[str] = field(default_factory=list)  # prompts, in the trained format
    description: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.sampling, Mapping):
            self.sampling = dataclasses.replace(_card_sampling(), **self.sampling)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> CardConfig:
        """A card config from a recipe's card: mapping, whose sampling settings stand flat beside the rest."""
        rest = {k: v for k, v in values.items() if k not in CARD_SAMPLING}
        sampling = {k: v for k, v in values.items() if k in CARD_SAMPLING}
        return cls(**rest, sampling=sampling)

    def to_dict(self) -> dict[str, Any]:
        """Plain values in the recipe's layout: the sampling settings flat, in field order."""
        values: dict[str, Any] = {}
        for name, value in dataclasses.asdict(self).items():
            if name == "sampling":
                values.update({setting: value[setting] for setting in CARD_SAMPLING})
            else:
                values[name] = value
        return values


@dataclass
class FinetuneConfig:
    """One fine-tuning run: data, model, method and schedule; read from a YAML recipe."""

    task: str = "review"
    # Each entry is a file, or a list of files split together; entries split on their own
    # (train.prepare.prepare), so adding one never moves another's reviews between splits.
    data: list[str | list[str]] = field(default_factory=list)
    output_dir: str = "checkpoints/autowrite-model"  # the Hub-ready folder (adapter + card)
    # Resumable trainer checkpoints, splits and logs: large, git-ignored, never published.
    run_dir: str = "runs/autowrite-model"
    # A folder git holds for the newest checkpoint's resume files (train/state.py); "" keeps
    # them in run_dir only.
    state_dir: str = ""
    base_model: str = "embedded"  # "embedded", a local folder, or a Hub id
    base_model_id: str = "HuggingFaceTB/SmolLM2-135M-Instruct"  # the Hub id the card names
    method: str = "lora"
    # Why r=16 on every linear layer: 135M models need capacity in the MLPs to shift style;
    # r=16 is ~2.4% extra parameters, still a ~10 MB adapter.
    lora_r: int = 16
    lora_alpha: int = 32  # alpha = 2r, the usual scale: the update's size does not move with r
    # A LoRA adapter folder to start from instead of a fresh adapter (its rank and targets
    # replace lora_r, lora_alpha and target_modules): a run on new data continues what an
    # earlier run learnt rather than spending the budget learning the format again.
    init_adapter: str = ""
    lora_dropout: float = 0.05
    target_modules: list[str] | None = None  # None: chosen per model family (train.modeling)
    # Why 256: covers 90% of the bodies kept by prepare (<= 1200 characters) whole, and
    # attention cost on CPU grows with it.
    max_length: int = 256
    packing: bool = True  # best-fit packing: no compute spent on padding
    # The usual LoRA rate; the shipped recipes raise it for their short budgets (reviews.yaml).
    learning_rate: float = 3e-4
    # 8 rows of max_length per optimizer step: about 2k tokens, ~10 s on 2 CPU cores.
    per_device_batch_size: int = 4
    gradient_accumulation_steps: int = 2
    num_train_epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides num_train_epochs
    warmup_ratio: float = 0.05  # a fresh adapter at a high rate overshoots in its first steps without it
    lr_scheduler: str = "cosine"
    weight_decay: float = 0.0  # the low rank already bounds a LoRA update; decay pulls it to zero
    eval_steps: int = 50
    eval_examples: int = 200  # validation examples per evaluation; more costs time every eval_steps
    # A kill loses at most save_steps steps; two checkpoints leave a whole one if the kill
    # comes while the newer is being written.
    save_steps: int = 50
    save_total_limit: int = 2
    logging_steps: int = 10
    seed: int = 0
    precision: str = "auto"  # auto: bf16 autocast where the processor supports it
    threads: int = 0  # 0: the machine's cores shared among local processes
    # After training, evaluate on this many test examples and put the table in the card (0: skip).
    final_eval_examples: int = 300
    final_eval_per_category: int = 0  # at most this many of them per category (0: no cap)
    samples_per_rating: int = 2
    memorisation_samples: int = 16  # generated continuations checked for copied training spans
    prepare: PrepareConfig = field(default_factory=PrepareConfig)
    card: CardConfig = field(default_factory=CardConfig)

    def __post_init__(self) -> None:
        if isinstance(self.prepare, dict):
            self.prepare = PrepareConfig(**{"task": self.task, **self.prepare})
        if isinstance(self.card, dict):
            self.card = CardConfig.from_dict(self.card)
        self.task = Task(self.task).value
        self.prepare.task = self.task
        if self.method not in METHODS:
            raise RecipeError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.init_adapter and self.method != "lora":
            raise RecipeError("init_adapter continues a LoRA adapter: it needs method: lora")
        for name in ("learning_rate", "warmup_ratio", "weight_decay", "num_train_epochs", "lora_dropout"):
            # YAML 1.1 reads 5e-5 (no dot) as a string: take it as the number that was meant.
            try:
                setattr(self, name, float(getattr(self, name)))
            except (TypeError, ValueError):
                raise RecipeError(f"{name} must be a number, got {getattr(self, name)!r}") from None
        if self.precision not in PRECISIONS:
            raise RecipeError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if isinstance(self.data, str):
            self.data = [self.data]
        if not self.data:
            raise RecipeError("no data files: give data: in the recipe or --data")
        self._check_ranges()

    def _check_ranges(self) -> None:
        for name in (
            "lora_r",
            "max_length",
            "per_device_batch_size",
            "gradient_accumulation_steps",
            "eval_steps",
            "save_steps",
            "logging_steps",
        ):
            if int(getattr(self, name)) < 1:
                raise RecipeError(f"{name} must be at least 1")
        if not 0 < self.learning_rate < 1:
            raise RecipeError(f"learning_rate must be in (0, 1), got {self.learning_rate}")
        if self.max_steps <= 0 and self.num_train_epochs <= 0:
            raise RecipeError("set num_train_epochs > 0 or max_steps > 0")
        if not 0 <= self.warmup_ratio < 1:  # passed on as warmup_steps, where 1 or more counts steps
            raise RecipeError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")

    def trajectory(self) -> dict[str, Any]:
        """The values that decide what a run trains: a resumed run must keep every one."""
        values = self.to_dict()
        return {k: v for k, v in values.items() if k not in RESUMABLE_CHANGES}

    def to_dict(self) -> dict[str, Any]:
        """Plain values, as written to the checkpoint's training_config.yaml."""
        values = dataclasses.asdict(self)
        values["card"] = self.card.to_dict()
        return values


def _set_dotted(values: dict, key: str, value: Any) -> None:
    parts = key.replace("-", "_").split(".")
    target = values
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value


def load_recipe(path: Path | None, overrides: dict[str, Any] | None = None) -> FinetuneConfig:
    """A config from a YAML recipe with dotted-key overrides (prepare.max_chars=900) applied."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            values = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as error:
            raise RecipeError(f"cannot read recipe {path}: {error}") from None
    for key, value in (overrides or {}).items():
        _set_dotted(values, key, value)
    known = {f.name for f in dataclasses.fields(FinetuneConfig)}
    unknown = set(values) - known
    if unknown:
        raise RecipeError(f"unknown recipe field(s): {', '.join(sorted(unknown))}")
    try:
        return FinetuneConfig(**values)
    except TypeError as error:
        raise RecipeError(str(error)) from None


def read_training_config(folder: Path) -> dict:
    """The recipe a checkpoint folder was trained with, as plain values, or {} for folders made elsewhere."""
    path = folder / TRAINING_CONFIG
    if not path.exists():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
