"""The report card under the compare tab: every column over the same N seeds, measured side by side."""

from __future__ import annotations

import html
import time
from collections.abc import Iterator
from dataclasses import dataclass

import gradio as gr
from gradio.blocks import Block

# Figure, not pyplot: no global state, so requests can draw at once from several threads.
from matplotlib.figure import Figure

from autowrite import inputs
from autowrite.backends.base import Sample
from autowrite.formats import Task
from autowrite.report import HEADLINE_CHARS, Asked, ColumnReport, report_columns, report_words
from autowrite.service import MAX_COLUMNS, MAX_REPORT_SEEDS, Output, Service, UserError, Variant
from autowrite.settings import SettingsError
from autowrite.ui import lanes
from autowrite.ui.calls import caller_of, named, paced
from autowrite.ui.common import Common, RequestFields, as_text, page_error
from autowrite.ui.compare import CompareValues, CompareWidgets, column_variants

# The columns before the figures: which column, its model and preset, and how many of its
# seeds the figures cover.
LEADING = ["#", "model", "preset", "seeds"]
# Why fixed widths: left to itself the table gives a long model name most of the row and wraps
# the figures' headers mid-word; these keep it within a 1280 px page for every task.
LEADING_WIDTHS = ["4%", "20%", "12%", "7%"]
# Why a status line and partial tables every PARTIAL_S: Stop closes the report at a yield and a
# closed generator cannot yield again, so what finished must already be on the page by then.
PARTIAL_S = 1.0


@dataclass(frozen=True)
class Measure:
    """A figure column of the table: its short header, its ColumnReport field and what it means."""

    header: str
    key: str
    meaning: str
    tasks: tuple[Task, ...] = tuple(Task)  # the tasks it applies to; the table shows only those
    digits: int = 2
    plotted: bool = True  # a share from 0 to 1, so the plot's one axis holds it


MEASURES = (
    Measure("distinct-1", "distinct_1", "distinct words over all words: higher is more varied"),
    Measure("distinct-2", "distinct_2", "distinct word pairs over all pairs, across the column's samples"),
    Measure("repeats", "repetition", "share of each sample's 4-word runs that already came earlier in it"),
    Measure("fit", "fit", "mean log-probability per token under the column's own model: higher is more expected",
            plotted=False),
    Measure("words", "words", "mean words per sample", digits=1, plotted=False),
    Measure("ended", "ended", "share of samples the model ended itself, before the length limit"),
    Measure("as asked", "read_as_asked", "share the checkpoint's tone probe reads as the stars asked "
            "(1-2 stars negative, 4-5 positive)", (Task.REVIEW,)),
    Measure("P(pos.)", "positive", "the tone probe's mean probability that a sample reads positive", (Task.REVIEW,),
            plotted=False),
    Measure("in limit", "within_headline", "share of ads within the ad length limit", (Task.AD,)),
)  # fmt: skip


@dataclass
class ReportWidgets:
    """The report's controls and results; seeds and headline_chars also go into share links."""

    seeds: gr.Slider
    headline_chars: gr.Number
    run: gr.Button
    stop: gr.Button
    status: gr.Markdown  # running: N of M samples; stopped after N of M
    table: gr.Dataframe
    legend: gr.Markdown  # what each of the table's figures means
    plot: gr.Plot
    samples: gr.Markdown
    reports: gr.State  # the report shown (Shown), for showing a clicked row's samples
    ran: gr.State  # the seeds of the report shown (0: none), for the share link
    running: gr.State  # (done, total) while a report runs, for the line Stop writes; None when none runs

    def results(self) -> dict[str, Block]:
        """What report_stream fills besides the column boxes, by output name."""
        names = ("table", "legend", "plot", "samples", "reports", "ran", "status", "running")
        return {name: getattr(self, name) for name in names}


@dataclass
class Shown:
    """A report on the page: its columns and the seed of each column's first sample."""

    reports: list[ColumnReport]
    seed: int


def figures_for(task: Task) -> list[Measure]:
    """The figures that apply to a task, in the table's order."""
    return [f for f in MEASURES if task in f.tasks]


