"""The generate tab: streamed reviews, ads or free text, several samples at once."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import gradio as gr

from autowrite import inputs
from autowrite.service import MAX_SAMPLES, Service, UserError
from autowrite.ui import lanes
from autowrite.ui.common import Common, SettingsWidgets, page_error, settings_widgets, warning_lines


def generate_stream(
    service: Service,
    prompt: str,
    samples: int,
    model: str,
    task: str,
    rating: int,
    category: str,
    headline: str,
    *settings,
) -> Iterator[tuple]:
    """Stream every sample's text into its box; warnings go to the line below. Settings in SettingsWidgets' order."""
    try:
        request, chosen = inputs.parse_page(service, model, task, prompt, rating, category, headline, settings)
        samples = inputs.parse_samples(samples)
        for output in service.stream(request, chosen, samples=samples):
            boxes = [gr.update(value=t, visible=True) for t in output.texts]
            boxes += [gr.update(value="", visible=False)] * (MAX_SAMPLES - samples)
            yield (*boxes, warning_lines(output.warnings))
    except UserError as error:
        raise page_error(error) from None


def build(service: Service, common: Common) -> tuple[gr.Textbox, SettingsWidgets, gr.Slider, dict]:
    """The tab's widgets and events; returns what share links and the model switch update."""
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
            with gr.Row():
                go = gr.Button("Generate", variant="primary", elem_id="generate")
                stop = gr.Button("Stop", variant="stop", elem_id="stop")
            boxes = [
                gr.Textbox(label=f"Sample {i + 1}", lines=6, visible=i == 0, elem_id=f"sample-{i}", buttons=["copy"])
                for i in range(MAX_SAMPLES)
            ]
            warnings = gr.Markdown(elem_id="gen-warnings")
        with gr.Column(scale=2), gr.Accordion("Sampling settings", open=True):
            samples = gr.Slider(1, MAX_SAMPLES, value=1, step=1, label="Samples (seed, seed+1, ...)", elem_id="samples")
            widgets = settings_widgets(entry.defaults)
    examples.click(lambda value: value[0], examples, prompt, api_visibility="private")
    run = gr.on(
        [go.click, prompt.submit],
        partial(generate_stream, service),
        [
            prompt,
            samples,
            common.model,
            common.task,
            common.rating,
            common.category,
            common.headline,
            *widgets.as_list(),
        ],
        [*boxes, warnings],
        api_visibility="private",
        **lanes.GENERATE,
        show_progress="minimal",
    )
    # Cancelling closes the generator between two tokens, so the model stops computing.
    stop.click(None, None, None, cancels=[run], api_visibility="private")
    return prompt, widgets, samples, {"examples": examples}
