"""The HTTP boundary: bad bodies on the queue and named calls get a named 4xx, long links a clear answer."""

from __future__ import annotations

import json
import random
import socket
import time
import urllib.request
from urllib.parse import quote

import pytest

from autowrite.formats import Task
from autowrite.service import MAX_PROMPT_CHARS
from autowrite.settings import SamplingSettings
from autowrite.ui import boundary
from autowrite.ui.boundary import ANONYMOUS, MAX_QUERY_BYTES, caller
from autowrite.ui.sessions import LeanSession, LeanStateHolder
from autowrite.ui.share import MAX_LINK_CHARS, PageState, to_query
from tests.conftest import launched, make_tiny_service
from tests.test_api_inputs import body_of, post, rest_call


@pytest.fixture(scope="module")
def served(tiny_gpt2_dir, tiny_gptneo_dir):
    """The app over the tiny models, launched as app.py launches it: (url, demo)."""
    with launched(make_tiny_service(tiny_gpt2_dir, tiny_gptneo_dir)) as served_app:
        yield served_app


def numbers(demo) -> dict[str, int]:
    """The function numbers of the public suggest endpoint and of the page's task radio (review_fields_for)."""
    by_name = {fn.api_name: index for index, fn in demo.fns.items()}
    task = next(i for i, fn in demo.fns.items() if getattr(fn.fn, "__name__", "") == "review_fields_for")
    return {"suggest": by_name["suggest"], "task": task}


def page_event(index: int, data: list, **fields) -> dict:
    """A queue/join body as Gradio's page sends it."""
    return {
        "data": data,
        "event_data": None,
        "fn_index": index,
        "trigger_id": 7,
        "session_hash": "k6zw27luum8",
        **fields,
    }


def encoded(value: object) -> bytes:
    return json.dumps(value).encode()


@pytest.mark.parametrize(
    ("session_hash", "key"),
    [
        (None, ""),
        ("k6zw27luum8", "k6zw27luum8"),  # a page's session is its own caller
        (f"{ANONYMOUS}127.0.0.1/0123abcd", f"{ANONYMOUS}127.0.0.1"),  # a REST call without one: its host
        (f"{ANONYMOUS}::1/0123abcd", f"{ANONYMOUS}::1"),
        (f"{ANONYMOUS}unknown/0123abcd", f"{ANONYMOUS}unknown"),
    ],
)
def test_caller_is_the_session_or_the_anonymous_calls_host(session_hash, key):
    assert caller(session_hash) == key


