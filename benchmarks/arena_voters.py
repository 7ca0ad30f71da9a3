"""Voters for the load test (benchmarks/load.py --voters N): people who ask the arena for pairs and vote.

A voter types as every simulated person does, and where the others start a generation
every 10 s, it asks for a blind pair (arena_pair, 40 tokens each side, a drawn prompt),
reads it for a second and votes at random (arena_vote), under its own session as a
browser tab would. A pair refused as busy is load shed by design and counted apart, as a
refused generation is; anything else (a refused vote included) is an error.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

ENDPOINTS = ["arena_pair", "arena_vote", "leaderboard"]
PAIR_TOKENS = 40  # as the load test's generations
READ_S = 1.0  # a person reads the two samples before voting
CHOICES = ("A", "B", "tie", "both_bad")


@contextmanager
def scratch_votes() -> Iterator[str]:
    """A data folder of its own for the app under test, so its votes never reach anyone's real store."""
    before = os.environ.get("AUTOWRITE_DATA_DIR")
    with tempfile.TemporaryDirectory(prefix="autowrite-load-votes-") as folder:
        os.environ["AUTOWRITE_DATA_DIR"] = folder
        try:
            yield folder
        finally:
            if before is None:
                os.environ.pop("AUTOWRITE_DATA_DIR", None)
            else:
                os.environ["AUTOWRITE_DATA_DIR"] = before


def problem_with_pair(answer: object) -> str:
    """Why an arena_pair answer is not a finished blind pair ("" if it is)."""
    if not isinstance(answer, dict) or not answer.get("done") or not isinstance(answer.get("pair_id"), str):
        return f"expected a finished pair with its id, got {str(answer)[:120]}"
    if not isinstance(answer.get("a"), str) or not isinstance(answer.get("b"), str):
        return f"expected the texts a and b, got {str(answer)[:120]}"
    if {"model", "preset"} & set(answer):
        return f"a pair named its contenders before the vote: {str(answer)[:120]}"
    return ""


def problem_with_vote(answer: object) -> str:
    """Why an arena_vote answer does not reveal both contenders ("" if it does)."""
    sides = [answer.get(side) if isinstance(answer, dict) else None for side in ("a", "b")]
    if not all(isinstance(side, dict) and side.get("model") and side.get("preset") for side in sides):
        return f"expected both contenders revealed, got {str(answer)[:120]}"
    return ""


def check(api: Any, tally: Any) -> None:
    """A pair, its vote and the leaderboard, once each, their answers' shapes checked; latencies into tally."""
    session = f"load-check-voter-{os.getpid()}"
    start = time.monotonic()
    try:
        got = api.call("arena_pair", {"max_new_tokens": PAIR_TOKENS}, session=session)
        problem = problem_with_pair(got)
        tally.record("arena_pair", time.monotonic() - start)
        if not problem:
            start = time.monotonic()
            problem = problem_with_vote(
                api.call("arena_vote", {"pair_id": got["pair_id"], "vote": "A"}, session=session)
            )
            tally.record("arena_vote", time.monotonic() - start)
        if not problem:
            board = api.call("leaderboard", {})
            problem = "" if isinstance(board, dict) and board.get("votes", 0) >= 1 else f"no vote counted: {board}"
    except Exception as error:  # any failure is this check's answer
        problem = f"{type(error).__name__}: {error}"
    if problem:
        tally.error(f"check arena: {problem}")


def pair_and_vote(api: Any, tally: Any, session: str, busy_mark: str, rng: random.Random) -> None:
    """One pair and its vote, each timed; a pair refused as busy counted apart; every other failure an error."""
    start = time.monotonic()
    try:
        got = api.call("arena_pair", {"max_new_tokens": PAIR_TOKENS}, session=session)
    except Exception as error:
        if busy_mark in str(error):
            with tally.lock:
                tally.busy["arena_pair"] += 1
        else:
            tally.error(f"arena_pair: {type(error).__name__}: {error}")
        return
    tally.record("arena_pair", time.monotonic() - start)
    problem = problem_with_pair(got)
    if problem:
        tally.error(f"arena_pair: {problem}")
        return
    time.sleep(READ_S)  # the person reads both samples
    start = time.monotonic()
    try:
        answer = api.call("arena_vote", {"pair_id": got["pair_id"], "vote": rng.choice(CHOICES)}, session=session)
        problem = problem_with_vote(answer)
    except Exception as error:
        problem = f"{type(error).__name__}: {error}"
    if problem:
        tally.error(f"arena_vote: {problem}")
    else:
        tally.record("arena_vote", time.monotonic() - start)
