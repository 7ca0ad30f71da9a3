"""A checkpoint's card on disk: README.md written and rendered again from the saved recipe and run
stats, and its evaluation section read and replaced."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from train.card.evaluation import render_evaluation
from train.card.stats import TrainStats
from train.card.text import EVAL_END, EVAL_START, NOT_EVALUATED, render
from train.cli import ConfigParser, load_recipe
from train.recipe import TRAINING_CONFIG, CardFolders, FinetuneConfig

STATS_FILE = "training_stats.json"  # the run's numbers and command, so the card can be rendered again


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


def build_parser() -> ConfigParser:
    """The command line: checkpoint folders whose cards to render again."""
    return ConfigParser(
        CardFolders,
        prog="python -m train.card",
        description="Render checkpoint cards again from their saved recipe and run stats, keeping their evaluation.",
    )
