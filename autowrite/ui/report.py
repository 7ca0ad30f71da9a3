"""The report card under the compare tab: every column over the same N seeds, measured side by side."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

# Figure, not pyplot: no global state, so requests can draw at once from several threads.
from matplotlib.figure import Figure

from autowrite import inputs
from autowrite.report import HEADLINE_CHARS, Asked, ColumnReport, report_columns, report_words
from autowrite.service import MAX_COLUMNS, MAX_REPORT_SEEDS, Service, UserError
from autowrite.settings import SettingsError
from autowrite.ui import lanes
from autowrite.ui.calls import bound, caller_of, paced
from autowrite.ui.common import Common, as_text, page_error
from autowrite.ui.compare import CompareWidgets, column_variants

HEADERS = [
    "column",
    "model",
    "preset",
    "distinct-1",
    "distinct-2",
    "repeated 4-grams",
    "fit (log-prob/token)",
    "words",
    "ended itself",
    "read as asked",
    "P(positive)",
    "within limit",
]
# The plotted figures: all shares from 0 to 1, so one axis holds them.
PLOTTED = {
    "distinct-1": "distinct_1",
    "distinct-2": "distinct_2",
    "repeated 4-grams": "repetition",
    "ended itself": "ended",
    "read as asked": "read_as_asked",
    "within limit": "within_headline",
}


@dataclass
class ReportWidgets:
    """The report's controls and results; seeds and headline_chars also go into share links."""

    seeds: gr.Slider
    headline_chars: gr.Number
    run: gr.Button
    stop: gr.Button
    table: gr.Dataframe
    plot: gr.Plot
    samples: gr.Markdown
    reports: gr.State  # the last report's columns, for showing a clicked row's samples
    ran: gr.State  # the seeds of the report shown (0: none), for the share link


def figure(value: float | None, digits: int = 2) -> str:
    """A figure for the table; "-" where it does not apply."""
    return "-" if value is None else f"{value:.{digits}f}"


def table_rows(reports: list[ColumnReport]) -> list[list[str]]:
    """One row per column, in HEADERS' order."""
    return [
        [
            str(r.column), r.model, r.label, figure(r.distinct_1), figure(r.distinct_2), figure(r.repetition),
            figure(r.fit), figure(r.words, 1), figure(r.ended), figure(r.read_as_asked), figure(r.positive),
            figure(r.within_headline),
        ] if not r.error else [str(r.column), r.model, r.label, *["-"] * 8, "-"]
        for r in reports
    ]  # fmt: skip


def plot(reports: list[ColumnReport]):
    """Grouped bars: each share-valued figure, one bar per column, where the columns differ."""
    shown = [r for r in reports if not r.error]
    metrics = [name for name, key in PLOTTED.items() if any(getattr(r, key) is not None for r in shown)]
    fig = Figure(figsize=(8, 3.2), dpi=100)
    ax = fig.subplots()
    width = 0.8 / max(1, len(shown))
    for i, r in enumerate(shown):
        values = [getattr(r, PLOTTED[m]) or 0.0 for m in metrics]
        ax.bar([j + i * width for j in range(len(metrics))], values, width, label=f"{r.column}: {r.label}")
    ax.set_xticks([j + width * (len(shown) - 1) / 2 for j in range(len(metrics))], metrics)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share")
    ax.legend(fontsize=8, ncols=min(4, max(1, len(shown))), loc="upper center", bbox_to_anchor=(0.5, -0.12))
    fig.tight_layout()
    return fig


def samples_view(shown: tuple[list[ColumnReport], int] | None, row: int) -> str:
    """A column's samples as Markdown, each shown as text, with its seed and note."""
    reports, seed = shown or ([], 0)
    if not 0 <= row < len(reports):
        return ""
    r = reports[row]
    if r.error:
        return f"**Column {r.column}** could not write: {as_text(r.error)}"
    lines = [f"**Column {r.column}** ({as_text(r.label)}, {as_text(r.model)}): {len(r.samples)} samples"]
    for k, (sample, note) in enumerate(zip(r.samples, r.sample_notes, strict=True)):
        ending = "ended itself" if sample.ended else "hit the length limit"
        about = "; ".join(part for part in (f"seed {(seed + k) % 2**31}", as_text(note), ending) if part)
        lines.append(f"{k + 1}. {as_text(sample.text.strip()) or '(empty)'} <br>*{about}*")
    return "\n".join(lines)


