"""Values from clients, checked once where they enter: API calls and share links.

An API call brings any JSON (wrong types, NaN, lone surrogates); a link brings any text.
Each parser here turns one raw value into the app's type or raises InputError with a
message that names the parameter. The API answers that message as its error; a share
link falls back to the default and shows the message as a notice. Both use these same
parsers, so the API and links accept the same values. A value of None, or an empty
string, means the default.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from autowrite.formats import CATEGORIES, RATINGS, Task, canonical_category
from autowrite.report import HEADLINE_CHARS
from autowrite.service import (
    DEFAULT_CATEGORY,
    MAX_COLUMNS,
    MAX_GHOST_TOKENS,
    MAX_PROMPT_CHARS,
    MAX_REPORT_SEEDS,
    MAX_SAMPLES,
    Request,
    Service,
    UserError,
)
from autowrite.settings import FIELDS, PRESET_NAMES, shown

MAX_HEADLINE_CHARS = 200  # a headline is one line; the checkpoints saw titles under 200 characters
MAX_MODEL_CHARS = 200  # a catalog name or an owner/name repo id
# A compare column's own settings: every setting but the seed and the length, which are the
# same for every column; in FIELDS order, as the links and the API name them. A new setting
# joins the columns with no change here.
COLUMN_FIELDS = tuple(name for name in FIELDS if name not in ("seed", "max_new_tokens"))
COMPARE_MAX_TOKENS = 200  # the compare tab's length slider; more would hold four decodes for minutes
COMPARE_TOKENS = 60  # the compare tab's default length
REPORT_SEEDS = 8  # the report card's default number of seeds
DEFAULT_RATING = 5
MAX_BRANCH_TOKENS = 32  # tokens chosen by hand in one text: a branch of a branch of ...
MAX_TOKEN_ID = 1_000_000  # above any vocabulary the app loads; the model checks its own


class InputError(UserError):
    """A client's value for one parameter cannot be used; the message names the parameter."""


def _kind(value: Any) -> str:
    return {bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "an object"}.get(
        type(value), type(value).__name__
    )


def parse_text(name: str, value: Any, limit: int = MAX_PROMPT_CHARS) -> str:
    """A text field: a string of valid Unicode within the limit; None is empty."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"{name} must be text, got {_kind(value)} {shown(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:  # a lone surrogate ("\ud800") that JSON can carry
        raise InputError(f"{name} holds invalid Unicode at character {error.start + 1} (a lone surrogate)") from None
    if len(value) > limit:
        raise InputError(f"{name} is {len(value):,} characters; the limit is {limit:,}")
    return value


def parse_whole(name: str, value: Any, low: int, high: int, default: int) -> int:
    """A whole number within [low, high]; numbers may come as text ("5") or as 5.0."""
    if value is None or value == "":
        return default
    problem = f"{name} must be a whole number from {low} to {high}, got {shown(value)}"
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise InputError(problem) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(problem)
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        raise InputError(problem)
    if not low <= value <= high:
        raise InputError(problem)
    return int(value)


def parse_choice(name: str, value: Any, allowed: Sequence[str], default: str) -> str:
    """One of a few names, spelled exactly."""
    if value is None or value == "":
        return default
    if not isinstance(value, str) or value not in allowed:
        raise InputError(f"{name} must be one of {', '.join(allowed)}; got {shown(value)}")
    return value


def parse_rating(value: Any) -> int:
    """Stars asked of a review."""
    return parse_whole("rating", value, RATINGS[0], RATINGS[-1], DEFAULT_RATING)


def parse_category(value: Any, task: Task = Task.REVIEW) -> str:
    """A product category the app offers, in any spelling a data file uses ("Pet_Supplies", "Arts, Crafts & Sewing").

    None or empty is a review's default category; for an ad it is "", any category: the
    ad then has no category line, as the ads whose source names none were trained.
    """
    if value is None or value == "":
        return "" if task is Task.AD else DEFAULT_CATEGORY
    known = canonical_category(value) if isinstance(value, str) else None
    if known not in CATEGORIES:
        raise InputError(f"category must be one of {', '.join(CATEGORIES)}; got {shown(value)}")
    return known


def parse_task(value: Any, default: Task) -> Task:
    """What to write: review, ad or free text; None is the model's own.

    Links and the API publish this parameter as `mode`, so errors name it so.
    """
    return Task(parse_choice("mode", value, [task.value for task in Task], default.value))


def parse_samples(value: Any) -> int:
    """How many samples the generate tab writes at once."""
    return parse_whole("samples", value, 1, MAX_SAMPLES, 1)


def parse_ghost_tokens(value: Any, default: int) -> int:
    """The ghost continuation's length in tokens; 0 asks for the words alone."""
    return parse_whole("ghost_tokens", value, 0, MAX_GHOST_TOKENS, default)


