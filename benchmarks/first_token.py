"""How soon a new arena pair shows its first words, against a generation's, in one process.

Each round asks, on the same prompt and length, for one generation (the model card's
settings) and one arena pair restricted to the same model (two of its presets, written
together in one batch), in turns, so both meet the same machine. The figure is the time
from the call to the first output with text, median over --rounds, and their ratio.
Writes benchmarks/results/first_token.md and .json.

    python -m benchmarks.first_token [--rounds 9]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from autowrite.arena.contenders import Restriction
from autowrite.arena.pairs import Arena, Asked
from autowrite.arena.prompts import Prompt
from autowrite.arena.votes import Store
from autowrite.catalog import load_catalog
from autowrite.formats import Task
from autowrite.service import Request, Service

RESULTS = Path(__file__).parent / "results"
PROMPT = Prompt(Task.REVIEW, "", rating=4, category="Pet Supplies", headline="My cats love it")
TOKENS = 60


class BenchmarkError(RuntimeError):
    """A call wrote no text: a time to it would describe a broken path."""


def first_text(outputs: Iterator, texts_of) -> float:
    """Seconds from now until the first output with text; the rest is drained (closed) after."""
    start = time.perf_counter()
    try:
        for output in outputs:
            if any(t.strip() for t in texts_of(output)):
                return time.perf_counter() - start
    finally:
        getattr(outputs, "close", lambda: None)()
    raise BenchmarkError("the call ended with no text")


def rounds(service: Service, arena: Arena, model: str, count: int) -> dict[str, list[float]]:
    timed: dict[str, list[float]] = {"generate": [], "arena pair": []}
    request = Request(model, PROMPT.task, PROMPT.text, PROMPT.rating, PROMPT.category, PROMPT.headline)
    settings = service.entry(model).defaults.replace(max_new_tokens=TOKENS)
    asked = Asked(Restriction(model=model), PROMPT, TOKENS)
    for k in range(count):
        generated = service.stream(request, settings.replace(seed=k))
        timed["generate"].append(first_text(generated, lambda o: o.texts))
        _, written = arena.pair(asked, caller="benchmark")
        timed["arena pair"].append(first_text(written, lambda w: w.texts))
    return timed


def main(count: int) -> str:
    service = Service(load_catalog(), read_hub_cards=False)
    model = next(name for name, e in service.entries.items() if e.adapter and e.task is Task.REVIEW)
    with tempfile.TemporaryDirectory() as folder:
        arena = Arena(service, Store(f"sqlite:///{folder}/votes.db"))
        rounds(service, arena, model, 1)  # loads the model and warms both paths
        timed = rounds(service, arena, model, count)
    medians = {name: statistics.median(values) * 1000 for name, values in timed.items()}
    data = {"model": model, "rounds": count, "tokens": TOKENS, "median_ms": medians,
            "ratio": medians["arena pair"] / medians["generate"], "runs_ms": {
                name: [round(v * 1000, 1) for v in values] for name, values in timed.items()}}  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "first_token.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    text = "\n".join([
        "# First words: an arena pair against a generation", "",
        f"`python -m benchmarks.first_token --rounds {count}` on {model}, a 4-star Pet Supplies review, "
        f"{TOKENS} tokens; in turns, one process; ms from the call to the first output with text.", "",
        "| call | median ms | runs ms |", "|---|---:|---|",
        *[f"| {n} | {medians[n]:.0f} | {', '.join(f'{v:.0f}' for v in data['runs_ms'][n])} |" for n in timed],
        f"| ratio, arena pair / generate | {data['ratio']:.2f}x | |",
    ]) + "\n"  # fmt: skip
    (RESULTS / "first_token.md").write_text(text, encoding="utf-8")
    return text


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="timed rounds of each call (medians)")
    print(main(parser.parse_args().rounds))
