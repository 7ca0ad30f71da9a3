"""The text a model continues for a request: the field header, a review's typed title, guidance's contrast.

Checkpoints trained here read the review or ad fields before the text (autowrite.formats);
any other model reads the text alone. Generation, the next-token view and live suggestions
all build their prompts here, so a request reads the same to the model in every tab.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from autowrite import formats
from autowrite.catalog import Entry
from autowrite.errors import UserError
from autowrite.formats import Task
from autowrite.settings import SamplingSettings

# Why 8,000 characters: one request must not be able to hold the CPU or memory for long.
MAX_PROMPT_CHARS = 8_000
# A review's prompt names a category: one asked without one names this, the page's default.
DEFAULT_CATEGORY = "Electronics"
GUIDANCE_OFF = "Rating guidance {why}; this text is written without it."

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass
class Request:
    """One generation request in the app's own terms."""

    model: str
    task: Task = Task.FREE
    text: str = ""
    rating: int = 5
    category: str = ""  # "": none chosen; an ad then has no category line, a review DEFAULT_CATEGORY
    headline: str = ""
    caller: str = ""  # who asked: the key fair admission shares the machine by (autowrite.scheduling)


def clean_text(text: str | None, what: str = "text") -> str:
    """Text with control characters removed (newlines and tabs kept), bounded in length."""
    text = _CONTROL.sub("", text or "").replace("\r", "")
    if len(text) > MAX_PROMPT_CHARS:
        raise UserError(f"The {what} is {len(text):,} characters; the limit is {MAX_PROMPT_CHARS:,}.")
    return text


def prompt(entry: Entry, request: Request, typing: bool = False) -> str:
    """The text the model continues: field markers for checkpoints trained here, else the text.

    typing: the header for text being typed, whose first line is the review's title
    while the headline field is empty (formats.prompt_for's title_next).
    """
    text = clean_text(request.text, "prompt")  # the limit is the whole text's, title line included
    if entry.prompt_format == "plain":
        return text
    request = title_from_first_line(replace(request, text=text))
    text = request.text
    category = clean_text(request.category, "category") or (DEFAULT_CATEGORY if request.task == Task.REVIEW else "")
    try:
        rating = int(request.rating) if request.task == Task.REVIEW else 5
    except (TypeError, ValueError):
        raise UserError(f"rating must be a whole number of stars from 1 to 5, got {request.rating!r}") from None
    try:
        return formats.prompt_for(
            request.task,
            text=text,
            category=category,
            rating=rating,
            headline=clean_text(request.headline, "headline"),
            title_next=typing,
        )
    except (formats.FormatError, ValueError) as error:
        raise UserError(str(error)) from None


Build = Callable[..., str]  # prompt(), or one that wraps it: (entry, request, typing=False) -> the prompt


def typed(entry: Entry, request: Request, build: Build = prompt) -> tuple[str, str]:
    """The text being typed and the header it follows, as live suggestions read them."""
    if entry.prompt_format != "plain":
        request = title_from_first_line(request)  # the typed body; its title joins the header
    text = clean_text(request.text, "text")
    context = build(entry, replace(request, text=""), typing=True)
    if entry.prompt_format == "autowrite" and context:
        # The typed text is the body; the field header ends right before its first word.
        text = " " + text.lstrip() if text.strip() else " "
    return text, context


def title_from_first_line(request: Request) -> Request:
    """A review typed with no headline field: its first line is the title, the rest the body.

    While typing with no headline, the prompt ends at "Title:", so typed text is the title;
    once the text goes past a line break, that line becomes the headline and the rest
    follows "Review:", as the checkpoints were trained. A generation's prompt is the same
    once it has a line break; before that it is the body, under an empty title.
    """
    text = (request.text or "").lstrip()  # a trailing line break counts: the body starts there
    if request.task != Task.REVIEW or (request.headline or "").strip() or "\n" not in text:
        return request
    title, _, body = text.partition("\n")
    return replace(request, headline=title.strip(), text=body.lstrip("\n"))


def contrast_rating(rating: int) -> int | None:
    """The stars rating guidance steers away from: the far end of the scale; none at 3 (docs/guidance.md)."""
    return {1: 5, 2: 5, 4: 1, 5: 1}.get(rating)


def guidance(
    entry: Entry,
    request: Request,
    variants: Sequence[SamplingSettings],
    opposite: Callable[[int], int | None] = contrast_rating,
    build: Build = prompt,
) -> tuple[str | None, list[str]]:
    """The prompt rating guidance steers away from (None: no variant is guided here), and why not if not.

    Guidance applies to reviews by a model that reads the stars, at 1, 2, 4 and 5 stars.
    Where it cannot apply, a note says so only if someone asked for it: a value other
    than the model card's, which is on for every task and rating the card's model writes.
    opposite: the stars to steer away from, given the stars asked; build: the prompt builder.
    """
    if all(v.rating_guidance == 1.0 for v in variants):
        return None, []
    asked = any(v.rating_guidance not in (1.0, entry.defaults.rating_guidance) for v in variants)
    if request.task != Task.REVIEW or entry.prompt_format == "plain":
        why = "applies to reviews written by a model that reads the stars"
        return None, [GUIDANCE_OFF.format(why=why)] if asked else []
    contrast = opposite(int(request.rating))
    if contrast is None:
        return None, [GUIDANCE_OFF.format(why="has no opposite to steer away from at 3 stars")] if asked else []
    return build(entry, replace(request, rating=contrast)), []
