"""The generate tab: streamed reviews, ads or free text, several samples at once."""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio.components import Component

from autowrite import inputs
from autowrite.backends.base import Sample
from autowrite.service import MAX_SAMPLES, Output, Service, UserError
from autowrite.settings import BOUNDS, shown
from autowrite.ui import lanes
from autowrite.ui.calls import Group, caller_of, named
from autowrite.ui.common import Common, RequestFields, settings_widgets, warning_lines
from autowrite.ui.inspector import NO_STEPS, tokens_html
from autowrite.ui.refusals import log_refusal

GO, RUNNING = "Generate", "Generating…"


def generate_stream(
    service: Service,
    prompt: str,
    samples: int,
    inspect: bool,
    branch: str,
    fields: RequestFields,
    settings: dict[str, Any],
    request: gr.Request,
) -> Iterator[dict]:
    """Stream every sample into its box (boxes), after the prompt; warnings go to the line below. Settings by name.

    With inspect, the finished texts show token by token instead (autowrite.ui.inspector);
    a branch ("step:token,...") writes those tokens by hand, as its link does. A request the
    app cannot serve empties the boxes and says why on the warnings line, once.
    """
    try:
        asked = fields.parse(service, prompt, caller=caller_of(request))
        chosen = service.settings(asked.model, **settings)
        samples = inputs.parse_samples(samples)
        forced = inputs.parse_branch(branch, chosen.max_new_tokens)
        _load(service, asked.model)
        outputs = service.stream(asked, chosen, samples=samples, inspect=inspect, branch=forced)
        yield from _outputs(outputs, asked.text, inspect)
    except UserError as error:
        yield _failed(error)


def _load(service: Service, model: str) -> None:
    """Load the model first; one that cannot load has its reason beside the model picker (app.load_model), so point there."""
    try:
        service.load(model)
    except UserError:
        raise UserError(f"{model} cannot be loaded now; the note beside the model says why.") from None


def _outputs(outputs: Iterator[Output], prompt: str, inspect: bool) -> Iterator[dict]:
    """The boxes, token views and warnings after each step, and the token views at the end."""
    output = None
    for output in outputs:
        yield _shown(output, prompt, False)
    if output is not None and inspect:
        yield _shown(output, prompt, True)


def _shown(output: Output, prompt: str, tokens: bool) -> dict:
    """Updates for the sample boxes (the prompt as typed, then the model's text), their token views and the warnings line."""
    count = len(output.samples)
    boxes = [gr.update(value=prompt + t, visible=not tokens) for t in output.texts]
    views = (
        [gr.update(value=_tokens_view(prompt, sample, i), visible=True) for i, sample in enumerate(output.samples)]
        if tokens
        else [gr.update(visible=False)] * count
    )
    hidden = MAX_SAMPLES - count
    return {
        "boxes": [*boxes, *[gr.update(value="", visible=False)] * hidden],
        "views": [*views, *[gr.update(visible=False)] * hidden],
        "warnings": warning_lines(output.warnings),
    }


def _failed(error: UserError) -> dict:
    """Updates that empty the sample boxes and say, on the warnings line, why nothing was written."""
    log_refusal(error)
    return _shown(Output([Sample("")], [str(error)]), "", False)


def _tokens_view(prompt: str, sample: Sample, index: int) -> str:
    """A sample token by token, under its prompt: the prompt is the person's, so it has no tokens to inspect."""
    given = f'<p class="aw-legend gen-given">Prompt: <span class="gen-given-text">{html.escape(prompt)}</span></p>'
    return (given if prompt else "") + tokens_html(sample, index, branchable=True, note=NO_STEPS)


def branch_stream(
    service: Service,
    click: str,
    branch: str,
    prompt: str,
    samples: int,
    fields: RequestFields,
    settings: dict[str, Any],
    request: gr.Request,
) -> Iterator[dict]:
    """Continue sample k from a token chosen in its inspector ("k:step:token"), with the page's settings.

    The page's seed becomes the sample's (seed + k) and it writes one sample, so the share
    link reproduces the branch (its seed, samples, branch and branch_row outputs). Tokens
    chosen by hand before that step stay; those after it belonged to the old continuation.
    """
    try:
        k, step, token = _click(click, inputs.parse_samples(samples))
        seed = inputs.parse_whole("seed", settings["seed"], 0, BOUNDS["seed"].high, 0)
        kept = {s: t for s, t in inputs.parse_branch(branch, BOUNDS["max_new_tokens"].high).items() if s < step}
    except UserError as error:
        yield _failed(error)
        return
    settings = {**settings, "seed": (seed + k) % 2**31}
    forced = inputs.branch_text({**kept, step: token})
    shown = {"seed": settings["seed"], "samples": 1, "branch": forced, "branch_row": gr.update(visible=True)}
    for update in generate_stream(service, prompt, 1, True, forced, fields, settings, request):
        yield {**shown, **update}


def _running() -> dict:
    """The Generate button while a generation runs: it says so, and takes no second click."""
    return gr.update(value=RUNNING, interactive=False)


def _ready() -> dict:
    """The Generate button when no generation runs."""
    return gr.update(value=GO, interactive=True)


