"""A sweep's speed, and real sweeps to read: the review checkpoint over temperature and min-p.

The speed figure times one sweep (8 points x 8 seeds x 60 tokens by default) decoded as
shared batches, as the app runs it, against the same samples generated one at a time,
interleaved, in one process; both must give the same texts, or the figure would compare
different work. Then each sweep in --sweeps runs once and its figures are written out.
Writes benchmarks/results/sweep.md and .json (--out names them otherwise).

    python -m benchmarks.sweep [--repeats 3] [--seeds 8] [--tokens 60]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from autowrite import decode
from autowrite.catalog import load_catalog
from autowrite.formats import Task
from autowrite.report import Asked
from autowrite.service import Request, Service, Variant
from autowrite.sweep import Point, Sweep, plotted, point
from autowrite.ui.sweep_plot import figure_cell, plot_svg

RESULTS = Path(__file__).parent / "results"
SWEEPS = ("temperature:0.2:1.6:8", "min_p:0:0.3:7")
RATING, CATEGORY = 1, "Home and Kitchen"


class BenchmarkError(RuntimeError):
    """The sweep and the samples one at a time disagree: the figure would describe another path."""


def review_model(service: Service) -> str:
    return next(name for name, e in service.entries.items() if e.adapter and e.task is Task.REVIEW)


def run_sweep(service: Service, model: str, swept: Sweep, seeds: int, tokens: int) -> list[Point]:
    """One sweep on the review checkpoint's card settings, as the page runs it; its points."""
    request = Request(model=model, task=Task.REVIEW, text="", rating=RATING, category=CATEGORY)
    base = Variant(model, service.entry(model).defaults.replace(max_new_tokens=tokens, seed=42))
    samples = decode.last(service.sweep(request, base, swept, seeds)).samples
    probe, asked = service.probe(model), Asked(Task.REVIEW, RATING, CATEGORY)
    settings = swept.settings(base.settings)
    return [
        point(value, chosen, samples[i * seeds : (i + 1) * seeds], asked, probe)
        for i, (value, chosen) in enumerate(zip(swept.values(), settings, strict=True))
    ]


def speed(service: Service, model: str, seeds: int, tokens: int, repeats: int, guidance: float | None) -> dict:
    """The first sweep in shared batches against its samples one at a time, interleaved; medians and ratio.

    guidance: the rating guidance to time with (None: the card's; a guided text decodes two sequences).
    """
    swept = Sweep.parse(SWEEPS[0])
    request = Request(model=model, task=Task.REVIEW, text="", rating=RATING, category=CATEGORY)
    card = service.entry(model).defaults
    chosen = card.rating_guidance if guidance is None else guidance
    base = Variant(model, card.replace(max_new_tokens=tokens, seed=42, rating_guidance=chosen))
    shared, alone = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        together = decode.last(service.sweep(request, base, swept, seeds)).texts
        shared.append(time.perf_counter() - start)
        start = time.perf_counter()
        one_by_one = [
            service.generate(request, settings.replace(seed=42 + k)).texts[0]
            for settings in swept.settings(base.settings)
            for k in range(seeds)
        ]
        alone.append(time.perf_counter() - start)
        if together != one_by_one:
            raise BenchmarkError("the sweep's samples differ from the same samples generated one at a time")
    return {
        "sweep": swept.text(), "seeds": seeds, "tokens_each": tokens, "samples": len(swept.values()) * seeds,
        "shared_batches_s": statistics.median(shared), "one_at_a_time_s": statistics.median(alone),
        "ratio": statistics.median(alone) / statistics.median(shared), "repeats": repeats, "rating_guidance": chosen,
    }  # fmt: skip


def rows(points: list[Point]) -> dict:
    return {f"{p.value:g}": {f.label: [p.figures[f.key], p.bands[f.key]] for f in plotted(points)} for p in points}


def markdown(model: str, timing: dict, sweeps: dict[str, list[Point]], command: str) -> str:
    lines = [
        "# Sweeps",
        "",
        f"`{command}` on {model}: its card's settings, {RATING}-star {CATEGORY} reviews, seed 42 on.",
    ]
    lines += _speed(timing) if timing else ["", "(Speed not measured: --repeats 0.)"]
    for text, points in sweeps.items():
        figures = plotted(points)
        lines += ["", f"## {text}", "", "Each figure with its 95% band over the seeds (jackknife).", ""]
        lines += ["| value | " + " | ".join(f.label for f in figures) + " |", "|---:" + "|---" * len(figures) + "|"]
        for p in points:
            cells = " | ".join(figure_cell(p.figures[f.key], p.bands[f.key]) for f in figures)
            lines.append(f"| {p.value:g} | {cells} |")
    return "\n".join(lines) + "\n"


def _speed(timing: dict) -> list[str]:
    return [
        "", "## Speed", "",
        f"{timing['sweep']}, {timing['seeds']} seeds, {timing['tokens_each']} tokens each ({timing['samples']} "
        f"samples), rating guidance {timing.get('rating_guidance', 2):g} (a guided text decodes two sequences), "
        f"medians of {timing['repeats']}, interleaved, same texts:", "",
        "| how | seconds |", "|---|---:|",
        f"| one sweep, shared batches | {timing['shared_batches_s']:.1f} |",
        f"| the same samples one at a time | {timing['one_at_a_time_s']:.1f} |",
        f"| ratio | {timing['ratio']:.2f}x |",
    ]  # fmt: skip


def main(arguments: argparse.Namespace) -> str:
    service = Service(load_catalog(), read_hub_cards=False)
    model = review_model(service)
    timing = (
        speed(service, model, arguments.seeds, arguments.tokens, arguments.repeats, arguments.guidance)
        if arguments.repeats
        else {}
    )
    print(json.dumps(timing), flush=True)
    sweeps = {text: run_sweep(service, model, Sweep.parse(text), arguments.seeds, arguments.tokens) for text in SWEEPS}
    command = f"python -m benchmarks.sweep --repeats {arguments.repeats} --seeds {arguments.seeds} " \
              f"--tokens {arguments.tokens}" + (f" --guidance {arguments.guidance:g}" if arguments.guidance else "") \
              + (f" --out {arguments.out}" if arguments.out != "sweep" else "")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    data = {"model": model, "speed": timing, "sweeps": {t: rows(p) for t, p in sweeps.items()}}
    (RESULTS / f"{arguments.out}.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    text = markdown(model, timing, sweeps, command)
    (RESULTS / f"{arguments.out}.md").write_text(text, encoding="utf-8")
    if arguments.plots:  # the plots as the page draws them (docs/images/sweep.png is the first's)
        arguments.plots.mkdir(parents=True, exist_ok=True)
        for spec, points in sweeps.items():
            name = spec.split(":")[0]
            (arguments.plots / f"sweep_{name}.html").write_text(plot_svg(points, name), encoding="utf-8")
    return text


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed passes of each way (medians); 0: no timing")
    parser.add_argument("--seeds", type=int, default=8, help="seeds per point")
    parser.add_argument("--tokens", type=int, default=60, help="new tokens per sample")
    parser.add_argument("--plots", type=Path, default=None, help="a folder for each sweep's plot, as an HTML page")
    parser.add_argument("--guidance", type=float, default=None, help="time with this rating guidance (default: card's)")
    parser.add_argument("--out", default="sweep", help="the results' name under benchmarks/results")
    print(main(parser.parse_args()))