def bad_bodies(n: dict[str, int]) -> list[tuple[str, bytes, int, str]]:
    """(path, body, status, message) for each kind of bad call, on the queue and by name."""
    join, call = "/gradio_api/queue/join", "/gradio_api/call/suggest"
    deep: list = ["x"]
    for _ in range(40):
        deep = [deep]
    return [
        (join, encoded(page_event(n["suggest"], ["\ud800 x"])), 422, "text holds invalid Unicode at character 1"),
        (join, encoded(page_event(n["task"], ["review", "a\udfff"])), 422, "model holds invalid Unicode at character 2"),
        (join, encoded(page_event(n["task"], [], event_data={"\ud800": 1})), 422, "event_data has a key that holds"),
        (join, encoded(page_event(n["task"], [], event_data={"a": [{"b": "x\udbff"}]})), 422, "event_data['a'][0]['b'] holds"),
        (join, b"\xff\xfe{", 422, 'queue/join: the body must be JSON, {"data"'),
        (join, b"[1, 2]", 422, "the body must be a JSON object"),
        (join, b"null", 422, "the body must be a JSON object"),
        (join, encoded({**page_event(n["task"], []), "data": "review"}), 422, 'must hold "data", a list of values'),
        (join, encoded(page_event("3", [])), 422, "fn_index must be a function's number, a whole number from 0, got text"),
        (join, encoded(page_event(True, [])), 422, "fn_index must be a function's number, a whole number from 0, got true"),
        (join, encoded(page_event(-1, [])), 422, "a whole number from 0, got -1"),
        (join, encoded(page_event(2.5, [])), 422, "a whole number from 0, got 2.5"),
        (join, encoded(page_event(99_999, [])), 404, "No function number 99999"),
        (join, encoded({"data": [], "session_hash": "s"}), 422, "the body must hold fn_index"),
        (join, encoded({"data": [], "fn_index": n["task"]}), 422, "the body must hold session_hash"),
        (join, encoded(page_event(n["task"], [], session_hash=5)), 422, "session_hash must be text, got 5"),
        (join, encoded(page_event(n["task"], [], session_hash="s" * 129)), 422, "session_hash is 129 characters; at"),
        (join, encoded(page_event(n["task"], [], session_hash="anon:1.2.3.4/x")), 422, "may not start with 'anon:'"),
        (join, encoded(page_event(n["task"], [], event_data="x")), 422, "event_data must be an object or null, got text"),
        (join, encoded(page_event(n["task"], [], trigger_id=[1])), 422, "trigger_id must be a whole number or null, got a"),
        (join, encoded(page_event(n["task"], ["review", "x", "Books", 3])), 422, "takes at most 3 values, got 4"),
        (join, encoded(page_event(n["task"], deep)), 422, "] nests deeper than 32 levels"),
        (call, encoded({"data": ["x"], "fn_index": n["suggest"]}), 422, "suggest: a call by name takes no fn_index"),
        (call, encoded({"data": ["x"], "fn_index": None}), 422, "a call by name takes no fn_index"),
        (call, encoded({"data": ["x", "tiny-gpt2", {"\udc00k": 1}]}), 422, "mode has a key that holds invalid Unicode"),
        (call, encoded({"data": ["x"], "session_hash": 7}), 422, "session_hash must be text, got 7"),
        (call, encoded({"data": ["x"], "session_hash": "anon:9.9.9.9/1"}), 422, "may not start with 'anon:'"),
        (call, encoded({"data": ["x"], "event_data": [1]}), 422, "event_data must be an object or null, got a list"),
        (call, b'"just text"', 422, "suggest: the body must be a JSON object"),
        ("/gradio_api/call/v2/suggest", encoded({"text": "x", "bogus": 1}), 422, "suggest has no parameter 'bogus'; it"),
        ("/gradio_api/call/v2/suggest", encoded({"text": "\ud800"}), 422, "text holds invalid Unicode at character 1"),
        ("/gradio_api/run/suggest", b"{junk", 422, "suggest: the body must be JSON"),
        ("/gradio_api/api/suggest", encoded({"data": ["x"], "fn_index": "x"}), 422, "fn_index must be a function's"),
        ("/gradio_api/run/predict", encoded(page_event(99_999, [])), 404, "No function number 99999"),
    ]  # fmt: skip


def test_bad_bodies_get_a_named_4xx_and_the_app_keeps_serving(served):
    url, demo = served
    for path, body, status, message in bad_bodies(numbers(demo)):
        answered, answer = post(url, path, body)
        assert (answered, set(answer)) == (status, {"error"}), (path, body[:80], answer)
        assert message in answer["error"], (path, body[:80], answer)
    assert rest_call(url, "suggest", body_of(["The sound", "tiny-gpt2", None, None, None, None, 0]))[0] == "complete"


def queue_result(url: str, session_hash: str, event_id: str) -> dict:
    """The process_completed message of an event read from the page's event stream."""
    with urllib.request.urlopen(f"{url}gradio_api/queue/data?session_hash={session_hash}", timeout=60) as stream:
        for raw in stream:
            line = raw.decode().strip()
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed" and message.get("event_id") == event_id:
                    return message
    raise AssertionError("no process_completed message")


def test_the_pages_own_events_and_gradio_clients_still_pass(served):
    """The page's events carry fn_index, data, event_data, session_hash and trigger_id; gradio_client's some of them."""
    from gradio_client import Client

    url, demo = served
    n = numbers(demo)
    status, answer = post(url, "/gradio_api/queue/join", encoded(page_event(n["task"], ["review", "tiny-gptneo"])))
    assert status == 200, answer
    message = queue_result(url, "k6zw27luum8", answer["event_id"])
    assert message["success"] and message["output"]["data"][0]["visible"] is True
    tab_select = next(i for i, fn in demo.fns.items() if getattr(fn.fn, "args", None) == ("compare",))
    body = page_event(tab_select, [], event_data={"value": "Compare", "index": 2})
    status, answer = post(url, "/gradio_api/run/predict?tab=compare", encoded(body))  # queue=False: /run/predict
    active = demo.fns[tab_select].outputs[0]._id  # a State: its value stays in the session
    assert status == 200 and answer["data"] == [None], answer
    session = demo.state_holder["k6zw27luum8"]  # the page's session keeps its state, and can make a deep link
    assert isinstance(session, LeanSession) and session[active] == "compare"
    with urllib.request.urlopen(f"{url}gradio_api/deep_link?session_hash=k6zw27luum8", timeout=30) as linked:
        assert json.loads(linked.read())
    words = Client(url, verbose=False).predict("The sound", "tiny-gpt2", api_name="/suggest")
    assert "words" in words


