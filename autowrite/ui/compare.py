"""The compare tab: two to four settings side by side, and what each does to the next token."""

from __future__ import annotations

import html
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial

import gradio as gr

from autowrite import inputs
from autowrite.backends.base import Candidate
from autowrite.inputs import COLUMN_FIELDS, COMPARE_MAX_TOKENS, COMPARE_TOKENS
from autowrite.service import MAX_COLUMNS, CompareColumn, Output, Service, UserError, Variant
from autowrite.settings import PRESET_NAMES, SamplingSettings, SettingsError, preset
from autowrite.ui import lanes
from autowrite.ui.calls import bound, caller_of
from autowrite.ui.common import Common, SettingsWidgets, page_error, settings_widgets, warning_lines
from autowrite.ui.inspector import NO_STEPS, tokens_html
from autowrite.ui.share import Column, PageState


@dataclass
class CompareWidgets:
    """The tab's inputs, for share links: what a link fills in and what the share button reads."""

    prompt: gr.Textbox
    columns: gr.Radio
    seed: gr.Number
    length: gr.Slider
    pickers: list[gr.Dropdown]
    models: list[gr.Dropdown]  # each column's model; "" is the page's
    fields: list  # COLUMN_FIELDS widgets of each column, in column order
    blocks: list[gr.Column]
    # What each column shows, which the report card also fills: its text, token view and next-token view.
    texts: list[gr.Textbox]
    tokens: list[gr.HTML]
    views: list[gr.HTML]

    def as_list(self) -> list:
        """Every input, in the order restored() fills them and link_columns() reads them."""
        return [self.prompt, self.columns, self.seed, self.length, *self.pickers, *self.models, *self.fields]

    def column_inputs(self) -> list:
        """What the compare and report events read after the page's fields: the models, then the settings."""
        return [*self.models, *self.fields]


PAGE_MODEL = ("Same as the page", "")  # a column model's first choice


def column_variants(
    service: Service, model: str, seed: int, max_new_tokens: int, columns: int, values: Sequence
) -> list[Variant]:
    """The first `columns` columns' models and settings from their widgets (column_inputs()), sharing seed and length."""
    models, fields = values[:MAX_COLUMNS], values[MAX_COLUMNS:]
    width = len(COLUMN_FIELDS)
    variants = []
    for index in range(int(columns)):
        chosen = service.entry(inputs.parse_model(models[index]) or model).name
        own = dict(zip(COLUMN_FIELDS, fields[index * width : (index + 1) * width]))
        variants.append(Variant(chosen, service.settings(chosen, seed=seed, max_new_tokens=max_new_tokens, **own)))
    return variants


def column_values(settings: SamplingSettings) -> list:
    """A column's widget values (COLUMN_FIELDS) from its settings."""
    return [getattr(settings, name) for name in COLUMN_FIELDS]


