"""Widgets every tab reads (model and what to write), and the sampling controls."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio.blocks import Block
from gradio.components import Component

from autowrite import inputs
from autowrite.formats import CATEGORIES, Task
from autowrite.service import Request, Service
from autowrite.settings import BOUNDS, FIELDS, SamplingSettings
from autowrite.ui.calls import Group
from autowrite.ui.refusals import refused

# CommonMark's backslash escapes, less the three that become HTML entities instead.
_MARKDOWN_PUNCTUATION = re.compile(r"[!\"#$%'()*+,\-./:;=?@\[\\\]^_`{|}~]")

TASKS = [("Review", Task.REVIEW.value), ("Ad", Task.AD.value), ("Free text", Task.FREE.value)]
# An ad's first category choice: its prompt then names none, as the ads whose source names none.
ANY_CATEGORY = ("Any category", "")


@dataclass(frozen=True)
class RequestFields:
    """What a request is about, as the page or an API call sends it, before autowrite.inputs checks it.

    model: a name as the dropdown shows it (empty: the default); task: review, ad or free
    (empty: the model's own); rating, category and headline: a review's (an ad reads the
    category alone). Empty values mean their defaults.
    """

    model: Any = None
    task: Any = None
    rating: Any = None
    category: Any = None
    headline: Any = None

    def parse(self, service: Service, text: Any, *, text_name: str = "prompt", caller: str = "") -> Request:
        """The request these fields and a text make, for a caller; the first bad value raises InputError, named."""
        return inputs.parse_request(
            service, self.model, self.task, text, self.rating, self.category, self.headline, text_name=text_name,
            caller=caller,
        )  # fmt: skip


@dataclass
class Common:
    """The shared input widgets, created once and passed to each tab."""

    model: gr.Dropdown
    task: gr.Radio
    rating: gr.Slider
    category: gr.Dropdown
    headline: gr.Textbox
    review_fields: gr.Row  # the fields a model trained here reads: stars, category, headline

    @property
    def fields(self) -> Group:
        """The widgets a request's fields come from, read as one RequestFields."""
        widgets = {"model": self.model, "task": self.task, "rating": self.rating, "category": self.category}
        return Group({**widgets, "headline": self.headline}, RequestFields)

    def named(self) -> dict[str, Block]:
        """The widgets by name, as restore() and switch_model() fill them."""
        return {**self.fields.widgets, "review_fields": self.review_fields}


@dataclass(frozen=True)
class Control:
    """How the page shows one sampling setting: its label, a line saying what it does, and its widget."""

    label: str
    info: str
    step: float = 1  # a slider's
    # or "checkbox" (on or off), "number" (a value typed, as a seed), "text" (a list typed), "mirostat"
    kind: str = "slider"
    more: bool = False  # shown under "More samplers", closed at first: the page stays simple for newcomers


# Each setting's control, in the order the page shows them. Each info line says in words what
# the setting does and which value turns it off; docs/help.md, under "What do these mean?" on
# the page, says more. A setting of SamplingSettings needs a line here to have a widget:
# everything else (share links, the page's events, restoring a link) follows its name.
CONTROLS = {
    "temperature": Control("Temperature", "Below 1: safer, likelier words; above 1: more varied", 0.05),
    "top_k": Control("Top-k", "Draw only among the k likeliest tokens (0 = off)"),
    "top_p": Control("Top-p", "Draw only among the likeliest tokens that add up to this probability (1 = off)", 0.01),
    "min_p": Control("Min-p", "Drop tokens less likely than this fraction of the likeliest one (0 = off)", 0.01),
    "repetition_penalty": Control(
        "Repetition penalty", "Make tokens already in the text less likely (1 = off)", 0.05
    ),
    "no_repeat_ngram_size": Control(
        "No repeated n-grams", "Never write the same run of this many tokens twice (0 = off)"
    ),
    "rating_guidance": Control(
        "Rating guidance", "Reviews: push the text toward the stars asked, away from the opposite (1 = off)", 0.1
    ),
    "max_new_tokens": Control("Max new tokens", "Length limit; a token is a word or a piece of one"),
    "do_sample": Control(
        "Sample (off: greedy, always the likeliest token)", "Draw each token at random from what the settings leave",
        kind="checkbox",
    ),
    "seed": Control("Seed", "The same model, prompt, settings and seed write the same text", kind="number"),
    # The samplers peers offer (docs/samplers.md), in the order they act.
    "logit_bias": Control("Logit bias", "Words made likelier or less likely, as great: 2, awful: -5", kind="text", more=True),
    "banned_words": Control("Banned words", "Never written, however split into tokens: word, other word", kind="text", more=True),
    "dry_multiplier": Control("DRY multiplier", "Penalize a token that would extend a repeated run (0 = off)", 0.05, more=True),
    "dry_base": Control("DRY base", "How fast the penalty grows with the run's length", 0.05, more=True),
    "dry_allowed_length": Control("DRY allowed length", "Runs up to this many tokens go unpenalized", more=True),
    "dry_penalty_last_n": Control("DRY range", "How many last tokens to scan (-1 = the whole text)", more=True),
    "dry_sequence_breakers": Control("DRY sequence breakers", 'Text that ends a run, quoted: "\\n", ":"', kind="text", more=True),
    "top_n_sigma": Control("Top-n-sigma", "Keep tokens within n standard deviations of the top logit (0 = off)", 0.05, more=True),
    "typical_p": Control("Typical-p", "Keep the tokens nearest the expected surprise, up to this probability (1 = off)", 0.01, more=True),
    "epsilon_cutoff": Control("Epsilon cutoff", "Drop tokens less likely than this probability (0 = off)", 0.0001, more=True),
    "eta_cutoff": Control("Eta cutoff", "Epsilon's floor, lowered when the model is unsure (0 = off)", 0.0001, more=True),
    "xtc_probability": Control("XTC probability", "How often to drop the top choices but the least likely of them (0 = off)", 0.01, more=True),
    "xtc_threshold": Control("XTC threshold", "A choice is a top one when at least this likely", 0.01, more=True),
    "mirostat": Control("Mirostat", "Aim each token at a target surprise, in place of top-k, top-p and the cuts", kind="mirostat", more=True),
    "mirostat_tau": Control("Mirostat tau", "The target surprise in bits: higher, more varied", 0.1, more=True),
    "mirostat_eta": Control("Mirostat eta", "How fast mirostat corrects toward the target", 0.01, more=True),
    "samplers": Control("Sampler order", "The cuts in the order they act, as llama.cpp names them: top_k, top_p, min_p, temperature (empty: the built-in order)", kind="text", more=True),
}  # fmt: skip


def settings_widgets(
    defaults: SamplingSettings, *, with_length_and_seed: bool = True, prefix: str = ""
) -> dict[str, Component]:
    """A control for each setting (CONTROLS), by setting name, bounded as the settings are."""
    missing = set(FIELDS) - set(CONTROLS)
    if missing:
        raise ValueError(f"no control for the setting(s) {', '.join(sorted(missing))}: add them to CONTROLS")
    widgets = {n: _control(n, c, getattr(defaults, n), prefix) for n, c in CONTROLS.items() if not c.more}
    with gr.Accordion("More samplers", open=False, elem_id=f"{prefix}more-samplers"):
        widgets.update({n: _control(n, c, getattr(defaults, n), prefix) for n, c in CONTROLS.items() if c.more})
    if not with_length_and_seed:  # a compare column's: its length and seed are every column's
        for name in set(FIELDS) - set(inputs.COLUMN_FIELDS):
            widgets[name].visible = False
    return widgets


def _control(name: str, control: Control, value: Any, prefix: str) -> Component:
    """One setting's widget, starting at value."""
    shared = {"value": value, "label": control.label, "info": control.info, "elem_id": f"{prefix}{name}"}
    if control.kind == "checkbox":
        return gr.Checkbox(**shared)
    if control.kind == "text":  # a value, never markup: the page shows it as typed
        return gr.Textbox(max_lines=1, **shared)
    if control.kind == "mirostat":  # 1 (v1) is refused by name, so the page offers off and v2
        return gr.Radio([("Off", 0), ("Mirostat v2", 2)], **shared)
    bound = BOUNDS[name]
    if control.kind == "number":
        return gr.Number(precision=0, minimum=bound.low, maximum=bound.high, **shared)
    return gr.Slider(bound.low, bound.high, step=control.step, **shared)


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


def task_fields(task: str, prompt_format: str = "autowrite", category: str = "") -> dict[str, Any]:
    """Updates for the fields row, stars, category and headline, by Common's names: those the model reads for the task.

    The category's choices are the task's; a category they lack (an ad's any, for a review)
    shows the task's default instead.
    """
    choices = category_choices(task)
    if category not in [value for _, value in choices]:
        category = inputs.parse_category(None, Task(task))
    review = reads_review_fields(task, prompt_format)
    return {
        "review_fields": gr.update(visible=reads_category(task, prompt_format)),
        "rating": gr.update(visible=review),
        "category": gr.Dropdown(choices=choices, value=category),
        "headline": gr.update(visible=review),
    }


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
