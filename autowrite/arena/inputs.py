"""The arena's values from clients, checked where they enter, as autowrite.inputs checks the others.

Each parser turns one raw value into the arena's type or raises InputError naming the
parameter. A restriction names only what the arena offers; a vote is one of four words;
a pair id has the shape of the ids the arena issues, so a forged one that is not even
that is refused before the database is asked.
"""

from __future__ import annotations

import re
from typing import Any

from autowrite import inputs
from autowrite.arena.contenders import Restriction
from autowrite.arena.pairs import MAX_TOKENS, MIN_TOKENS, Arena, Asked
from autowrite.arena.prompts import Prompt
from autowrite.formats import Task
from autowrite.inputs import InputError
from autowrite.settings import PRESET_NAMES, shown

# The ids secrets.token_urlsafe(24) writes are 32 such characters; a little room either way.
_PAIR_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
# A vote's words: A better, B better, a tie, both bad; as a client may spell them.
VOTES = {"a": "a", "b": "b", "tie": "tie", "both_bad": "both_bad", "both bad": "both_bad", "bad": "both_bad"}
FORMATS = ("json", "csv")


def parse_restriction(arena: Arena, model: Any, preset: Any) -> Restriction:
    """The arena's restriction: a model it offers or none, a preset or none."""
    name = inputs.parse_model(model)
    if name and name not in arena.models:
        raise InputError(
            f"model must be one of the arena's models ({', '.join(arena.models)}) or empty; got {shown(name)}"
        )
    chosen = inputs.parse_choice("preset", preset, PRESET_NAMES, "")
    return Restriction(name, chosen)


def parse_asked(
    arena: Arena, model: Any, preset: Any, prompt: Any, mode: Any, rating: Any, category: Any, headline: Any,
    max_new_tokens: Any,
) -> Asked:  # fmt: skip
    """A pair asked for: the restriction, the prompt (empty: the arena draws one, with its own fields), the length."""
    restriction = parse_restriction(arena, model, preset)
    text = inputs.parse_text("prompt", prompt).strip()
    length = inputs.parse_whole("max_new_tokens", max_new_tokens, MIN_TOKENS, MAX_TOKENS, Asked().max_new_tokens)
    if not text:
        return Asked(restriction, None, length)
    # Left out, the task is the restricted model's own, else a review: what most contenders write.
    task = inputs.parse_task(mode, arena.service.entry(restriction.model).task if restriction.model else Task.REVIEW)
    typed = Prompt(
        task, text, inputs.parse_rating(rating), inputs.parse_category(category, task),
        inputs.parse_text("headline", headline, inputs.MAX_HEADLINE_CHARS),
    )  # fmt: skip
    return Asked(restriction, typed, length)


def parse_pair_id(value: Any) -> str:
    """A pair id as the arena issues them."""
    text = inputs.parse_text("pair_id", value, 64).strip()
    if not _PAIR_ID.fullmatch(text):
        raise InputError(f"pair_id must be the id arena_pair gave (32 letters, digits, - and _); got {shown(text)}")
    return text


def parse_vote(value: Any) -> str:
    """A vote: A, B, tie or both_bad."""
    word = value.strip().lower() if isinstance(value, str) else None
    if word not in VOTES:
        raise InputError(f"vote must be one of A, B, tie, both_bad; got {shown(value)}")
    return VOTES[word]


def parse_format(value: Any) -> str:
    """The leaderboard's format: json or csv."""
    return inputs.parse_choice("format", value, FORMATS, "json")
