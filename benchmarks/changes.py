"""What each fine-tune changed on real texts it trained on, texts it never saw, and another domain.

For each of this project's checkpoints, texts from its own training split (held in), its
test split (unseen), and for reviews a category it never trained on, are scored under the
checkpoint and its base (autowrite.changes). Writes benchmarks/results/changes.md.

    python -m benchmarks.changes [--texts 12]
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict
from pathlib import Path

from autowrite.catalog import load_catalog
from autowrite.changes import Changes, words
from autowrite.formats import Task
from autowrite.service import Request, Service
from train.prepare import PrepareConfig, load_and_prepare
from train.readers import Record, read_files
from train.recipe import read_training_config

RESULTS = Path(__file__).parent / "results"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# A domain the first review writer never trained on. A writer whose recipe reads this file
# trained on it, so its gift cards are labelled as such, not as another domain.
OTHER_DOMAIN = SHARED / "reviews" / "gift_cards_2018" / "Gift_Cards_5.json.gz"
MAX_CHARS = 600  # each text's start: enough words to see the change, and minutes not hours for the run


def _entries(root: Path, data: list) -> list:
    """A recipe's data entries as paths: a file, or a list of files split together."""
    return [[(root / p).resolve() for p in e] if isinstance(e, list) else (root / e).resolve() for e in data]


def _flat(entries: list) -> list[Path]:
    """Every file the entries name."""
    return [p for e in entries for p in (e if isinstance(e, list) else [e])]


def groups(entry_folder: Path, task: Task, count: int) -> dict[str, list[Record]]:
    """Held-in and unseen texts from the checkpoint's own recipe; for reviews, another domain too."""
    config = read_training_config(entry_folder)
    root = Path(__file__).resolve().parents[1]
    paths = _entries(root, config["data"])
    splits = load_and_prepare(paths, PrepareConfig(**config["prepare"]), report=lambda _: None)
    found = {"held in (training split)": splits.train[:count], "unseen (test split)": splits.test[:count]}
    if task is Task.REVIEW:
        records, _ = read_files([OTHER_DOMAIN])
        trained = OTHER_DOMAIN.resolve() in set(_flat(paths))
        label = "gift cards (in its training data)" if trained else "another domain (gift cards)"
        found[label] = [r for r in records if len(r.text) > 80][:count]
    return found


def score(service: Service, model: str, task: Task, records: list[Record]) -> list[Changes]:
    results = []
    for record in records:
        request = Request(
            model=model, task=task, text=record.text[:MAX_CHARS], rating=record.rating or 5,
            category=record.category or "Electronics", headline=record.headline,
        )  # fmt: skip
        results.append(service.changes(request)[1])
    return results


def summary(results: list[Changes]) -> dict:
    """Token-weighted perplexities, how many texts the fine-tune read better, and the words moved most."""
    tokens = [t for r in results for t in r.tokens]
    by_word: dict[str, list[float]] = defaultdict(list)
    for r in results:
        for word, change in words(r.tokens):
            if any(c.isalnum() for c in word):  # punctuation stands apart (autowrite.changes.words)
                by_word[word.lower()].append(change)
    common = {w: sum(c) / len(c) for w, c in by_word.items() if len(c) >= 3 and w}
    ranked = sorted(common.items(), key=lambda item: item[1])
    return {
        "texts": len(results),
        "tokens": len(tokens),
        "base": math.exp(-sum(t.base for t in tokens) / len(tokens)),
        "tuned": math.exp(-sum(t.tuned for t in tokens) / len(tokens)),
        "better": sum(r.tuned_perplexity < r.base_perplexity for r in results),
        "raised": [(w, c) for w, c in ranked[::-1] if c > 0][:6],
        "lowered": [(w, c) for w, c in ranked if c < 0][:6],
    }


def markdown(rows: list[tuple[str, str, dict]]) -> str:
    lines = [
        "# What the fine-tunes changed",
        "",
        f"`python -m benchmarks.changes`: each text's first {MAX_CHARS} characters, scored after the checkpoint's",
        "prompt for its own fields under the checkpoint and under its base (perplexity per token, all texts' tokens",
        "together). Words: mean change in log-probability (nats) over words seen at least 3 times.",
        "",
        "| checkpoint | texts | n | tokens | base ppl | fine-tuned ppl | fine-tuned lower on |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for model, group, s in rows:
        lines.append(
            f"| {model} | {group} | {s['texts']} | {s['tokens']} | {s['base']:.1f} | {s['tuned']:.1f} | "
            f"{s['better']}/{s['texts']} |"
        )
    lines.append("")
    for model, group, s in rows:
        raised = ", ".join(f"{w} {c:+.2f}" for w, c in s["raised"]) or "none"
        lowered = ", ".join(f"{w} {c:+.2f}" for w, c in s["lowered"]) or "none"
        lines.append(f"- {model}, {group}: likelier {raised}; less likely {lowered}.")
    return "\n".join(lines) + "\n"


def main(count: int) -> str:
    service = Service(load_catalog(), read_hub_cards=False)
    rows = []
    for entry in (e for e in service.entries.values() if e.adapter):
        for group, records in groups(entry.resolve(entry.adapter), entry.task, count).items():
            rows.append((entry.name, group, summary(score(service, entry.name, entry.task, records))))
            print(rows[-1][:2], f"{rows[-1][2]['base']:.1f} -> {rows[-1][2]['tuned']:.1f}", flush=True)
    text = markdown(rows)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "changes.md").write_text(text, encoding="utf-8")
    return text


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=12, help="texts per group")
    print(main(parser.parse_args().texts))