def _click(value: str, samples: int) -> tuple[int, int, int]:
    """The sample, step and token an inspector click names."""
    parts = str(value or "").split(":")
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts) or int(parts[0]) >= samples:
        raise UserError(f"The token chosen in the inspector is not one shown: {shown(value)}.")
    return int(parts[0]), int(parts[1]), int(parts[2])


def build(service: Service, common: Common) -> GenerateWidgets:
    """The tab's widgets and events; returns them, for share links, the model switch and the fine-tune tab."""
    w = _widgets(service)
    asked = {"prompt": w.prompt, "samples": w.samples, "fields": common.fields, "settings": Group(w.settings)}
    shown = {"boxes": w.boxes, "views": w.views, "warnings": w.warnings}
    w.examples.click(lambda value: value[0], w.examples, w.prompt, api_visibility="private")
    # The button says a generation runs from the click (not only once the generate lane takes
    # it) until the stream ends, fails or is stopped.
    started = gr.on([w.go.click, w.prompt.submit], _running, None, w.go, api_visibility="private", queue=False)
    run = started.then(
        **named(generate_stream, service, **asked, inspect=w.inspect, branch=w.branch, outputs=shown),
        api_visibility="private", **lanes.GENERATE, show_progress="minimal",
    )  # fmt: skip
    branch_shown = {"seed": w.settings["seed"], "samples": w.samples, "branch": w.branch, "branch_row": w.branch_row}
    branched = w.branch_go.click(_running, None, w.go, api_visibility="private", queue=False).then(
        **named(branch_stream, service, **asked, click=w.branch_click, branch=w.branch,
                outputs={**branch_shown, **shown}),
        api_visibility="private", **lanes.GENERATE, show_progress="minimal",
    )  # fmt: skip
    for event in (run, branched):
        event.then(_ready, None, w.go, api_visibility="private", queue=False)
    # A new prompt, or Clear, ends the branch: its hand-chosen tokens belong to the old text.
    for clear in (w.prompt.input, w.clear_branch.click):
        clear(
            lambda: ("", gr.update(visible=False)),
            None,
            [w.branch, w.branch_row],
            api_visibility="private",
            queue=False,
        )
    # Cancelling closes the generator between two tokens, so the model stops computing.
    w.stop.click(_ready, None, w.go, cancels=[run, branched], api_visibility="private", queue=False)
    return w


@dataclass
class GenerateWidgets:
    """The tab's widgets."""

    prompt: gr.Textbox
    examples: gr.Dataset
    go: gr.Button
    stop: gr.Button
    inspect: gr.Checkbox
    branch: gr.Textbox  # tokens chosen by hand in the inspector, "step:token,..."
    branch_row: gr.Row  # the branch and its Clear button, shown when there is a branch
    clear_branch: gr.Button
    boxes: list[gr.Textbox]
    views: list[gr.HTML]  # each sample token by token, when inspected
    warnings: gr.Markdown
    samples: gr.Slider
    settings: dict[str, Component]  # the sampling controls, by setting name
    branch_click: gr.Textbox  # where the page's script puts an inspector click: "sample:step:token"
    branch_go: gr.Button


def _widgets(service: Service) -> GenerateWidgets:
    entry = service.entry(service.default_name)
    with gr.Row():
        with gr.Column(scale=3):
            prompt = gr.Textbox(
                label="Prompt: the start of the text (for reviews: the first words of the body, optional)",
                lines=3,
                elem_id="gen-prompt",
            )
            examples = gr.Dataset(
                components=[prompt], samples=[[e] for e in entry.examples], label="Examples", elem_id="gen-examples"
            )
            with gr.Row(equal_height=True):
                go = gr.Button(GO, variant="primary", elem_id="generate")
                stop = gr.Button("Stop", variant="stop", elem_id="stop")
                inspect = gr.Checkbox(
                    label="Inspect tokens", value=False, elem_id="gen-inspect", scale=0, min_width=160
                )
            with gr.Row(equal_height=True, visible=False, elem_id="gen-branch-row") as branch_row:
                branch = gr.Textbox(
                    label="Branch: tokens chosen by hand (step:token id)", interactive=False, elem_id="gen-branch",
                    scale=4,
                )  # fmt: skip
                clear_branch = gr.Button("Clear branch", size="sm", elem_id="gen-branch-clear", scale=0, min_width=120)
            boxes, views = [], []
            for i in range(MAX_SAMPLES):
                boxes.append(
                    gr.Textbox(
                        label=f"Sample {i + 1}: your prompt, then the model's text",
                        lines=6,
                        visible=i == 0,
                        elem_id=f"sample-{i}",
                        buttons=["copy"],
                    )
                )
                views.append(gr.HTML(visible=False, elem_id=f"sample-{i}-tokens", padding=False))
            warnings = gr.Markdown(elem_id="gen-warnings")
        with gr.Column(scale=2), gr.Accordion("Sampling settings", open=True):
            samples = gr.Slider(1, MAX_SAMPLES, value=1, step=1, label="Samples (seed, seed+1, ...)", elem_id="samples")
            settings = settings_widgets(entry.defaults)
    return GenerateWidgets(
        prompt, examples, go, stop, inspect, branch, branch_row, clear_branch, boxes, views, warnings, samples, settings,
        gr.Textbox(visible="hidden", elem_id="gen-branch-click"), gr.Button(visible="hidden", elem_id="gen-branch-go"),
    )  # fmt: skip