def distribution_html(candidates: list[Candidate]) -> str:
    """A small table of next tokens with bars for raw and adjusted probability."""
    rows = []
    for c in candidates:
        token = html.escape(repr(c.token)[1:-1])
        rows.append(
            f"<tr><td class='tok'><code>{token}</code></td>"
            f"<td><div class='bar raw' style='width:{c.raw * 100:.1f}%'></div>{c.raw:.1%}</td>"
            f"<td><div class='bar adj' style='width:{c.adjusted * 100:.1f}%'></div>{c.adjusted:.1%}</td></tr>"
        )
    return (
        "<table class='dist'><thead><tr><th>next token</th><th>model</th><th>after settings</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def column_view(column: CompareColumn) -> str:
    """One column's next-token table, or why there is none: its model could not write, or gives no log-probabilities."""
    if column.failed:
        return f"<p class='dist-note column-error'>⚠️ {html.escape(column.note)}</p>"
    if column.distribution is None:
        return f"<p class='dist-note'>{html.escape(column.note)}</p>"
    return distribution_html(column.distribution)


def compare_stream(
    service: Service,
    prompt: str,
    columns: int,
    seed: int,
    max_new_tokens: int,
    inspect: bool,
    model: str,
    task: str,
    rating: int,
    category: str,
    headline: str,
    request: gr.Request,
    *column_values,
) -> Iterator[tuple]:
    """Stream each column's text from the same prompt and seed, with its next-token view.

    With inspect, the finished texts show token by token instead (autowrite.ui.inspector).
    """
    columns = int(columns)
    try:
        asked = inputs.parse_request(
            service, model, task, prompt, rating, category, headline, caller=caller_of(request)
        )
        variants = column_variants(service, asked.model, seed, max_new_tokens, columns, column_values)
        shown, outputs = service.compare(asked, variants, inspect=inspect)
        views = [column_view(column) for column in shown] + [""] * (MAX_COLUMNS - columns)
        output = None
        for output in outputs:
            yield (*_texts(output, columns, False), *views, warning_lines(output.warnings))
        if output is not None and inspect:
            yield (*_texts(output, columns, True), *views, warning_lines(output.warnings))
    except (UserError, SettingsError) as error:
        raise page_error(error) from None


def _texts(output: Output, columns: int, tokens: bool) -> list:
    """Updates for each column's text box and its token view: the text while it streams, the tokens at the end."""
    hidden = MAX_COLUMNS - columns
    boxes = [gr.update(value=t, visible=not tokens) for t in output.texts] + [""] * hidden
    if not tokens:
        return boxes + [gr.update(visible=False)] * MAX_COLUMNS
    views = [gr.update(value=tokens_html(s, i, branchable=False, note=NO_STEPS), visible=True) for i, s in
             enumerate(output.samples)]  # fmt: skip
    return boxes + views + [gr.update(visible=False)] * hidden


def preset_values(service: Service, model: str, column_model: str, name: str) -> list:
    """Slider values for a preset; "Card defaults" reads the card of the column's model (or the page's)."""
    try:
        defaults = service.entry(column_model or model).defaults
    except UserError:
        defaults = SamplingSettings()
    return column_values(preset(name, defaults, defaults.max_new_tokens, defaults.seed))


def column_visibility(columns: int) -> list:
    """Show the first n columns."""
    return [gr.update(visible=i < int(columns)) for i in range(MAX_COLUMNS)]


def link_columns(
    service: Service, model: str, seed: int, max_new_tokens: int, columns: int, values: Sequence
) -> list[Column]:
    """The shown columns as a share link keeps them: preset names (the pickers), models, then settings."""
    names = values[:MAX_COLUMNS]
    variants = column_variants(service, model, seed, max_new_tokens, columns, values[MAX_COLUMNS:])
    page_model = service.entry(inputs.parse_model(model) or None).name
    return [
        Column(name, v.settings, "" if v.model == page_model else v.model)
        for name, v in zip(names, variants, strict=False)
    ]


def restored(state: PageState) -> list:
    """Updates for CompareWidgets.as_list() and the column blocks from a link's state.

    A link to another tab fills in only the prompt; the columns keep their presets.
    """
    if state.tab != "compare":
        return [
            state.prompt,
            *[gr.update()] * (3 + MAX_COLUMNS * (2 + len(COLUMN_FIELDS))),
            *[gr.update()] * MAX_COLUMNS,
        ]
    shown = len(state.columns)
    pickers = [c.preset for c in state.columns] + [gr.update()] * (MAX_COLUMNS - shown)
    models = [c.model for c in state.columns] + [gr.update()] * (MAX_COLUMNS - shown)
    fields = [value for column in state.columns for value in column_values(column.settings)]
    fields += [gr.update()] * ((MAX_COLUMNS - shown) * len(COLUMN_FIELDS))
    return [
        state.prompt,
        shown,
        state.settings.seed,
        state.settings.max_new_tokens,
        *pickers,
        *models,
        *fields,
        *column_visibility(shown),
    ]


def build(service: Service, common: Common) -> CompareWidgets:
    """The tab's widgets and events; returns its inputs for share links."""
    entry = service.entry(service.default_name)
    prompt, columns, seed, length = _controls(entry.defaults.seed)
    with gr.Row(equal_height=True):
        go = gr.Button("Compare", variant="primary", elem_id="compare")
        inspect = gr.Checkbox(label="Inspect tokens", value=False, elem_id="cmp-inspect", scale=0, min_width=160)
    pickers, models, column_widgets, texts, tokens, views, blocks = [], [], [], [], [], [], []
    choices = [PAGE_MODEL, *((name, name) for name in service.names)]
    with gr.Row(equal_height=False):
        for i, name in enumerate(PRESET_NAMES[:MAX_COLUMNS]):
            with gr.Column(min_width=220) as block:
                model = gr.Dropdown(
                    choices, value="", label="Model", allow_custom_value=service.allow_custom, elem_id=f"cmp-model-{i}"
                )
                picker, fields = _column_settings(i, name, entry.defaults)
                texts.append(gr.Textbox(label="Output", lines=8, elem_id=f"cmp-out-{i}", buttons=["copy"]))
                tokens.append(gr.HTML(visible=False, elem_id=f"cmp-tokens-{i}", padding=False))
                views.append(gr.HTML(elem_id=f"cmp-dist-{i}"))
            for changed in (model, picker):  # "Card defaults" is the card of the column's model
                changed.input(
                    partial(preset_values, service), [common.model, model, picker], fields, api_visibility="private"
                )
            pickers.append(picker)
            models.append(model)
            column_widgets += fields
            blocks.append(block)
    warnings = gr.Markdown()
    columns.input(column_visibility, columns, blocks, api_visibility="private")
    compared = CompareWidgets(
        prompt, columns, seed, length, pickers, models, column_widgets, blocks, texts, tokens, views
    )
    page_fields = [common.model, common.task, common.rating, common.category, common.headline]
    go.click(
        bound(compare_stream, service),
        [prompt, columns, seed, length, inspect, *page_fields, *compared.column_inputs()],
        [*texts, *tokens, *views, warnings],
        api_visibility="private",
        **lanes.GENERATE,
        show_progress="minimal",
    )
    return compared


def _controls(seed: int) -> tuple[gr.Textbox, gr.Radio, gr.Number, gr.Slider]:
    """What every column shares: the prompt, how many columns, the seed and the length."""
    with gr.Row():
        prompt = gr.Textbox(label="Prompt", lines=2, scale=4, elem_id="cmp-prompt")
        columns = gr.Radio(
            list(range(1, MAX_COLUMNS + 1)), value=MAX_COLUMNS, label="Columns", scale=1, elem_id="cmp-columns"
        )
        seed = gr.Number(
            value=seed, label="Seed (same for every column)", precision=0, minimum=0, scale=1, elem_id="cmp-seed"
        )
        length = gr.Slider(
            1, COMPARE_MAX_TOKENS, value=COMPARE_TOKENS, step=1, label="Max new tokens", scale=1, elem_id="cmp-length"
        )
    return prompt, columns, seed, length


def _column_settings(i: int, name: str, defaults: SamplingSettings) -> tuple[gr.Dropdown, list]:
    """A column's preset picker and its own settings (COLUMN_FIELDS widgets), starting from preset `name`."""
    picker = gr.Dropdown(list(PRESET_NAMES), value=name, label=f"Preset (column {i + 1})", elem_id=f"cmp-preset-{i}")
    with gr.Accordion("Settings", open=False, elem_id=f"cmp{i}-settings"):
        widgets: SettingsWidgets = settings_widgets(
            preset(name, defaults, COMPARE_TOKENS, defaults.seed), with_length_and_seed=False, prefix=f"cmp{i}-"
        )
    return picker, [getattr(widgets, field) for field in COLUMN_FIELDS]