def test_a_call_without_a_session_hash_gets_one_of_its_own(served, monkeypatch):
    url, demo = served
    monkeypatch.setattr(boundary, "SWEEP_S", 1e9)  # keep the answered calls' sessions to look at
    before = set(demo.state_holder.session_data)
    for _ in range(3):
        assert (
            rest_call(url, "suggest", body_of(["The sound", "tiny-gpt2", None, None, None, None, 0]))[0] == "complete"
        )
    kind, _ = rest_call(url, "suggest", encoded({"data": ["The", "tiny-gpt2"], "session_hash": None}))
    assert kind == "complete"
    made = set(demo.state_holder.session_data) - before
    assert len(made) == 4 and all(key.startswith(f"{ANONYMOUS}127.0.0.1/") for key in made)
    assert {caller(key) for key in made} == {f"{ANONYMOUS}127.0.0.1"}
    assert isinstance(demo.state_holder, LeanStateHolder)
    assert all(isinstance(demo.state_holder.session_data[key], LeanSession) for key in made)


def test_the_sessions_of_answered_anonymous_calls_are_forgotten(served, monkeypatch):
    """Gradio's 2,000 message queues would otherwise fill with one-call sessions and push out page tabs'."""
    url, demo = served
    monkeypatch.setattr(boundary, "SWEEP_S", 0.0)
    kept = "page-tab-1"
    assert rest_call(url, "suggest", encoded({"data": ["The", "tiny-gpt2"], "session_hash": kept}))[0] == "complete"
    for _ in range(5):
        assert rest_call(url, "suggest", body_of(["The sound", "tiny-gpt2"]))[0] == "complete"
    queues = demo._queue.pending_messages_per_session
    anonymous = [key for key in [*queues, *demo.state_holder.session_data] if key.startswith(ANONYMOUS)]
    assert len(anonymous) <= 2  # the last call's own session, in the queue and the state holder
    assert kept in queues and kept in demo.state_holder.session_data


def test_a_call_by_keyword_is_the_same_call_by_position(served):
    url, _ = served
    status, answer = post(url, "/gradio_api/call/v2/suggest", encoded({"text": "The sound", "model": "tiny-gpt2"}))
    assert status == 200, answer
    stream = urllib.request.urlopen(f"{url}gradio_api/call/v2/suggest/{answer['event_id']}", timeout=60)
    lines = [raw.decode().strip() for raw in stream]
    by_keyword = json.loads(next(line for line in lines if line.startswith("data:"))[5:])
    kind, by_position = rest_call(url, "suggest", body_of(["The sound", "tiny-gpt2"]))
    assert kind == "complete" and by_keyword == by_position


def random_cjk(count: int) -> str:
    rng = random.Random(0)
    return "".join(chr(rng.randrange(0x4E00, 0xA000)) for _ in range(count))


def get_in_pieces(url: str, target: str) -> tuple[int, bytes]:
    """A GET sent in 1,400-byte pieces, as a request line arrives over a network; its status and body."""
    port = int(url.rsplit(":", 1)[1].strip("/"))
    request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for start in range(0, len(request), 1400):
            connection.sendall(request[start : start + 1400])
            time.sleep(0.001)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_a_link_too_long_gets_a_page_saying_what_to_do(served):
    url, _ = served
    raw = "/?tab=generate&prompt=" + quote(random_cjk(MAX_PROMPT_CHARS))  # 72 KB, as a person might paste
    assert len(raw) > 70_000
    status, body = get_in_pieces(url, raw)
    assert status == 414 and b"too long" in body and b"Copy share link" in body and b"prompt_z=" in body
    status, body = get_in_pieces(url, "/gradio_api/info?x=" + "a" * (MAX_QUERY_BYTES + 1))
    assert status == 414 and "at most" in json.loads(body)["error"]
    # The longest link the app makes opens, even when it arrives in pieces.
    made = to_query(PageState("tiny-gpt2", Task.FREE, random_cjk(MAX_PROMPT_CHARS), SamplingSettings()))
    assert len(made) > 16 * 1024 and MAX_LINK_CHARS < MAX_QUERY_BYTES < 65_536
    status, body = get_in_pieces(url, "/" + made)
    assert status == 200 and b"<!doctype html>" in body[:100].lower()