def parse_seeds(value: Any) -> int:
    """How many seeds a report runs each column over."""
    return parse_whole("seeds", value, 1, MAX_REPORT_SEEDS, REPORT_SEEDS)


def parse_headline_chars(value: Any) -> int:
    """The ad report's length limit in characters."""
    return parse_whole("headline_chars", value, 10, 500, HEADLINE_CHARS)


def parse_compare_tokens(value: Any) -> int:
    """A compare's length: every column writes at most this many tokens."""
    return parse_whole("max_new_tokens", value, 1, COMPARE_MAX_TOKENS, COMPARE_TOKENS)


def parse_branch(value: Any, length: int) -> dict[int, int]:
    """Tokens chosen by hand ("12:345,20:77": step 12 writes token 345, ...), within length steps.

    Steps count from 0, the first new token; each appears once. Whether a token id is in
    the model's vocabulary is the model's to say.
    """
    if value is None or value == "":
        return {}
    problem = f"branch must be step:token pairs such as 12:345,20:77, got {shown(value)}"
    if not isinstance(value, str) or len(value) > MAX_BRANCH_TOKENS * 16:
        raise InputError(problem)
    pairs = [pair.strip() for pair in value.split(",")]
    if len(pairs) > MAX_BRANCH_TOKENS:
        raise InputError(f"branch chooses at most {MAX_BRANCH_TOKENS} tokens, got {len(pairs)}")
    branch: dict[int, int] = {}
    for pair in pairs:
        step, colon, token = pair.partition(":")
        if not (colon and _digits(step.strip()) and _digits(token.strip())):
            raise InputError(problem)
        step_number, token_id = int(step), int(token)
        if step_number >= length or token_id >= MAX_TOKEN_ID or step_number in branch:
            raise InputError(f"branch: {shown(pair)} must name a step from 0 to {length - 1}, once, and a token id")
        branch[step_number] = token_id
    return dict(sorted(branch.items()))


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def branch_text(branch: dict[int, int]) -> str:
    """A branch as parse_branch reads it."""
    return ",".join(f"{step}:{token}" for step, token in sorted(branch.items()))


def parse_model(value: Any) -> str:
    """A model's name as the dropdown shows it, or an empty string for the default."""
    return parse_text("model", value, MAX_MODEL_CHARS).strip()


def parse_presets(value: Any) -> list[str]:
    """The compare columns' presets: a list of 1 to MAX_COLUMNS preset names; None is all four."""
    if value is None:
        return list(PRESET_NAMES[:MAX_COLUMNS])
    if not isinstance(value, list):
        raise InputError(f'presets must be a list of preset names such as ["Greedy", "Creative"], got {shown(value)}')
    if not 1 <= len(value) <= MAX_COLUMNS:
        raise InputError(f"presets must name 1 to {MAX_COLUMNS} columns, got {len(value)}")
    for index, name in enumerate(value):
        if name not in PRESET_NAMES:
            raise InputError(f"presets[{index}] must be one of {', '.join(PRESET_NAMES)}; got {shown(name)}")
    return list(value)


def parse_columns(value: Any, count: int) -> list[dict]:
    """Each compare column's own model and settings over its preset; None is none of its own.

    A column's model is a name as the dropdown shows it; none (or null) is the page's model.
    """
    if value is None:
        return [{}] * count
    if not isinstance(value, list):
        raise InputError(
            f'columns must be a list of objects such as [{{}}, {{"temperature": 1.3}}], got {shown(value)}'
        )
    if len(value) > count:
        raise InputError(f"columns must have at most one object per preset ({count}), got {len(value)}")
    for index, own in enumerate(value):
        if not isinstance(own, dict):
            raise InputError(f"columns[{index}] must be an object, got {_kind(own)} {shown(own)}")
        unknown = set(own) - {"model", *COLUMN_FIELDS}
        if unknown:
            raise InputError(
                f"columns[{index}]: a column takes only model, {', '.join(COLUMN_FIELDS)} (the seed and length are "
                f"shared); got {shown(sorted(unknown))}"
            )
        if "model" in own:
            parse_text(f"columns[{index}].model", own["model"], MAX_MODEL_CHARS)
    return [*value, *[{}] * (count - len(value))]


def parse_request(
    service: Service,
    model: Any,
    task: Any,
    text: Any,
    rating: Any,
    category: Any,
    headline: Any,
    text_name: str = "prompt",
    caller: str = "",
) -> Request:
    """A request from a client's raw fields, for a caller (autowrite.ui.calls); the first bad one raises InputError."""
    entry = service.entry(parse_model(model) or None)
    chosen = parse_task(task, entry.task)
    return Request(
        model=entry.name,
        task=chosen,
        text=parse_text(text_name, text),
        rating=parse_rating(rating),
        category=parse_category(category, chosen),
        headline=parse_text("headline", headline, MAX_HEADLINE_CHARS),
        caller=caller,
    )
