"""Every configuration of the train scripts: typed, validated dataclasses whose fields carry their help.

A recipe (train/recipes/*.yaml) holds the FinetuneConfig fields, its prepare: and card: sections
included. The resolved recipe is saved next to the adapter as training_config.yaml, from which
the card is rendered again and evaluation reads its task and sampling settings. The other types
are each script's own arguments. train.cli builds every script's command line from these fields.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from autowrite.formats import Task
from autowrite.settings import SamplingSettings

TASKS = tuple(task.value for task in Task)
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
# Why 2: a word seen once in a category's training reviews carries that one review's rating
# more than its tone; without such words the review checkpoint's probe is a 0.3 MB file that
# gives the full probe's verdict on 97% of the held-out reviews (about.agrees_with_full).
PROBE_MIN_COUNT = 2


class RecipeError(ValueError):
    """A recipe or override is invalid."""


class PrepareError(ValueError):
    """A preparation setting is invalid, or the filters left nothing to train on."""


class EvalError(ValueError):
    """The evaluation cannot run with these inputs."""


class PublishError(ValueError):
    """The folder is not a publishable checkpoint."""


def option(default: Any = MISSING, help: str = "", *, factory: Any = MISSING, **metadata: Any) -> Any:
    """A config field with its command-line help; a list default is copied for each instance.

    metadata: choices (the values allowed), positional (an argument without a flag),
    metavar, and shortcut ((flag, value): a flag that sets this field to value).
    """
    if isinstance(default, list):
        default, factory = MISSING, (lambda items=tuple(default): list(items))
    return field(default=default, default_factory=factory, metadata={"help": help, **metadata})


@dataclass
class PrepareConfig:
    """How records become splits."""

    task: str = option("review", "what the splits train: review, ad or free text", choices=TASKS)
    min_helpful_votes: int = option(
        1, "fewest helpful votes, where a source has votes: unvoted reviews are more often spam or one-liners"
    )
    min_chars: int = option(20, "drop shorter texts: they teach nothing about a body")
    max_chars: int = option(
        1200, "drop longer texts: the training sequence length would cut them and never show the model an ending"
    )
    val_fraction: float = option(
        0.05, "share for validation, by product; 5% gives the shipped files a few hundred reviews per split"
    )
    test_fraction: float = option(0.05, "share of the records (by product) for the test split")
    seed: int = option(0, "seed of the split by product and of the training cap")
    max_train_examples: int = option(0, "cap on training examples (0: no cap); val and test keep every one")
    balance: bool = option(
        True, "draw the cap round-robin over (category, rating), so 5-star Music reviews crowd out no rare rating"
    )
    text_column: str = option("text", "the text column of generic CSV / JSONL files")

    def __post_init__(self) -> None:
        self.task = Task(self.task).value
        if self.min_helpful_votes < 0:
            raise PrepareError("min_helpful_votes must be 0 or more")
        if not 0 <= self.min_chars < self.max_chars:
            raise PrepareError(f"need 0 <= min_chars < max_chars, got {self.min_chars}, {self.max_chars}")
        if not (
            0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1 and self.val_fraction + self.test_fraction < 1
        ):
            raise PrepareError("val_fraction and test_fraction must be in [0, 1) and leave room for training")
        if self.max_train_examples < 0:
            raise PrepareError("max_train_examples must be 0 (no cap) or more")


@dataclass
class PrepareFiles:
    """Which files python -m train.prepare reads and where it writes the splits."""

    data: list[Path] = option(help="input file (repeat for more)")
    out: Path = option(help="folder for train/val/test.jsonl")


def _card_sampling() -> SamplingSettings:
    return SamplingSettings(max_new_tokens=120)


@dataclass
class CardConfig:
    """What the model card says beyond the numbers: license, data sets, tags, widget defaults."""

    license: str = option("apache-2.0", "the base model's license; the adapter is the project's own")
    datasets: list[str] = option([], "Hub data sets the card names")
    tags: list[str] = option([], "Hub tags")
    language: str = option("en", "the language of the texts")
    sampling: SamplingSettings = option(
        factory=_card_sampling,
        help="sampling defaults the app and the Hub widget use, tuned by reading samples (see the card); "
        "typed and bounded by the app's own SamplingSettings, so a card never offers what the app refuses",
    )
    widget: list[str] = option([], "example prompts, in the trained format")
    description: str = option("", "a paragraph for the card's introduction")

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

    task: str = option("review", "what the checkpoint writes: review, ad or free text", choices=TASKS)
    # A recipe's entry is a file, or a list of files split together; entries split on their own
    # (train.prepare.prepare), so adding one never moves another's reviews between splits.
    data: list[str | list[str]] = option([], "input file (repeat for more); replaces the recipe's data")
    output_dir: str = option("checkpoints/autowrite-model", "the Hub-ready folder (adapter + card)")
    run_dir: str = option(
        "runs/autowrite-model", "resumable trainer checkpoints, splits and logs: large, git-ignored, never published"
    )
    state_dir: str = option(
        "", "a folder git holds for the newest resume files (train/state.py), of the run of its name; empty: none"
    )
    base_model: str = option("embedded", "embedded, a local folder, or a Hub id")
    base_model_id: str = option("HuggingFaceTB/SmolLM2-135M-Instruct", "the Hub id the card names")
    method: str = option("lora", "lora: an adapter; full: every weight", choices=METHODS, shortcut=("--full", "full"))
    lora_r: int = option(
        16, "LoRA rank; 16 on every linear layer gives a 135M model's MLPs room to shift style in a ~10 MB adapter"
    )
    lora_alpha: int = option(32, "LoRA scale; alpha = 2r, the usual, so the update's size does not move with r")
    # A run on new data continues what an earlier run learnt rather than spending its budget
    # learning the format again.
    init_adapter: str = option(
        "",
        "a LoRA adapter folder to train on instead of a fresh adapter; "
        "its rank and targets replace lora_r, lora_alpha and target_modules",
    )
    lora_dropout: float = option(0.05, "dropout on the LoRA layers' input")
    target_modules: list[str] | None = option(
        None, "LoRA targets; none given: chosen per model family (train.modeling)"
    )
    max_length: int = option(
        256, "tokens per row; 256 holds 90% of bodies up to 1200 characters whole, and CPU attention grows with it"
    )
    packing: bool = option(True, "best-fit packing: no compute spent on padding")
    learning_rate: float = option(
        3e-4, "the usual LoRA rate; the shipped recipes raise it for their short budgets (reviews.yaml)"
    )
    per_device_batch_size: int = option(4, "rows per micro-batch and process")
    gradient_accumulation_steps: int = option(
        2, "micro-batches per optimizer step; 4 x 2 rows of max_length is about 2k tokens, ~10 s on 2 CPU cores"
    )
    num_train_epochs: float = option(1.0, "passes over the training split")
    max_steps: int = option(-1, "optimizer steps; > 0 overrides num_train_epochs")
    warmup_ratio: float = option(
        0.05, "share of the steps that warm up; a fresh adapter at a high rate overshoots in its first steps without it"
    )
    lr_scheduler: str = option("cosine", "transformers' learning rate schedule")
    weight_decay: float = option(
        0.0, "weight decay; the low rank already bounds a LoRA update, and decay pulls it to zero"
    )
    eval_steps: int = option(50, "steps between validations")
    eval_examples: int = option(200, "validation examples per evaluation; more costs time every eval_steps")
    save_steps: int = option(50, "steps between checkpoints: a kill loses at most this many")
    save_total_limit: int = option(2, "checkpoints kept: two leave a whole one if a kill comes while one is written")
    logging_steps: int = option(10, "steps between loss logs")
    seed: int = option(0, "seed of the model's initialisation and the data order")
    precision: str = option("auto", "auto: bf16 autocast where the processor supports it", choices=PRECISIONS)
    threads: int = option(0, "CPU threads; 0: the machine's cores shared among local processes")
    final_eval_examples: int = option(
        300, "after training, evaluate on this many test examples and put the table in the card (0: skip)"
    )
    final_eval_per_category: int = option(0, "at most this many of them per category (0: no cap)")
    samples_per_rating: int = option(2, "sample generations per rating in the card")
    memorisation_samples: int = option(16, "generated continuations checked for copied training spans")
    prepare: PrepareConfig = option(factory=PrepareConfig, help="how records become splits (--set prepare.KEY=VALUE)")
    card: CardConfig = option(factory=CardConfig, help="what the model card says (--set card.KEY=VALUE)")

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


@dataclass
class RunOptions:
    """How python -m train.finetune runs its recipe."""

    resume: bool = option(False, "continue from the last checkpoint in run_dir (or the recipe's state_dir)")


@dataclass
class EvalConfig:
    """What to evaluate, on which data, and how much of it."""

    model: str = option(help="checkpoint folder: a LoRA adapter or a full model")
    data: list[str] = option(help="evaluation file (repeat for more)")
    limit: int = option(200, "examples to score (a seeded sample)")
    per_category: int = option(
        0, "at most this many per category, drawn before --limit (0: no cap): enough for a small category to read"
    )
    json: str | None = option(None, "write the results here as JSON")
    # The markdown file and the card's section are written by the command line, through
    # train.card, which writes every line of Markdown; evaluate.main returns data and writes only JSON.
    markdown: str | None = option(None, "write the tables here as markdown")
    update_card: bool = option(False, "replace the evaluation section of the checkpoint's README.md")
    train_data: list[str] = option([], "training file (repeat for more): few-shot examples and the memorisation index")
    task: str | None = option(None, "default: the checkpoint's training_config.yaml, else review", choices=TASKS)
    base: str | None = option(None, "base model (embedded, folder or Hub id) when the checkpoint does not name it")
    few_shot_k: int = option(2, "real training examples in the few-shot prompt; two fit beside prompt and body")
    max_body_tokens: int = option(
        256, "body tokens scored: most bodies fit, and a longer one is cut at the same token for every model"
    )
    max_context_tokens: int = option(1024, "few-shot context; GPT-2's positions, the shortest supported family's")
    span_tokens: int = option(12, "tokens a copied span must share: long enough to be copying, not a stock phrase")
    memorisation_samples: int = option(16, "sampled continuations checked for copied training spans (0: skip)")
    samples_per_rating: int = option(2, "sample generations per rating (0: skip)")
    # Why 8: per category, 40 per rating over five categories, keeps a probe's 0/1 verdicts from being noise.
    rating_samples: int = option(
        8, "samples per category at 1 and at 5 stars from each model for the rating check (0: skip)"
    )
    max_new_tokens: int = option(
        100, "tokens per sample: enough to read its tone and catch copies, few enough to take minutes on a CPU"
    )
    seed: int = option(0, "seed of the test sample, the few-shot examples and the generations")
    threads: int = option(0, "CPU threads; 0: the machine's cores shared among local processes")

    def __post_init__(self) -> None:
        if isinstance(self.data, str):
            self.data = [self.data]
        if not self.data:
            raise EvalError("give at least one --data file")
        if self.limit < 1:
            raise EvalError("--limit must be at least 1")
        if self.span_tokens < 2:
            raise EvalError("span_tokens must be at least 2")
        if self.task is not None:
            self.task = Task(self.task).value


@dataclass
class ProbeConfig:
    """Which checkpoint's tone probe python -m train.probe writes, from which training reviews."""

    folder: str = option(help="a review checkpoint folder with its training_config.yaml", positional=True)
    data: list[str] | None = option(None, "training files instead of the recipe's")
    min_count: int = option(PROBE_MIN_COUNT, "keep words seen at least this often in a category")


