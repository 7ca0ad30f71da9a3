"""The sweep endpoint: compare's parameters, column 1 stepped over one setting, every point over the same seeds."""

from __future__ import annotations

from collections.abc import Iterator

import gradio as gr

from autowrite import inputs
from autowrite.report import Asked
from autowrite.service import Service
from autowrite.sweep import MAX_SEEDS, SEEDS, Point, Sweep, plotted
from autowrite.ui import lanes
from autowrite.ui.api import Category, asked_columns, published
from autowrite.ui.calls import paced
from autowrite.ui.common import RequestFields
from autowrite.ui.sweep import Run


def sweep(
    service: Service,
    caller: str,
    prompt: str | None = None,
    model: str | None = None,
    presets: list[str] | None = None,
    seed: int | None = None,
    max_new_tokens: int | None = None,
    mode: str | None = None,
    rating: int | None = None,
    category: Category | None = None,
    headline: str | None = None,
    columns: list[dict] | None = None,
    sweep: str | None = None,
    seeds: int | None = None,
    headline_chars: int | None = None,
) -> Iterator[list[dict]]:
    """Column 1 (its preset, and its own settings in columns[0]) with one setting stepped: sweep="temperature:0.2:1.6:8".

    The parameters before sweep are compare's, checked the same way; the other columns are
    ignored. Each point is written over `seeds` seeds (default 8; points x seeds at most 128)
    and has the setting's value, its settings, the report card's figures over its samples
    (distinct_2, repetition, fit, read_as_asked for reviews, ended, within_headline for ads),
    each figure's 95% band over the seeds, and its samples with their seeds and notes.
    Messages before the last are empty lists while the samples are written.
    """
    fields = RequestFields(model, mode, rating, category, headline)
    request, _, variants = asked_columns(service, caller, prompt, fields, presets, columns, seed, max_new_tokens)
    swept = Sweep.parse(sweep if sweep is not None else "")
    count = inputs.parse_whole("seeds", seeds, 1, MAX_SEEDS, SEEDS)
    base = variants[0]
    goal = Asked(request.task, request.rating, request.category, inputs.parse_headline_chars(headline_chars))
    outputs = service.sweep(request, base, swept, count)
    samples = []
    for output in paced(outputs):
        samples = output.samples
        yield []
    run = Run(swept, base.model, count, goal, service.probe(base.model), base.settings)
    yield [_answer(p, base.settings.seed) for p in run.points(samples, part_way=False)]


def _answer(at: Point, seed: int) -> dict:
    """A point as the API returns it."""
    keys = [f.key for f in plotted([at])]
    return {
        "value": at.value, "settings": at.settings.as_dict(),
        "figures": {key: at.figures[key] for key in keys}, "bands": {key: at.bands[key] for key in keys},
        "samples": [{"text": s.text, "seed": (seed + k) % 2**31, "note": n}
                    for s, n, k in zip(at.samples, at.notes, at.offsets, strict=True)],
    }  # fmt: skip


def register(service: Service) -> None:
    """Add the endpoint to the Blocks being built."""
    gr.api(published(sweep, service), api_name="sweep", **lanes.GENERATE)
