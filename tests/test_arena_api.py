"""The arena over its API (gradio_client and REST, through the HTTP boundary): a pair, its vote, the
leaderboard, and each refusal named, with the app serving on after every one."""

from __future__ import annotations

import json
import random
from contextlib import contextmanager

import gradio as gr
import pytest
from gradio_client import Client

from autowrite.arena.contenders import Restriction
from autowrite.arena.pairs import Arena, Asked
from autowrite.arena.schema import database_url
from autowrite.arena.votes import Store
from autowrite.loading import ModelCache, load_entry
from autowrite.service import Request, Variant
from autowrite.settings import PRESET_NAMES, SamplingSettings
from autowrite.ui import arena_api
from autowrite.ui.app import launch_options
from tests.conftest import free_port, make_tiny_service
from tests.test_api_inputs import post


class Clock:
    """Time that moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def serving(arena: Arena):
    """The arena's endpoints on loopback, behind the app's HTTP boundary."""
    with gr.Blocks() as demo:
        arena_api.register(arena)
    demo.queue(max_size=32)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_options(demo))
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="module")
def arena_url(tiny_gpt2_dir, tiny_gptneo_dir, tmp_path_factory):
    service = make_tiny_service(tiny_gpt2_dir, tiny_gptneo_dir)
    clock = Clock()
    arena = Arena(service, Store(database_url(tmp_path_factory.mktemp("votes"))), clock=clock, votes_per_minute=3)
    with serving(arena) as url:
        yield url, arena, clock


def pair(client: Client, **values) -> dict:
    return client.predict(max_new_tokens=16, **values, api_name="/arena_pair")


def test_a_pair_is_blind_until_its_vote_and_the_vote_reveals_what_wrote_it(arena_url):
    url, arena, _ = arena_url
    client = Client(url, verbose=False)
    got = pair(client, model="tiny-gpt2")
    assert got["done"] and got["prompt"]["drawn"] and got["prompt"]["text"] in ("This speaker", "The battery")
    assert set(got) == {"pair_id", "prompt", "seed", "max_new_tokens", "a", "b", "done"}  # no name before the vote
    shown = client.predict(pair_id=got["pair_id"], vote="A", api_name="/arena_vote")
    a, b = shown["a"], shown["b"]
    assert a["model"] == b["model"] == "tiny-gpt2" and a["preset"] != b["preset"]
    assert {a["preset"], b["preset"]} <= set(PRESET_NAMES)
    assert a["settings"]["seed"] == b["settings"]["seed"] == got["seed"]  # one seed: only the contender differs
    # The texts are what those contenders write on that prompt and seed, decoded side by side.
    request = Request("tiny-gpt2", text=got["prompt"]["text"])
    columns = [Variant("tiny-gpt2", SamplingSettings(**side["settings"])) for side in (a, b)]
    *_, last = arena.service.side_by_side(request, columns)
    assert last.texts == [got["a"], got["b"]]

    board = client.predict(model="tiny-gpt2", api_name="/leaderboard")
    assert board["votes"] == 1 and len(board["contenders"]) == 2
    winner = board["contenders"][0]
    assert (winner["contender"], winner["wins"], winner["rank"]) == (a["contender"], 1, 1)
    text = client.predict(model="tiny-gpt2", format="csv", api_name="/leaderboard")
    assert text.splitlines()[0].startswith("rank,contender,model,preset,score,low,high")


def test_one_preset_pits_the_models_and_a_typed_prompt_is_written_as_asked(arena_url):
    url, _, _ = arena_url
    client = Client(url, verbose=False)
    got = pair(client, preset="Greedy", prompt="The battery", mode="review", rating=2, category="Books")
    assert got["prompt"] == {"mode": "review", "rating": 2, "category": "Books", "headline": "", "text": "The battery",
                             "drawn": False}  # fmt: skip
    shown = client.predict(pair_id=got["pair_id"], vote="tie", api_name="/arena_vote")
    assert {shown["a"]["model"], shown["b"]["model"]} == {"tiny-gpt2", "tiny-gptneo"}
    assert shown["a"]["preset"] == shown["b"]["preset"] == "Greedy"


def test_forged_repeated_expired_and_foreign_votes_are_refused_by_name(arena_url):
    url, _, clock = arena_url
    client, stranger = Client(url, verbose=False), Client(url, verbose=False)
    got = pair(client, model="tiny-gpt2")
    with pytest.raises(Exception, match="Vote refused: no pair has this id"):
        client.predict(pair_id="A" * 32, vote="A", api_name="/arena_vote")
    with pytest.raises(Exception, match="pair_id must be the id arena_pair gave"):
        client.predict(pair_id="../../etc", vote="A", api_name="/arena_vote")
    with pytest.raises(Exception, match="vote must be one of A, B, tie, both_bad"):
        client.predict(pair_id=got["pair_id"], vote="C", api_name="/arena_vote")
    with pytest.raises(Exception, match="Vote refused: this pair was issued to another session"):
        stranger.predict(pair_id=got["pair_id"], vote="A", api_name="/arena_vote")
    client.predict(pair_id=got["pair_id"], vote="B", api_name="/arena_vote")
    with pytest.raises(Exception, match="Vote refused: this pair already has its vote"):
        client.predict(pair_id=got["pair_id"], vote="A", api_name="/arena_vote")
    later = pair(client, model="tiny-gpt2")
    clock.now += 31 * 60
    with pytest.raises(Exception, match="Vote refused: this pair expired: pairs take a vote for 30 minutes"):
        client.predict(pair_id=later["pair_id"], vote="A", api_name="/arena_vote")
    assert pair(client, model="tiny-gpt2")["done"]  # and the app serves on


def test_contenders_the_server_did_not_offer_are_refused(arena_url):
    url, _, _ = arena_url
    client = Client(url, verbose=False)
    with pytest.raises(Exception, match="model must be one of the arena's models"):
        pair(client, model="openai/gpt-4")
    with pytest.raises(Exception, match="preset must be one of Greedy"):
        pair(client, preset="Temperature 5")
    with pytest.raises(Exception, match="The arena of tiny-gpt2 with Greedy has 1 contender"):
        pair(client, model="tiny-gpt2", preset="Greedy")
    # A client cannot name settings: the endpoint has no parameter for them.
    body = json.dumps({"prompt": "The battery", "temperature": 2.0}).encode()
    status, answer = post(url, "/gradio_api/call/v2/arena_pair", body)
    assert status == 422 and "arena_pair has no parameter 'temperature'" in answer["error"]


def test_a_session_voting_too_fast_is_told_when_it_may_vote_again(arena_url):
    url, _, _ = arena_url
    client = Client(url, verbose=False)
    pairs = [pair(client, model="tiny-gpt2") for _ in range(4)]
    for got in pairs[:3]:
        client.predict(pair_id=got["pair_id"], vote="A", api_name="/arena_vote")
    with pytest.raises(Exception, match=r"at most 3 votes a minute per session; try again in \d+ s"):
        client.predict(pair_id=pairs[3]["pair_id"], vote="A", api_name="/arena_vote")


def test_a_pair_still_being_written_takes_no_vote(tiny_gpt2_dir, tiny_gptneo_dir, tmp_path):
    arena = Arena(
        make_tiny_service(tiny_gpt2_dir, tiny_gptneo_dir), Store(database_url(tmp_path)), rng=random.Random(1)
    )
    drawn, written = arena.pair(Asked(), "me")
    next(written)
    with pytest.raises(Exception, match="this pair is still being written") as caught:
        arena.vote(drawn.id, "a", "me")
    assert caught.value.reason == "writing"
    *_, last = written
    assert last.done and arena.vote(drawn.id, "a", "me").id == drawn.id
    stopped, texts = arena.pair(Asked(), "me")
    next(texts)
    texts.close()  # a pair stopped part-way is never kept, so it never takes a vote
    with pytest.raises(Exception, match="no pair has this id"):
        arena.vote(stopped.id, "a", "me")


def test_a_full_model_cache_keeps_the_arena_to_the_models_it_holds(tiny_gpt2_dir, tiny_gptneo_dir, tmp_path):
    service = make_tiny_service(tiny_gpt2_dir, tiny_gptneo_dir)
    service.cache = ModelCache(load_entry, max_models=1)
    arena = Arena(service, Store(database_url(tmp_path)))
    assert {c.model for c in arena.contenders()} == {"tiny-gpt2", "tiny-gptneo"}  # room for either
    service.load("tiny-gpt2")
    assert {c.model for c in arena.contenders()} == {"tiny-gpt2"}  # a pair would push it out
    assert {c.model for c in arena.contenders(Restriction(model="tiny-gptneo"))} == {"tiny-gptneo"}