@dataclass
class PilotConfig:
    """A pilot: short runs of one recipe under several variants, scored on the same validation reviews."""

    recipe: Path = option(help="YAML recipe (train/recipes/*.yaml)")
    variant: list[str] = option(help="NAME or NAME:KEY=VALUE,... (recipe overrides, as finetune's --set)")
    steps: int = option(50, "optimizer steps per variant")
    per_category: int = option(20, "validation reviews scored per category")
    folder: Path = option(Path("runs/pilot"), "where the variants train")
    out: Path = option(Path("benchmarks/results/training_pilot.md"), "the results table (and .json beside it)")


@dataclass
class PublishConfig:
    """Which folder goes to which Hub repo."""

    folder: str = option(help="checkpoint folder (adapter or full model, with README.md)")
    repo: str = option(help="Hub repo id, owner/name")
    private: bool = option(False, "create the repo private")
    dry_run: bool = option(False, "list the files and stop")
    message: str = option("Upload Autowrite checkpoint", "the Hub commit message")

    def __post_init__(self) -> None:
        if self.repo.count("/") != 1 or not all(self.repo.split("/")):
            raise PublishError(f"repo must look like owner/name, got {self.repo!r}")


@dataclass
class CardFolders:
    """The checkpoint folders whose cards python -m train.card renders again."""

    folders: list[Path] = option([], "checkpoint folder", positional=True, metavar="FOLDER")


def read_training_config(folder: Path) -> dict:
    """The recipe a checkpoint folder was trained with, as plain values, or {} for folders made elsewhere."""
    path = folder / TRAINING_CONFIG
    if not path.exists():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
