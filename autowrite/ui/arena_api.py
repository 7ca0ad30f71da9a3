"""The arena's named API endpoints: arena_pair, arena_vote and leaderboard, checked as the others are.

Every value goes through autowrite.arena.inputs first, and every refusal (a forged or
expired pair, a second vote, too many votes, a model or preset the arena does not offer)
is an error whose message names the parameter or the reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal

import gradio as gr

from autowrite.arena import inputs
from autowrite.arena.pairs import Arena, Drawn, Written
from autowrite.arena.votes import PairRecord
from autowrite.formats import CATEGORIES
from autowrite.settings import PRESET_NAMES
from autowrite.ui import lanes
from autowrite.ui.api import published
from autowrite.ui.calls import paced

Category = Literal[CATEGORIES]
Preset = Literal[PRESET_NAMES]
Vote = Literal["A", "B", "tie", "both_bad"]
# A vote's own lane (scheduling.Capacity sizes it): one short transaction that must not wait
# behind generations or page loads.
VOTE = lanes.VOTE


def arena_pair(
    arena: Arena,
    caller: str,
    prompt: str | None = None,
    model: str | None = None,
    preset: Preset | None = None,
    mode: str | None = None,
    rating: int | None = None,
    category: Category | None = None,
    headline: str | None = None,
    max_new_tokens: int | None = None,
) -> Iterator[dict]:
    """A blind pair: two contenders (a model with a preset) drawn by the arena write one prompt with one seed.

    model or preset restrict the arena to one model (its presets compete) or one preset (the
    models compete). prompt: left out, the arena draws one from the models' examples, with
    random stars and category; typed, it is written as mode, rating, category and headline
    ask. max_new_tokens: 16-120, default 60. Each message has pair_id, the prompt's fields,
    seed, and the texts so far as a and b; the last has done: true, and the pair then takes
    one vote through arena_vote for 30 minutes. Which contender wrote which comes with the vote.
    """
    asked = inputs.parse_asked(arena, model, preset, prompt, mode, rating, category, headline, max_new_tokens)
    drawn, written = arena.pair(asked, caller)
    for part in paced(written):
        yield _pair_message(drawn, part)


def _pair_message(drawn: Drawn, part: Written) -> dict:
    p = drawn.prompt
    asked = {"mode": p.task.value, "rating": p.rating, "category": p.category, "headline": p.headline, "text": p.text}
    return {
        "pair_id": drawn.id,
        "prompt": {**asked, "drawn": p.origin == "drawn"},
        "seed": drawn.seed,
        "max_new_tokens": drawn.max_new_tokens,
        "a": part.texts[0],
        "b": part.texts[1],
        "done": part.done,
    }


def arena_vote(arena: Arena, caller: str, pair_id: str | None = None, vote: Vote | None = None) -> dict:
    """One vote for a pair arena_pair gave this session: A (A is better), B, tie or both_bad.

    The answer reveals the contenders: each side's model, preset and settings. A pair takes
    one vote, within 30 minutes of being written, from the session it was issued to; a
    session casts at most 30 votes a minute.
    """
    pair, choice = inputs.parse_pair_id(pair_id), inputs.parse_vote(vote)
    return revealed(arena.vote(pair, choice, caller), choice)


def revealed(record: PairRecord, vote: str) -> dict:
    """The vote's answer: the choice and who wrote each side."""

    def side(model: str, preset: str, settings: str) -> dict:
        return {"model": model, "preset": preset, "contender": f"{model} · {preset}", "settings": json.loads(settings)}

    return {
        "pair_id": record.id,
        "vote": vote,
        "a": side(record.model_a, record.preset_a, record.settings_a),
        "b": side(record.model_b, record.preset_b, record.settings_b),
    }


def leaderboard(
    arena: Arena,
    caller: str,
    model: str | None = None,
    preset: Preset | None = None,
    format: Literal["json", "csv"] | None = None,
) -> Any:
    """The leaderboard: a Bradley-Terry fit over the votes (a tie or both_bad is half a win each) with bootstrap
    95% intervals, on the Elo scale around 1000.

    model or preset: only the votes between contenders of that model or preset. format json
    (default): votes, method and one row per contender (rank, contender, model, preset,
    score, low, high, votes, wins, ties, both_bad, losses, win_rate); csv: the rows as CSV text.
    """
    board = arena.board(inputs.parse_restriction(arena, model, preset))
    return board.to_csv() if inputs.parse_format(format) == "csv" else board.as_dict()


ENDPOINTS = ((arena_pair, lanes.GENERATE), (arena_vote, VOTE), (leaderboard, {}))


def register(arena: Arena) -> None:
    """Add the arena's endpoints to the Blocks being built."""
    for endpoint, lane in ENDPOINTS:
        gr.api(published(endpoint, arena), api_name=endpoint.__name__, **lane)