def report_stream(
    service: Service,
    prompt: str,
    columns: int,
    seed: int,
    max_new_tokens: int,
    model: str,
    task: str,
    rating: int,
    category: str,
    headline: str,
    seeds: int,
    headline_chars: int,
    progress: gr.Progress = gr.Progress(),  # noqa: B008 - Gradio finds the progress bar by this default
    request: gr.Request = None,
    *column_values,
):
    """Run every shown column over the seeds; the table, plot and first column's samples when done.

    While it runs it yields no change every TICK_S, so a Stop or a client that left ends it there.
    """
    try:
        asked = inputs.parse_request(
            service, model, task, prompt, rating, category, headline, caller=caller_of(request)
        )
        count = inputs.parse_seeds(seeds)
        goal = Asked(asked.task, asked.rating, asked.category, inputs.parse_headline_chars(headline_chars))
        pickers, own = column_values[:MAX_COLUMNS], column_values[MAX_COLUMNS:]
        variants = column_variants(service, asked.model, seed, max_new_tokens, columns, own)
        failures, outputs = service.report(asked, variants, count)
        total = len(variants) * count * int(max_new_tokens)
        progress(0, desc=f"{len(variants)} columns x {count} seeds")
        samples = []
        for output in paced(outputs):
            samples = output.samples
            done = sum(max(s.tokens, len(report_words(s.text))) for s in samples)
            progress(min(1.0, done / total), desc=f"{len(variants)} columns x {count} seeds")
            yield (gr.skip(),) * 5
    except (UserError, SettingsError) as error:
        raise page_error(error) from None
    labels = [(v.model, picker) for v, picker in zip(variants, pickers, strict=False)]
    reports = report_columns(
        labels, samples, count, goal, {v.model: service.probe(v.model) for v in variants}, failures
    )
    shown = (reports, int(variants[0].settings.seed))
    yield table_rows(reports), plot(reports), samples_view(shown, 0), shown, count


def build(service: Service, common: Common, compared: CompareWidgets) -> ReportWidgets:
    """The report's controls and results under the compare columns, and their events."""
    gr.Markdown(
        "### Report card\nOne sample per column is mostly the seed's luck. Run every column over the same "
        "seeds and compare what stays: diversity, repetition, fit under the column's own model, length, "
        "how often the model ends by itself, and for reviews how often the text reads as the stars asked "
        "(the checkpoint's tone probe). Click a row to read its samples."
    )
    with gr.Row(equal_height=True):
        seeds = gr.Slider(1, MAX_REPORT_SEEDS, value=inputs.REPORT_SEEDS, step=1, label="Seeds", elem_id="rep-seeds")
        headline_chars = gr.Number(
            value=HEADLINE_CHARS, precision=0, minimum=10, maximum=500, label="Ad length limit (characters)",
            elem_id="rep-headline-chars",
        )  # fmt: skip
        run = gr.Button("Run the seeds", variant="primary", elem_id="rep-run")
        stop = gr.Button("Stop", elem_id="rep-stop")
    table = gr.Dataframe(headers=HEADERS, interactive=False, elem_id="rep-table")
    chart = gr.Plot(elem_id="rep-plot", show_label=False)
    samples = gr.Markdown(elem_id="rep-samples")
    widgets = ReportWidgets(seeds, headline_chars, run, stop, table, chart, samples, gr.State(None), gr.State(0))
    page_fields = [common.model, common.task, common.rating, common.category, common.headline]
    event = run.click(
        bound(report_stream, service),
        [
            compared.prompt, compared.columns, compared.seed, compared.length, *page_fields, seeds, headline_chars,
            *compared.pickers, *compared.column_inputs(),
        ],
        [table, chart, samples, widgets.reports, widgets.ran],
        api_visibility="private",
        show_progress="full",
        **lanes.GENERATE,
    )  # fmt: skip
    stop.click(None, None, None, cancels=[event], api_visibility="private", queue=False)
    table.select(_clicked, widgets.reports, samples, api_visibility="private", queue=False)
    return widgets


def _clicked(shown: tuple[list[ColumnReport], int] | None, event: gr.SelectData) -> str:
    row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
    return samples_view(shown, int(row))
