"""The compare tab: two to four settings side by side, and what each does to the next token."""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio.blocks import Block
from gradio.components import Component

from autowrite import inputs
from autowrite.backends.base import Candidate
from autowrite.inputs import COLUMN_FIELDS, COMPARE_MAX_TOKENS, COMPARE_TOKENS
from autowrite.service import MAX_COLUMNS, CompareColumn, Output, Service, UserError, Variant
from autowrite.settings import PRESET_NAMES, SamplingSettings, SettingsError, preset
from autowrite.ui import lanes
from autowrite.ui.calls import Group, caller_of, named
from autowrite.ui.common import Common, RequestFields, page_error, settings_widgets, warning_lines
from autowrite.ui.inspector import NO_STEPS, tokens_html
from autowrite.ui.share import Column, PageState, column_model_parameter, column_parameters


@dataclass(frozen=True)
class ColumnValues:
    """One compare column as its widgets hold it: its preset's name, its model ("" for the page's) and its own settings."""

    preset: str
    model: str
    own: dict[str, Any]  # COLUMN_FIELDS by name


@dataclass(frozen=True)
class CompareValues:
    """The compare tab as its widgets hold it: the prompt, how many columns show, the seed and length they share, each column."""

    prompt: str
    columns: int
    seed: int
    max_new_tokens: int
    each: list[ColumnValues]

    @property
    def shown(self) -> list[ColumnValues]:
        """The columns on the page: the first `columns`."""
        return self.each[: int(self.columns)]


@dataclass
class CompareWidgets:
    """The tab's widgets: what a link fills in and the share button reads, and what each column shows."""

    prompt: gr.Textbox
    columns: gr.Radio
    seed: gr.Number
    length: gr.Slider
    pickers: list[gr.Dropdown]
    models: list[gr.Dropdown]  # each column's model; "" is the page's
    fields: list[dict[str, Component]]  # each column's own settings (COLUMN_FIELDS), by name
    blocks: list[gr.Column]
    # What each column shows, which the report card also fills: its text, token view and next-token view.
    texts: list[gr.Textbox]
    tokens: list[gr.HTML]
    views: list[gr.HTML]

    def named(self) -> dict[str, Block]:
        """The inputs by name: cmp_prompt, cmp_columns, cmp_seed, cmp_length, then each column's as a link names them."""
        named: dict[str, Block] = {
            "cmp_prompt": self.prompt, "cmp_columns": self.columns, "cmp_seed": self.seed, "cmp_length": self.length,
        }  # fmt: skip
        for index, (picker, model, fields) in enumerate(zip(self.pickers, self.models, self.fields, strict=True), 1):
            named[preset_parameter(index)] = picker
            named[column_model_parameter(index)] = model
            named.update(_by_parameter(index, fields))
        return named

    @property
    def values(self) -> Group:
        """The inputs, read as one CompareValues."""
        return Group(self.named(), _compare_values)

    def shown(self) -> dict[str, list[Block]]:
        """What the columns show, by output name: each column's text, token view and next-token view."""
        return {"texts": self.texts, "tokens": self.tokens, "views": self.views}


def preset_parameter(index: int) -> str:
    """A column's preset picker by name (c1_preset); a link names the presets together (presets=Greedy,Creative)."""
    return f"c{index}_preset"


def _by_parameter(index: int, own: dict[str, Any]) -> dict[str, Any]:
    """A column's own settings, or their widgets, by their names in a link (c1_temperature, ...)."""
    return {parameter: own[name] for name, parameter in zip(COLUMN_FIELDS, column_parameters(index), strict=True)}


def _compare_values(**values: Any) -> CompareValues:
    """The compare tab's values from its inputs by name (CompareWidgets.named())."""
    each = [
        ColumnValues(
            values[preset_parameter(index)],
            values[column_model_parameter(index)],
            dict(zip(COLUMN_FIELDS, (values[p] for p in column_parameters(index)), strict=True)),
        )
        for index in range(1, MAX_COLUMNS + 1)
    ]
    return CompareValues(values["cmp_prompt"], values["cmp_columns"], values["cmp_seed"], values["cmp_length"], each)


PAGE_MODEL = ("Same as the page", "")  # a column model's first choice


def column_variants(service: Service, model: str, compared: CompareValues) -> list[Variant]:
    """The shown columns' models and settings, sharing seed and length; model: the page's."""
    variants = []
    for column in compared.shown:
        chosen = service.entry(inputs.parse_model(column.model) or model).name
        settings = service.settings(chosen, seed=compared.seed, max_new_tokens=compared.max_new_tokens, **column.own)
        variants.append(Variant(chosen, settings))
    return variants


