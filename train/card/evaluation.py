"""The evaluation section of a model card: perplexity, copying, rating conditioning and samples as
Markdown, rendered from the results train.evaluate returns as data."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


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