def figure(value: float | None, digits: int = 2) -> str:
    """A figure for the table; "-" where it does not apply."""
    return "-" if value is None else f"{value:.{digits}f}"


def table_rows(reports: list[ColumnReport], task: Task, seeds: int) -> list[list[str]]:
    """One row per column: LEADING, then the task's figures; a column that could not write says why."""
    shown = figures_for(task)
    rows = []
    for r in reports:
        done = str(seeds) if len(r.samples) == seeds else f"{len(r.samples)} of {seeds}"
        if r.error:
            cells = [f"could not write: {r.error}", *["-"] * (len(shown) - 1)]
        elif not r.samples:  # part-way, none of its seeds finished yet
            cells = ["-"] * len(shown)
        else:
            cells = [figure(getattr(r, f.key), f.digits) for f in shown]
        rows.append([str(r.column), r.model, r.label, "0" if r.error else done, *cells])
    return rows


def table(reports: list[ColumnReport], task: Task, seeds: int):
    """The table for the task: its headers, column widths and rows."""
    return gr.update(
        value={"headers": headers(task), "data": table_rows(reports, task, seeds)}, column_widths=widths(task)
    )


def headers(task: Task) -> list[str]:
    """The table's headers for a task: LEADING, then the task's figures."""
    return LEADING + [f.header for f in figures_for(task)]


def widths(task: Task) -> list[str]:
    """Each column's width for a task: LEADING_WIDTHS, the rest shared by the figures."""
    used = sum(float(w.rstrip("%")) for w in LEADING_WIDTHS)
    figures = len(figures_for(task))
    return LEADING_WIDTHS + [f"{(100 - used) / figures:.1f}%"] * figures


def legend(task: Task) -> str:
    """One line per figure the table shows for the task: what it means."""
    return "\n".join(f"- **{f.header}**: {f.meaning}" for f in figures_for(task))


def plot(reports: list[ColumnReport]):
    """Grouped bars: each share-valued figure, one bar per column, where the columns differ."""
    shown = [r for r in reports if not r.error]
    plotted = [f for f in MEASURES if f.plotted and any(getattr(r, f.key) is not None for r in shown)]
    fig = Figure(figsize=(8, 3.2), dpi=100)
    ax = fig.subplots()
    width = 0.8 / max(1, len(shown))
    for i, r in enumerate(shown):
        values = [getattr(r, f.key) or 0.0 for f in plotted]
        ax.bar([j + i * width for j in range(len(plotted))], values, width, label=f"{r.column}: {r.label}")
    ax.set_xticks([j + width * (len(shown) - 1) / 2 for j in range(len(plotted))], [f.header for f in plotted])
    ax.set_ylim(0, 1)
    ax.set_ylabel("share")
    ax.legend(fontsize=8, ncols=min(4, max(1, len(shown))), loc="upper center", bbox_to_anchor=(0.5, -0.12))
    fig.tight_layout()
    return fig


def samples_view(shown: Shown | None, row: int) -> str:
    """A column's samples as Markdown, each shown as text, with its seed and note."""
    reports = shown.reports if shown else []
    if not 0 <= row < len(reports):
        return ""
    r = reports[row]
    if r.error:
        return f"**Column {r.column}** could not write: {as_text(r.error)}"
    lines = [f"**Column {r.column}** ({as_text(r.label)}, {as_text(r.model)}): {len(r.samples)} samples"]
    for k, (sample, note, offset) in enumerate(zip(r.samples, r.sample_notes, r.offsets, strict=True)):
        ending = "ended itself" if sample.ended else "hit the length limit"
        about = "; ".join(part for part in (f"seed {(shown.seed + offset) % 2**31}", as_text(note), ending) if part)
        lines.append(f"{k + 1}. {as_text(sample.text.strip()) or '(empty)'} <br>*{about}*")
    return "\n".join(lines)