def column_values(settings: SamplingSettings) -> dict[str, Any]:
    """A column's widget values (COLUMN_FIELDS) from its settings, by name."""
    return {name: getattr(settings, name) for name in COLUMN_FIELDS}


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
    service: Service, compared: CompareValues, inspect: bool, fields: RequestFields, request: gr.Request
) -> Iterator[dict]:
    """Stream each column's text (texts) from the same prompt and seed, with its next-token view (views).

    With inspect, the finished texts show token by token instead (tokens; autowrite.ui.inspector).
    """
    columns = int(compared.columns)
    try:
        asked = fields.parse(service, compared.prompt, caller=caller_of(request))
        variants = column_variants(service, asked.model, compared)
        shown, outputs = service.compare(asked, variants, inspect=inspect)
        views = [column_view(column) for column in shown] + [""] * (MAX_COLUMNS - columns)
        output = None
        for output in outputs:
            yield {**_texts(output, columns, False), "views": views, "warnings": warning_lines(output.warnings)}
        if output is not None and inspect:
            yield {**_texts(output, columns, True), "views": views, "warnings": warning_lines(output.warnings)}
    except (UserError, SettingsError) as error:
        raise page_error(error) from None


def _texts(output: Output, columns: int, tokens: bool) -> dict[str, list]:
    """Updates for each column's text box and its token view: the text while it streams, the tokens at the end."""
    hidden = MAX_COLUMNS - columns
    boxes = [gr.update(value=t, visible=not tokens) for t in output.texts] + [""] * hidden
    if not tokens:
        return {"texts": boxes, "tokens": [gr.update(visible=False)] * MAX_COLUMNS}
    views = [gr.update(value=tokens_html(s, i, branchable=False, note=NO_STEPS), visible=True) for i, s in
             enumerate(output.samples)]  # fmt: skip
    return {"texts": boxes, "tokens": views + [gr.update(visible=False)] * hidden}


def preset_values(service: Service, model: str, column_model: str, name: str) -> dict[str, Any]:
    """A column's own settings for a preset, by name; "Card defaults" reads the card of the column's model (or the page's)."""
    try:
        defaults = service.entry(column_model or model).defaults
    except UserError:
        defaults = SamplingSettings()
    return column_values(preset(name, defaults, defaults.max_new_tokens, defaults.seed))


def column_visibility(columns: int) -> list:
    """Show the first n columns."""
    return [gr.update(visible=i < int(columns)) for i in range(MAX_COLUMNS)]


def link_columns(service: Service, model: str, compared: CompareValues) -> list[Column]:
    """The shown columns as a share link keeps them: each one's preset name, settings and model."""
    variants = column_variants(service, model, compared)
    page_model = service.entry(inputs.parse_model(model) or None).name
    return [
        Column(column.preset, v.settings, "" if v.model == page_model else v.model)
        for column, v in zip(compared.shown, variants, strict=True)
    ]


def block_name(index: int) -> str:
    """A column's block by name (c1_block), which shows or hides the whole column."""
    return f"c{index}_block"


def restored(state: PageState) -> dict[str, Any]:
    """A link's compare tab by widget name (CompareWidgets.named(), block_name()).

    A link to another tab fills in only the prompt; the columns keep their presets.
    """
    if state.tab != "compare":
        return {"cmp_prompt": state.prompt}
    shown = len(state.columns)
    values = {
        "cmp_prompt": state.prompt, "cmp_columns": shown, "cmp_seed": state.settings.seed,
        "cmp_length": state.settings.max_new_tokens,
    }  # fmt: skip
    for index, column in enumerate(state.columns, 1):
        values[preset_parameter(index)] = column.preset
        values[column_model_parameter(index)] = column.model
        values.update(_by_parameter(index, column_values(column.settings)))
    values.update(zip((block_name(i) for i in range(1, MAX_COLUMNS + 1)), column_visibility(shown), strict=True))
    return values


def build(service: Service, common: Common) -> CompareWidgets:
    """The tab's widgets and events; returns them, for share links and the report card."""
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
            chosen = named(preset_values, service, model=common.model, column_model=model, name=picker, outputs=fields)
            for changed in (model, picker):  # "Card defaults" is the card of the column's model
                changed.input(**chosen, api_visibility="private")
            pickers.append(picker)
            models.append(model)
            column_widgets.append(fields)
            blocks.append(block)
    warnings = gr.Markdown()
    columns.input(column_visibility, columns, blocks, api_visibility="private")
    compared = CompareWidgets(
        prompt, columns, seed, length, pickers, models, column_widgets, blocks, texts, tokens, views
    )
    go.click(
        **named(compare_stream, service, compared=compared.values, inspect=inspect, fields=common.fields,
                outputs={**compared.shown(), "warnings": warnings}),
        api_visibility="private", **lanes.GENERATE, show_progress="minimal",
    )  # fmt: skip
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


def _column_settings(i: int, name: str, defaults: SamplingSettings) -> tuple[gr.Dropdown, dict[str, Component]]:
    """A column's preset picker and its own settings' widgets (COLUMN_FIELDS, by name), starting from preset `name`."""
    picker = gr.Dropdown(list(PRESET_NAMES), value=name, label=f"Preset (column {i + 1})", elem_id=f"cmp-preset-{i}")
    with gr.Accordion("Settings", open=False, elem_id=f"cmp{i}-settings"):
        widgets = settings_widgets(
            preset(name, defaults, COMPARE_TOKENS, defaults.seed), with_length_and_seed=False, prefix=f"cmp{i}-"
        )
    return picker, {field: widgets[field] for field in COLUMN_FIELDS}
