"""Prompt formats for reviews, ads and free text: built and parsed in this one place.

Training, evaluation and the app all go through these functions, so a checkpoint trained
here always sees at inference time exactly the text layout it was trained on.

The layout uses plain-text field markers and the tokenizer's own end-of-text token: no new
vocabulary, so a LoRA adapter stays small and loads on the unchanged base model.

    Category: Electronics
    Rating: 5/5
    Title: Great little speaker
    Review: The sound is clear and ...<eos>

Every prompt ends right after a marker's colon and every completion starts with a space,
because byte-level BPE vocabularies attach the space to the following word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Task(StrEnum):
    """What a model writes; decides the prompt layout."""

    REVIEW = "review"
    AD = "ad"
    FREE = "free"


# The category names shown in the app, spelled as people read them. Data files use
# other spellings (Home_and_Kitchen, "CDs & Vinyl"); canonical_category maps them here.
CATEGORIES: tuple[str, ...] = (
    "Arts Crafts and Sewing",
    "Automotive",
    "Books",
    "Cell Phones and Accessories",
    "Clothing Shoes and Jewelry",
    "Digital Music",
    "Electronics",
    "Gift Cards",
    "Health and Household",
    "Home and Kitchen",
    "Kindle Store",
    "Movies and TV",
    "Office Products",
    "Pet Supplies",
    "Sports and Outdoors",
    "Tools and Home Improvement",
    "Toys and Games",
)

RATINGS: tuple[int, ...] = (1, 2, 3, 4, 5)

CATEGORY_MARK = "Category:"
RATING_MARK = "Rating:"
TITLE_MARK = "Title:"
REVIEW_MARK = "Review:"
AD_MARK = "Ad:"


class FormatError(ValueError):
    """A field is missing or invalid, or a text does not follow the layout."""


@dataclass(frozen=True)
class Ad:
    """One ad and the category its source names, if any."""

    text: str
    category: str = ""


@dataclass(frozen=True)
class Review:
    """One review in the fields the prompt is conditioned on."""

    category: str
    rating: int
    headline: str
    body: str = ""

    def __post_init__(self) -> None:
        if self.rating not in RATINGS:
            raise FormatError(f"rating must be a whole number from 1 to 5, got {self.rating!r}")
        if not self.category.strip():
            raise FormatError("category must not be empty")


def canonical_category(name: str) -> str:
    """Map a data file's category spelling (Home_and_Kitchen, "Arts, Crafts & Sewing") to a display name."""
    cleaned = re.sub(r"[_,\s]+", " ", name.replace("&", "and")).strip()
    for known in CATEGORIES:
        if cleaned.lower() == known.lower():
            return known
    return cleaned


def _one_line(text: str) -> str:
    # Header fields are single-line by construction; a newline inside one would let the
    # field run into the next marker and break parsing.
    return " ".join(text.split())


def review_header(category: str, rating: int, headline: str | None = None) -> str:
    """The prompt for a review: ends after "Review:", or after "Title:" when no headline is given."""
    review = Review(category=_one_line(category), rating=rating, headline=_one_line(headline or ""))
    head = f"{CATEGORY_MARK} {review.category}\n{RATING_MARK} {review.rating}/5\n{TITLE_MARK}"
    if not review.headline:
        return head
    return f"{head} {review.headline}\n{REVIEW_MARK}"


def ad_header(category: str = "") -> str:
    """The prompt for an ad before its text, led by its category where one is given.

    Ads whose source names no category (the TV and wearable ads) have no category line, so
    a checkpoint trained on them alone reads the same prompt it always did.
    """
    category = _one_line(category)
    return f"{CATEGORY_MARK} {category}\n{AD_MARK}" if category else AD_MARK


def split_example(task: Task | str, record: Review | Ad | str) -> tuple[str, str]:
    """A training example as (prompt, completion) without the end-of-text token.

    The completion is the part the model is scored on: the review body, the ad text, or
    the whole free text (its prompt is empty). A review without a headline (a source that
    publishes none) is laid out as the app asks for one: an empty title line, then the body.
    """
    task = Task(task)
    if task is Task.REVIEW:
        if not isinstance(record, Review):
            raise FormatError("a review example needs a Review record")
        prompt = prompt_for(task, category=record.category, rating=record.rating, headline=record.headline)
        return prompt, " " + record.body.strip()
    if task is Task.AD:
        ad = record if isinstance(record, Ad) else Ad(text=record if isinstance(record, str) else record.body)
        return ad_header(ad.category), " " + _one_line(ad.text)
    text = record if isinstance(record, str) else getattr(record, "body", getattr(record, "text", ""))
    return "", text.strip()


def parse_review(text: str) -> Review:
    """Read a review back from text laid out by review_header plus a completion."""
    match = re.match(
        rf"{CATEGORY_MARK} (?P<category>[^\n]*)\n{RATING_MARK} (?P<rating>\d)/5\n"
        rf"{TITLE_MARK} ?(?P<headline>[^\n]*)(?:\n{REVIEW_MARK} ?(?P<body>.*))?\Z",
        text,
        flags=re.DOTALL,
    )
    if not match:
        raise FormatError("text does not follow the review layout")
    return Review(
        category=match["category"],
        rating=int(match["rating"]),
        headline=match["headline"].strip(),
        body=(match["body"] or "").strip(),
    )


def parse_ad(text: str) -> str:
    """Read an ad's text back from text laid out by ad_header plus a completion."""
    match = re.match(rf"(?:{CATEGORY_MARK} [^\n]*\n)?{AD_MARK}(?P<ad>.*)\Z", text, flags=re.DOTALL)
    if not match:
        raise FormatError("text does not start with the ad marker")
    return match["ad"].strip()


def prompt_for(
    task: Task | str,
    *,
    text: str = "",
    category: str = "",
    rating: int = 5,
    headline: str = "",
    title_next: bool = False,
) -> str:
    """The generation prompt for a task from the app's fields; text continues the body.

    A review with no headline has an empty title line: the checkpoints were trained on the
    body only (split_example), so they write a body well and a title badly (after "Title:"
    they wrote a sentence and stopped, or a body with no line break). title_next: end at
    "Title:" instead, for text that is the title being typed (the live tab's first line).
    """
    task = Task(task)
    if task is Task.REVIEW:
        header = review_header(category, rating, headline)
        if not _one_line(headline or "") and not title_next:
            header += f"\n{REVIEW_MARK}"
        return header + (" " + text.strip() if text.strip() else "")
    if task is Task.AD:
        return ad_header(category) + (" " + text.strip() if text.strip() else "")
    return text