@dataclass
class Run:
    """A report being written: what it asked, and how to read its samples so far."""

    variants: list[Variant]
    labels: list[tuple[str, str]]
    seeds: int
    goal: Asked
    probes: dict
    failures: dict[int, str]

    @property
    def total(self) -> int:
        """The samples asked of the columns that can write."""
        return (len(self.variants) - len(self.failures)) * self.seeds

    @property
    def limit(self) -> int:
        """The length limit every column shares."""
        return int(self.variants[0].settings.max_new_tokens)

    @property
    def seed(self) -> int:
        """The seed of every column's first sample."""
        return int(self.variants[0].settings.seed)

    def reports(self, samples: list[Sample], part_way: bool) -> list[ColumnReport]:
        """Each column's report: part-way, over the samples finished so far."""
        limit = self.limit if part_way else None
        return report_columns(self.labels, samples, self.seeds, self.goal, self.probes, self.failures, limit)

    def first_texts(self, samples: list[Sample]) -> list[str]:
        """Each column's first seed's text, as Compare writes it, for the column boxes."""
        texts = [
            "" if c in self.failures or not samples else samples[c * self.seeds].text for c in range(len(self.variants))
        ]
        return texts + [""] * (MAX_COLUMNS - len(texts))


def report_stream(
    service: Service,
    compared: CompareValues,
    fields: RequestFields,
    seeds: int,
    headline_chars: int,
    progress: gr.Progress = gr.Progress(),  # noqa: B008 - Gradio finds the progress bar by this default
    request: gr.Request = None,
) -> Iterator[dict]:
    """Run every shown column over the seeds: the table so far every PARTIAL_S, and at the end the plot.

    Each column's box shows its first seed's text, as Compare would write it. While it runs it
    yields every TICK_S, so a Stop or a client that left ends it there; the table then shows the
    samples finished by the last yield, and the Stop button's line says how many.
    """
    try:
        run, outputs = _start(service, compared, fields, seeds, headline_chars, request)
        tokens = len(run.variants) * run.seeds * run.limit
        desc = f"{len(run.variants)} columns x {run.seeds} seeds"
        progress(0, desc=desc)
        samples, shown = [], 0.0
        for output in paced(outputs):
            samples = output.samples
            progress(min(1.0, sum(max(s.tokens, len(report_words(s.text))) for s in samples) / tokens), desc=desc)
            if time.monotonic() - shown < PARTIAL_S:
                yield {"texts": run.first_texts(samples)}
                continue
            first, shown = not shown, time.monotonic()
            yield _partial(run, samples, first)
    except (UserError, SettingsError) as error:
        raise page_error(error) from None
    reports = run.reports(samples, part_way=False)
    yield {
        "table": table(reports, run.goal.task, run.seeds), "legend": legend(run.goal.task), "plot": plot(reports),
        "samples": samples_view(Shown(reports, run.seed), 0), "reports": Shown(reports, run.seed), "ran": run.seeds,
        "status": _done_line(run), "running": None, "texts": run.first_texts(samples),
    }  # fmt: skip


def _start(
    service: Service,
    compared: CompareValues,
    fields: RequestFields,
    seeds: int,
    headline_chars: int,
    request: gr.Request | None,
) -> tuple[Run, Iterator[Output]]:
    """The report asked, checked, and the stream of its samples."""
    asked = fields.parse(service, compared.prompt, caller=caller_of(request))
    count = inputs.parse_seeds(seeds)
    goal = Asked(asked.task, asked.rating, asked.category, inputs.parse_headline_chars(headline_chars))
    variants = column_variants(service, asked.model, compared)
    failures, outputs = service.report(asked, variants, count)
    labels = [(v.model, column.preset) for v, column in zip(variants, compared.shown, strict=True)]
    probes = {v.model: service.probe(v.model) for v in variants}
    return Run(variants, labels, count, goal, probes, failures), outputs


def _partial(run: Run, samples: list[Sample], first: bool) -> dict:
    """The table over the samples finished so far, the line saying how many, and the column boxes.

    The first also clears what an earlier report or compare left: the plot, the read samples,
    the token views, and the next-token views (a column that cannot write says why in its own).
    """
    reports = run.reports(samples, part_way=True)
    done = sum(len(r.samples) for r in reports)
    line = f"Running: {done} of {run.total} samples written."
    task = run.goal.task
    shown = {"table": table(reports, task, run.seeds), "reports": Shown(reports, run.seed), "status": line,
             "running": (done, run.total)}  # fmt: skip
    if not first:
        return {**shown, "texts": run.first_texts(samples)}
    return {
        **shown, "legend": legend(task), "plot": None, "samples": "", "ran": 0,
        "texts": [gr.update(value=t, visible=True) for t in run.first_texts(samples)],
        "tokens": [gr.update(visible=False)] * MAX_COLUMNS,
        "views": [_failure_note(run.failures.get(c, "")) for c in range(MAX_COLUMNS)],
    }  # fmt: skip


