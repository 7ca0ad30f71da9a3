"""A pilot: short runs of one recipe under several variants, scored per category on the same reviews.

A full review run takes hours on a CPU, so the mix, the LoRA rank and the row length are
chosen by a few short runs first. Each variant trains the same number of steps of the
same tokens per step; each is then scored on one fixed sample of the validation split,
the same number of reviews from every category, so that a variant that helps the large
categories at the small ones' cost shows it.

    python -m train.pilot --recipe train/recipes/reviews.yaml --steps 50 \\
        --variant natural-r8 --variant "balanced-r8:prepare.balance=true" \\
        --variant "natural-r32:lora_r=32,lora_alpha=64"

A variant is NAME or NAME:KEY=VALUE,KEY=VALUE (recipe overrides, as finetune's --set). A
variant already in the results file is kept as it is, and one whose adapter is already in
the pilot folder is scored, not trained again, so a killed pilot goes on where it stopped
and a new variant joins the same table.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autowrite.formats import Task
from train import finetune
from train.cli import ConfigParser, load_recipe, parse_override
from train.metrics import Scored, body_nll, tokenize_example
from train.modeling import load_models
from train.prepare import load_and_prepare, stratified, usable
from train.readers import Record
from train.recipe import PilotConfig

log = logging.getLogger(__name__)

# Why 300: the evaluation's body cap; longer bodies cost time and say nothing more per token.
MAX_BODY_TOKENS = 300


@dataclass(frozen=True)
class Variant:
    """One pilot run: a name and its recipe overrides."""

    name: str
    overrides: dict[str, Any]


def parse_variant(spec: str) -> Variant:
    """NAME or NAME:KEY=VALUE,KEY=VALUE."""
    name, _, rest = spec.partition(":")
    overrides = dict(parse_override(pair, context=f"variant {spec!r}") for pair in filter(None, rest.split(",")))
    if not name.strip():
        raise ValueError(f"variant {spec!r} has no name")
    return Variant(name.strip(), overrides)


def train_variant(recipe: Path, variant: Variant, steps: int, folder: Path) -> Path:
    """The variant's adapter folder, trained now unless it is there already."""
    out = folder / variant.name / "adapter"
    if (out / "adapter_config.json").exists():
        log.info("%s: trained already, scoring", variant.name)
        return out
    overrides = {
        **variant.overrides,
        "max_steps": steps,
        "run_dir": str(folder / variant.name / "run"),
        "output_dir": str(out),
        "state_dir": "",  # a variant's checkpoints are the pilot's own, not the recipe's run's
        "final_eval_examples": 0,
        "eval_steps": steps,
        "save_steps": max(steps // 4, 1),
    }
    config = load_recipe(recipe, overrides)
    started = time.time()
    finetune.main(config, resume=(folder / variant.name / "run").is_dir())
    (folder / variant.name / "seconds.txt").write_text(f"{time.time() - started:.0f}\n")
    return out


def score(adapter: Path, records: list[Record], with_base: bool) -> dict[str, Scored]:
    """Body perplexity scores of the adapter (and of its base) on the records, per category."""
    models = load_models(adapter, None)
    examples = [e for e in (tokenize_example(models.tokenizer, r, Task.REVIEW, MAX_BODY_TOKENS) for r in records) if e]
    scores = {}
    for which in ("finetuned", "base") if with_base else ("finetuned",):
        scored = Scored()
        with models.use(which) as model:
            for example in examples:
                scored.add(body_nll(model, example.prompt_ids, example.body_ids), len(example.body_ids), example.group)
        scores[which] = scored
    return scores


def table(results: dict[str, Any]) -> str:
    """The pilot as a Markdown table: perplexity change against the base, overall and per category."""
    base = results["base"]
    lines = [
        "| variant | minutes | validation perplexity | change | mean category change | worst category (change) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, row in results["variants"].items():
        changes = {c: row["per_category"][c] / base["per_category"][c] - 1 for c in base["per_category"]}
        worst = max(changes, key=changes.get)
        mean = sum(changes.values()) / len(changes)
        lines.append(
            f"| {name} | {row['seconds'] / 60:.0f} | {row['perplexity']:.2f} | "
            f"{row['perplexity'] / base['perplexity'] - 1:+.1%} | {mean:+.1%} | {worst} ({changes[worst]:+.1%}) |"
        )
    return "\n".join([f"Base zero-shot: {base['perplexity']:.2f}.", "", *lines])


def main(config: PilotConfig) -> dict[str, Any]:
    """Train and score every variant; write the results as JSON and Markdown."""
    variants = [parse_variant(spec) for spec in config.variant]
    recipe = load_recipe(config.recipe)
    splits = load_and_prepare(recipe.data, recipe.prepare, report=lambda _: None)
    sample = stratified([r for r in splits.val if usable(r, Task.REVIEW)], config.per_category, recipe.seed)
    results: dict[str, Any] = {"steps": config.steps, "reviews": len(sample), "variants": {}}
    earlier = _read(config.out)
    if earlier.get("steps") == config.steps and earlier.get("reviews") == len(sample):
        results = earlier  # a pilot that goes on keeps the scores it has
    for variant in variants:
        if variant.name in results["variants"]:
            continue
        adapter = train_variant(config.recipe, variant, config.steps, config.folder)
        scores = score(adapter, sample, with_base="base" not in results)
        if "base" not in results:
            results["base"] = _summary(scores["base"])
        seconds = float((config.folder / variant.name / "seconds.txt").read_text())
        results["variants"][variant.name] = {**_summary(scores["finetuned"]), "seconds": seconds, **variant.overrides}
        _write(results, config.out)
    return results


def _summary(scored: Scored) -> dict[str, Any]:
    return {"perplexity": scored.perplexity, "per_category": scored.group_perplexity(), "tokens": scored.tokens}


def _read(out: Path) -> dict[str, Any]:
    path = out.with_suffix(".json")
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _write(results: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(table(results) + "\n", encoding="utf-8")


def build_parser() -> ConfigParser:
    """The command line: every PilotConfig field."""
    return ConfigParser(PilotConfig, prog="python -m train.pilot", description=__doc__.split("\n")[0])


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        print(table(main(*build_parser().parse(sys.argv[1:]))))
    except ValueError as error:
        sys.exit(f"error: {error}")
