"""Sweep a setting, under the report card: column 1's settings with one setting stepped over a range.

Every point is written over the same seeds, the points' samples decoding together, and each
report figure is plotted against the setting with its band over the seeds. Clicking a
point (or its row of the table) lists its samples.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import gradio as gr

from autowrite import inputs
from autowrite.backends.base import Sample
from autowrite.probe import ToneProbe
from autowrite.report import Asked, finished
from autowrite.service import Output, Service, UserError
from autowrite.settings import BOUNDS, SamplingSettings, SettingsError
from autowrite.sweep import MAX_POINTS, MAX_SEEDS, SEEDS, SWEEPABLE, Point, Sweep, point
from autowrite.ui import lanes
from autowrite.ui.calls import caller_of, named, paced
from autowrite.ui.common import Common, RequestFields, page_error
from autowrite.ui.compare import CompareValues, CompareWidgets, column_variants
from autowrite.ui.sweep_plot import plot_svg, samples_markdown, table_rows

# Where each setting's sweep starts and ends when it is picked: the range people try.
RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0.2, 1.6), "top_k": (5, 100), "top_p": (0.5, 1.0), "min_p": (0.0, 0.3),
    "repetition_penalty": (1.0, 1.6), "no_repeat_ngram_size": (0, 6), "rating_guidance": (1.0, 3.0),
}  # fmt: skip
# Why a new plot every 2 s at most: Stop closes the sweep at a yield, so what finished must be
# on the page by then, and each partial redraws the whole SVG and table.
PARTIAL_S = 2.0


@dataclass
class Drawn:
    """A sweep on the page: its points and first seed (a clicked point's samples), and for its link, what ran."""

    setting: str
    points: list[Point]
    seed: int
    spec: str  # SETTING:LOW:HIGH:POINTS
    seeds: int


@dataclass
class SweepWidgets:
    """The sweep's controls and results; setting, low, high, points and seeds also go into share links."""

    setting: gr.Dropdown
    low: gr.Number
    high: gr.Number
    points: gr.Slider
    seeds: gr.Slider
    run: gr.Button
    stop: gr.Button
    status: gr.Markdown
    plot: gr.HTML
    table: gr.Dataframe
    samples: gr.Markdown
    click: gr.Textbox  # assets/sweep.js writes a clicked point's number here, then clicks go
    go: gr.Button
    drawn: gr.State  # the sweep shown (Drawn)
    running: gr.State  # (done, total) while a sweep runs, for the line Stop writes
    autorun: gr.Number  # 1 when a link asks to run its sweep on opening (the page's script reads it)

    def named(self) -> dict:
        """The widgets a link fills in, by name (restore())."""
        return {"sweep_setting": self.setting, "sweep_low": self.low, "sweep_high": self.high,
                "sweep_points": self.points, "sweep_seeds": self.seeds, "sweep_autorun": self.autorun}  # fmt: skip

    def results(self) -> dict:
        names = ("status", "plot", "table", "samples", "drawn", "running")
        return {name: getattr(self, name) for name in names}


@dataclass
class Run:
    """A sweep being written: its points' settings, and how to read its samples so far."""

    swept: Sweep
    model: str
    seeds: int
    goal: Asked
    probe: ToneProbe | None
    base: SamplingSettings  # column 1's settings, which every point starts from

    def points(self, samples: list[Sample], part_way: bool) -> list[Point]:
        """Each point over its samples finished so far (all of them at the end)."""
        values, settings = self.swept.values(), self.swept.settings(self.base)
        limit = settings[0].max_new_tokens
        drawn = []
        for i, (value, chosen) in enumerate(zip(values, settings, strict=True)):
            mine = samples[i * self.seeds : (i + 1) * self.seeds]
            kept = [k for k, s in enumerate(mine) if not part_way or finished(s, limit)]
            drawn.append(point(value, chosen, [mine[k] for k in kept], self.goal, self.probe, kept))
        return drawn


def sweep_stream(
    service: Service,
    compared: CompareValues,
    fields: RequestFields,
    setting: str,
    low: float,
    high: float,
    points: int,
    seeds: int,
    headline_chars: int,
    progress: gr.Progress = gr.Progress(),  # noqa: B008 - Gradio finds the progress bar by this default
    request: gr.Request = None,
) -> Iterator[dict]:
    """Run every point over the seeds: the plot and table so far every PARTIAL_S, and the whole at the end."""
    try:
        run, outputs = _start(service, compared, fields, (setting, low, high, points), seeds, headline_chars, request)
        total = len(run.swept.values()) * run.seeds
        desc = f"{len(run.swept.values())} points x {run.seeds} seeds"
        progress(0, desc=desc)
        samples, shown = [], time.monotonic()
        for output in paced(outputs):
            samples = output.samples
            progress(min(1.0, sum(s.tokens for s in samples) / (total * run.base.max_new_tokens)), desc=desc)
            if time.monotonic() - shown >= PARTIAL_S:
                shown = time.monotonic()
                yield _shown(run, run.points(samples, part_way=True), total, done=False)
    except (UserError, SettingsError) as error:
        raise page_error(error) from None
    yield _shown(run, run.points(samples, part_way=False), total, done=True)


def _start(
    service: Service,
    compared: CompareValues,
    fields: RequestFields,
    spec: tuple[object, object, object, object],
    seeds: int,
    headline_chars: int,
    request: gr.Request | None,
) -> tuple[Run, Iterator[Output]]:
    """The sweep asked, checked, and the stream of its samples (point by point, seed by seed)."""
    asked = fields.parse(service, compared.prompt, caller=caller_of(request))
    swept = parse_sweep(*spec)
    count = inputs.parse_seeds(seeds)
    swept.check_size(count)
    base = column_variants(service, asked.model, compared)[0]
    goal = Asked(asked.task, asked.rating, asked.category, inputs.parse_headline_chars(headline_chars))
    outputs = service.sweep(asked, base, swept, count)
    return Run(swept, base.model, count, goal, service.probe(base.model), base.settings), outputs


def parse_sweep(setting: object, low: object, high: object, points: object) -> Sweep:
    """A sweep from the page's widgets (or an API call's values); a bad one raises, named."""
    return Sweep.parse(f"{setting}:{low}:{high}:{points}")


def _shown(run: Run, points: list[Point], total: int, done: bool) -> dict:
    """The plot, table and status line over the points so far; at the end, the first point's samples."""
    written = sum(len(p.samples) for p in points)
    headers, rows = table_rows(points)
    drawn = Drawn(run.swept.setting, points, run.base.seed, run.swept.text(), run.seeds)
    line = (
        f"{written} samples: {len(points)} points x {run.seeds} seeds of {run.swept.setting}. "
        "Click a point or a row to read its samples."
        if done
        else f"Running: {written} of {total} samples written."
    )
    shown = {
        "status": line, "plot": plot_svg(points, run.swept.setting) if written else "",
        "table": gr.update(value=rows, headers=headers), "drawn": drawn, "running": None if done else (written, total),
    }  # fmt: skip
    return {**shown, "samples": samples_markdown(points, 0, run.swept.setting, run.base.seed)} if done else shown


def stopped(running: tuple[int, int] | None) -> tuple:
    """The status line when Stop ends a running sweep; no sweep runs then."""
    if running is None:
        return gr.skip(), None
    done, total = running
    return f"Stopped after {done} of {total} samples; the plot shows the figures over those.", None


def clicked_point(drawn: Drawn | None, index: object) -> str:
    """A clicked point's samples (assets/sweep.js sends its number)."""
    if drawn is None:
        return ""
    try:
        number = int(str(index).strip())
    except ValueError:
        return ""
    return samples_markdown(drawn.points, number, drawn.setting, drawn.seed)


def _row_clicked(drawn: Drawn | None, event: gr.SelectData) -> str:
    row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
    return clicked_point(drawn, row)


def picked(setting: str) -> tuple:
    """The range a newly picked setting sweeps by default."""
    bound = BOUNDS.get(setting)
    if bound is None:
        return gr.skip(), gr.skip()
    low, high = RANGES.get(setting, (bound.low, bound.high))
    return low, high


def build(service: Service, common: Common, compared: CompareWidgets, headline_chars: gr.Number) -> SweepWidgets:
    """The sweep's controls and results under the report card, and their events."""
    gr.Markdown(
        "## Sweep a setting\nOne setting at a time, stepped over a range: column 1's model and settings at "
        "every point, each point over the same seeds. Each line is a report figure, its shaded band how "
        "much the seeds move it. A sweep samples (greedy has no seeds to spread over)."
    )
    widgets = _widgets()
    event = widgets.run.click(
        **named(sweep_stream, service, compared=compared.values, fields=common.fields, setting=widgets.setting,
                low=widgets.low, high=widgets.high, points=widgets.points, seeds=widgets.seeds,
                headline_chars=headline_chars, outputs=widgets.results()),
        api_visibility="private", show_progress="full", show_progress_on=[widgets.status], **lanes.GENERATE,
    )  # fmt: skip
    widgets.stop.click(
        stopped, widgets.running, [widgets.status, widgets.running], cancels=[event], api_visibility="private",
        queue=False,
    )  # fmt: skip
    quiet = dict(api_visibility="private", queue=False)
    widgets.setting.input(picked, widgets.setting, [widgets.low, widgets.high], **quiet)
    widgets.go.click(clicked_point, [widgets.drawn, widgets.click], widgets.samples, **quiet)
    widgets.table.select(_row_clicked, widgets.drawn, widgets.samples, **quiet)
    return widgets


def _widgets() -> SweepWidgets:
    low, high = RANGES["temperature"]
    with gr.Row(equal_height=True):
        setting = gr.Dropdown(list(SWEEPABLE), value="temperature", label="Setting", elem_id="sweep-setting")
        low_ = gr.Number(low, label="From", elem_id="sweep-low")
        high_ = gr.Number(high, label="To", elem_id="sweep-high")
        points = gr.Slider(2, MAX_POINTS, value=8, step=1, label="Points", elem_id="sweep-points")
        seeds = gr.Slider(1, MAX_SEEDS, value=SEEDS, step=1, label="Seeds per point", elem_id="sweep-seeds")
    with gr.Row():
        run = gr.Button("Run the sweep", variant="primary", elem_id="sweep-run")
        stop = gr.Button("Stop", elem_id="sweep-stop")
    status = gr.Markdown(elem_id="sweep-status")
    plot = gr.HTML(elem_id="sweep-plot")
    table = gr.Dataframe(interactive=False, wrap=True, elem_id="sweep-table")
    samples = gr.Markdown(elem_id="sweep-samples")
    click = gr.Textbox(visible="hidden", elem_id="sweep-click")
    go = gr.Button("Show point", visible="hidden", elem_id="sweep-go")
    return SweepWidgets(
        setting, low_, high_, points, seeds, run, stop, status, plot, table, samples, click, go, gr.State(None),
        gr.State(None), gr.Number(0, visible="hidden", elem_id="sweep-autorun"),
    )  # fmt: skip