def _failure_note(error: str) -> str:
    """A column's next-token box during a report: why it cannot write, or nothing."""
    return f"<p class='dist-note column-error'>⚠️ {html.escape(error)}</p>" if error else ""


def _done_line(run: Run) -> str:
    """The status line of a finished report."""
    return f"{run.total} samples: {len(run.variants)} columns x {run.seeds} seeds. Click a row to read its samples."


def stopped(running: tuple[int, int] | None) -> tuple:
    """The status line when Stop ends a running report (how many samples the table covers); no report runs then."""
    if running is None:
        return gr.skip(), None
    done, total = running
    return f"Stopped after {done} of {total} samples; the table shows the figures over those.", None


def build(service: Service, common: Common, compared: CompareWidgets) -> ReportWidgets:
    """The report's controls and results under the compare columns, and their events."""
    gr.Markdown(
        "## Report card\nOne sample per column is mostly the seed's luck. Run every column over the same "
        "seeds and compare what stays: diversity, repetition, fit under the column's own model, length, "
        "how often the model ends by itself, and for reviews how often the text reads as the stars asked "
        "(the checkpoint's tone probe). Each column's box shows its first seed's text. Click a row to read "
        "its samples."
    )
    widgets = _widgets(service.entry(service.default_name).task)
    event = widgets.run.click(
        **named(report_stream, service, compared=compared.values, fields=common.fields, seeds=widgets.seeds,
                headline_chars=widgets.headline_chars, outputs={**widgets.results(), **compared.shown()}),
        api_visibility="private",
        show_progress="full",
        show_progress_on=[widgets.status],  # the table and the column boxes fill in while it runs
        **lanes.GENERATE,
    )  # fmt: skip
    widgets.stop.click(
        stopped, widgets.running, [widgets.status, widgets.running], cancels=[event], api_visibility="private",
        queue=False,
    )  # fmt: skip
    widgets.table.select(_clicked, widgets.reports, widgets.samples, api_visibility="private", queue=False)
    common.task.change(ad_only, common.task, widgets.headline_chars, api_visibility="private", queue=False)
    return widgets


def ad_only(task: str):
    """Show the ad length limit only when writing ads: it decides a figure of ads alone."""
    return gr.update(visible=task == Task.AD.value)


def _widgets(task: Task) -> ReportWidgets:
    """The report's controls, status line, table with its legend, plot and samples."""
    with gr.Row(equal_height=True):
        seeds = gr.Slider(1, MAX_REPORT_SEEDS, value=inputs.REPORT_SEEDS, step=1, label="Seeds", elem_id="rep-seeds")
        headline_chars = gr.Number(
            value=HEADLINE_CHARS, precision=0, minimum=10, maximum=500, label="Ad length limit (characters)",
            elem_id="rep-headline-chars", visible=task is Task.AD,
        )  # fmt: skip
        run = gr.Button("Run the seeds", variant="primary", elem_id="rep-run")
        stop = gr.Button("Stop", elem_id="rep-stop")
    status = gr.Markdown(elem_id="rep-status")
    table = gr.Dataframe(
        headers=headers(task), column_widths=widths(task), interactive=False, wrap=True, elem_id="rep-table"
    )
    legend_ = gr.Markdown(legend(task), elem_id="rep-legend")
    chart = gr.Plot(elem_id="rep-plot", show_label=False)
    samples = gr.Markdown(elem_id="rep-samples")
    return ReportWidgets(
        seeds, headline_chars, run, stop, status, table, legend_, chart, samples, gr.State(None), gr.State(0),
        gr.State(None),
    )  # fmt: skip


def _clicked(shown: Shown | None, event: gr.SelectData) -> str:
    row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
    return samples_view(shown, int(row))
