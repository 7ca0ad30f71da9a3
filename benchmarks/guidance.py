"""Rating guidance measured: how often reviews read as the stars asked, and what it costs.

For each guidance scale (and contrast), the review checkpoint writes SEEDS reviews for each
star rating in each of five categories from its card's settings; the checkpoint's tone
probe reads them. Writes benchmarks/results/guidance.md and .json.

    python -m benchmarks.guidance [--seeds 8] [--runs 'g=1 (off)' 'g=2, opposite' ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from unittest import mock

from autowrite import service as service_module
from autowrite.catalog import load_catalog
from autowrite.decode import last
from autowrite.formats import Task
from autowrite.report import as_asked, distinct, reads_positive, report_words
from autowrite.service import Request, Service, Variant

RESULTS = Path(__file__).parent / "results"
TOKENS = 60
# label: (scale, the stars each rating steers away from)
OPPOSITE = {1: 5, 2: 5, 4: 1, 5: 1}
NEUTRAL = {1: 3, 2: 3, 4: 3, 5: 3}
RUNS = {
    "g=1 (off)": (1.0, OPPOSITE),
    "g=1.5, opposite": (1.5, OPPOSITE),
    "g=2, opposite": (2.0, OPPOSITE),
    "g=2.5, opposite": (2.5, OPPOSITE),
    "g=3, opposite": (3.0, OPPOSITE),
    "g=2, neutral 3": (2.0, NEUTRAL),
}
SHORT_WORDS = 10
# The categories benchmarks/results/guidance.md was measured on, named rather than taken
# from formats.CATEGORIES, whose order and length follow the data.
CATEGORIES = ("Books", "Digital Music", "Electronics", "Gift Cards", "Home and Kitchen")


def samples_for(service: Service, model: str, scale: float, contrast: dict, seeds: int) -> dict[int, list]:
    """Each rating's (text, category, sample) over every category and seed."""
    base = service.entry(model).defaults.replace(max_new_tokens=TOKENS, rating_guidance=scale)
    written: dict[int, list] = {rating: [] for rating in range(1, 6)}
    with mock.patch.object(service_module, "contrast_rating", contrast.get):
        for rating in written:
            for category in CATEGORIES:
                request = Request(model=model, task=Task.REVIEW, rating=rating, category=category)
                _, outputs = service.report(request, [Variant(model, base.replace(seed=0))], seeds)
                for sample in last(outputs).samples:
                    written[rating].append((sample.text, category, sample))
    return written


def figures(service: Service, model: str, written: dict[int, list]) -> dict:
    probe = service.probe(model)
    positive = {r: [reads_positive(probe, text, c) for text, c, _ in rows] for r, rows in written.items()}
    ends = [(positive[r][i], r) for r in (1, 5) for i in range(len(written[r]))]
    every = [row for rows in written.values() for row in rows]
    lengths = [len(report_words(text)) for text, _, _ in every]
    tokens = sum(sample.tokens for _, _, sample in every)
    return {
        "read_as_asked_1_and_5": statistics.mean(bool(as_asked(p, r)) for p, r in ends),
        "read_as_asked_1": statistics.mean(bool(as_asked(p, 1)) for p in positive[1]),
        "read_as_asked_5": statistics.mean(bool(as_asked(p, 5)) for p in positive[5]),
        "mean_positive": {r: statistics.mean(values) for r, values in positive.items()},
        "mean_words": statistics.mean(lengths),
        "under_10_words": statistics.mean(n < SHORT_WORDS for n in lengths),
        "fluency_logprob_per_token": sum(sample.logprob for _, _, sample in every) / tokens,
        "distinct_2": distinct([text for text, _, _ in every], 2),
        "samples": len(every),
    }


def markdown(rows: dict[str, dict], seeds: int, model: str, runs: list[str], out: str = "guidance") -> str:
    command = f"python -m benchmarks.guidance --seeds {seeds} --out {out} --runs " + " ".join(f"'{r}'" for r in runs)
    lines = [
        "# Rating guidance",
        "",
        f"`{command}`: {model}, its card's settings, {TOKENS} tokens, "
        f"{seeds} seeds x 5 categories per rating; read by the checkpoint's tone probe. Fluency: mean "
        "log-probability per token of the samples under the unguided checkpoint. At 3 stars no run guides. "
        "Speed: `python -m benchmarks.run` (guided against unguided, side by side).",
        "",
        "| run | read as asked (1 and 5) | at 1 | at 5 | P(positive) 1/2/3/4/5 | mean words | under 10 words "
        "| fluency | distinct-2 |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for label, f in rows.items():
        positive = " / ".join(f"{f['mean_positive'][str(r)]:.2f}" for r in range(1, 6))
        lines.append(
            f"| {label} | {f['read_as_asked_1_and_5']:.0%} | {f['read_as_asked_1']:.0%} | {f['read_as_asked_5']:.0%} "
            f"| {positive} | {f['mean_words']:.1f} | {f['under_10_words']:.0%} | {f['fluency_logprob_per_token']:.3f} "
            f"| {f['distinct_2']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(seeds: int, runs: list[str], out: str) -> str:
    service = Service(load_catalog(), read_hub_cards=False)
    model = next(name for name, e in service.entries.items() if e.adapter and e.task is Task.REVIEW)
    rows = {}
    for label in runs:
        scale, contrast = RUNS[label]
        start = time.perf_counter()
        rows[label] = figures(service, model, samples_for(service, model, scale, contrast, seeds))
        rows[label]["seconds"] = time.perf_counter() - start
        print(label, json.dumps(rows[label]), flush=True)
    rows = json.loads(json.dumps(rows))  # the stars as keys in the file's form, "1" to "5"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{out}.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    text = markdown(rows, seeds, model, runs, out)
    (RESULTS / f"{out}.md").write_text(text, encoding="utf-8")
    return text


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8, help="seeds per rating and category")
    parser.add_argument("--runs", nargs="+", choices=list(RUNS), default=list(RUNS))
    parser.add_argument("--out", default="guidance", help="results file name under benchmarks/results")
    arguments = parser.parse_args()
    print(main(arguments.seeds, arguments.runs, arguments.out))
