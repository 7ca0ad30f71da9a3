"""Widgets every tab reads (model and what to write), and the sampling controls."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import gradio as gr

from autowrite import inputs
from autowrite.formats import CATEGORIES, Task
from autowrite.settings import BOUNDS, FIELDS, SamplingSettings
from autowrite.ui.refusals import refused

# CommonMark's backslash escapes, less the three that become HTML entities instead.
_MARKDOWN_PUNCTUATION = re.compile(r"[!\"#$%'()*+,\-./:;=?@\[\\\]^_`{|}~]")

TASKS = [("Review", Task.REVIEW.value), ("Ad", Task.AD.value), ("Free text", Task.FREE.value)]
# An ad's first category choice: its prompt then names none, as the ads whose source names none.
ANY_CATEGORY = ("Any category", "")


@dataclass
class Common:
    """The shared input widgets, created once and passed to each tab."""

    model: gr.Dropdown
    task: gr.Radio
    rating: gr.Slider
    category: gr.Dropdown
    headline: gr.Textbox
    review_fields: gr.Row  # the fields a model trained here reads: stars, category, headline


@dataclass
class SettingsWidgets:
    """One set of sampling controls, in the order of SamplingSettings' fields."""

    temperature: gr.Slider
    top_k: gr.Slider
    top_p: gr.Slider
    repetition_penalty: gr.Slider
    max_new_tokens: gr.Slider
    do_sample: gr.Checkbox
    seed: gr.Number
    min_p: gr.Slider
    no_repeat_ngram_size: gr.Slider
    rating_guidance: gr.Slider

    def as_list(self) -> list:
        """The widgets in field order, for event inputs and outputs."""
        return [getattr(self, name) for name in FIELDS]


def settings_widgets(
    defaults: SamplingSettings, *, with_length_and_seed: bool = True, prefix: str = ""
) -> SettingsWidgets:
    """Sliders for each setting, bounded as the settings are."""

    def slider(name: str, label: str, step: float, info: str) -> gr.Slider:
        bound = BOUNDS[name]
        return gr.Slider(
            bound.low,
            bound.high,
            value=getattr(defaults, name),
            step=step,
            label=label,
            info=info,
            elem_id=f"{prefix}{name}",
        )

    # Each info line says in words what the setting does and which value turns it off;
    # docs/help.md, under "What do these mean?" on the page, says more.
    temperature = slider("temperature", "Temperature", 0.05, "Below 1: safer, likelier words; above 1: more varied")
    top_k = slider("top_k", "Top-k", 1, "Draw only among the k likeliest tokens (0 = off)")
    top_p = slider(
        "top_p", "Top-p", 0.01, "Draw only among the likeliest tokens that add up to this probability (1 = off)"
    )
    min_p = slider("min_p", "Min-p", 0.01, "Drop tokens less likely than this fraction of the likeliest one (0 = off)")
    repetition_penalty = slider(
        "repetition_penalty", "Repetition penalty", 0.05, "Make tokens already in the text less likely (1 = off)"
    )
    no_repeat = slider(
        "no_repeat_ngram_size", "No repeated n-grams", 1, "Never write the same run of this many tokens twice (0 = off)"
    )
    guidance = slider(
        "rating_guidance",
        "Rating guidance",
        0.1,
        "Reviews: push the text toward the stars asked, away from the opposite (1 = off)",
    )
    max_new_tokens = slider("max_new_tokens", "Max new tokens", 1, "Length limit; a token is a word or a piece of one")
    do_sample = gr.Checkbox(
        value=defaults.do_sample,
        label="Sample (off: greedy, always the likeliest token)",
        info="Draw each token at random from what the settings leave",
        elem_id=f"{prefix}do_sample",
    )
    seed = gr.Number(
        value=defaults.seed,
        label="Seed",
        info="The same model, prompt, settings and seed write the same text",
        precision=0,
        minimum=0,
        maximum=BOUNDS["seed"].high,
        elem_id=f"{prefix}seed",
    )
    if not with_length_and_seed:
        max_new_tokens.visible = False
        seed.visible = False
    return SettingsWidgets(
        temperature, top_k, top_p, repetition_penalty, max_new_tokens, do_sample, seed, min_p, no_repeat, guidance
    )


def settings_updates(settings: SamplingSettings) -> list:
    """Values for a SettingsWidgets list, in field order."""
    return [getattr(settings, name) for name in FIELDS]


def as_text(value: object) -> str:
    """A value for a Markdown widget, shown exactly as text: no tag, link, image or emphasis.

    Messages repeat what links and clients sent, so every Markdown punctuation mark is
    backslashed and <, > and & become entities; line breaks become spaces.
    """
    text = " ".join(str(value).splitlines())
    text = _MARKDOWN_PUNCTUATION.sub(r"\\\g<0>", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def page_error(error: Exception) -> gr.Error:
    """An error for the page's toast, which renders HTML: its message escaped, shown as typed."""
    return refused(error, html.escape(str(error)))


def warning_lines(messages: list[str]) -> str:
    """Markdown with one warning per line, each shown as plain text."""
    return "\n".join(f"- ⚠️ {as_text(m)}" for m in messages)


def reads_review_fields(task: str, prompt_format: str = "autowrite") -> bool:
    """Whether stars and headline mean anything: writing a review with a model that reads them.

    A plain-format model (a Hub checkpoint trained on review text alone) gets the text
    only: stars, category and headline would change nothing it writes.
    """
    return task == Task.REVIEW.value and prompt_format != "plain"


def reads_category(task: str, prompt_format: str = "autowrite") -> bool:
    """Whether the category means anything: a review or an ad by a model that reads the fields."""
    return task in (Task.REVIEW.value, Task.AD.value) and prompt_format != "plain"


def category_choices(task: str) -> list[tuple[str, str]]:
    """The category dropdown's (label, value) pairs: every category, led for an ad by any category."""
    named = [(name, name) for name in CATEGORIES]
    return [ANY_CATEGORY, *named] if task == Task.AD.value else named


def task_fields(task: str, prompt_format: str = "autowrite", category: str = "") -> list:
    """Updates for the fields row, stars, category and headline: those the model reads for the task.

    The category's choices are the task's; a category they lack (an ad's any, for a review)
    shows the task's default instead.
    """
    choices = category_choices(task)
    if category not in [value for _, value in choices]:
        category = inputs.parse_category(None, Task(task))
    review = reads_review_fields(task, prompt_format)
    return [
        gr.update(visible=reads_category(task, prompt_format)),
        gr.update(visible=review),
        gr.Dropdown(choices=choices, value=category),
        gr.update(visible=review),
    ]


def review_field_widgets(task: str, prompt_format: str) -> tuple[gr.Slider, gr.Dropdown, gr.Textbox]:
    """Rating, category and optional headline, as task_fields shows them for the task."""
    review = reads_review_fields(task, prompt_format)
    rating = gr.Slider(1, 5, value=5, step=1, label="Stars", visible=review, elem_id="rating")
    # Filterable: typing "pet" narrows the 17 categories to Pet Supplies. 280 px holds the
    # longest names ("Cell Phones and Accessories") on one line, in the box and in its list.
    category = gr.Dropdown(
        category_choices(task),
        value=inputs.parse_category(None, Task(task)),
        label="Category",
        filterable=True,
        min_width=280,
        elem_id="category",
    )
    headline = gr.Textbox(
        label="Headline (optional)",
        info="Left empty, a first line you end with Enter is the title",
        visible=review,
        elem_id="headline",
    )
    return rating, category, headline
