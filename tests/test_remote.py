"""The remote model: the wire format's settings mapping, and a real llama.cpp server on loopback."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app import parse_args
from autowrite.catalog import CatalogError, Entry, load_catalog
from autowrite.decode import last
from autowrite.formats import Task
from autowrite.loading import ModelCache, embedded_gguf_path, load_entry, remote_entry
from autowrite.remote import RemoteClient, candidates, next_words, split_typed, steps_of
from autowrite.remote_wire import (
    LLAMA_CPP,
    LLAMA_CPP_PYTHON,
    MAX_LOGPROBS,
    NO_LOGPROBS,
    OTHER,
    VLLM,
    NoLogprobs,
    NoSampler,
    RemoteError,
    completion_body,
    error_message,
    next_token_body,
    server_kind,
    sse_events,
    top_logprobs,
)
from autowrite.service import Request, Service, Unavailable, UserError, Variant, model_errors
from autowrite.settings import SamplingSettings, SettingsError
from autowrite.ui.compare import column_view

# --- the request mapping -------------------------------------------------------------------


def test_sampling_settings_map_onto_the_completions_request():
    settings = SamplingSettings(temperature=0.7, top_k=5, top_p=0.9, repetition_penalty=1.3, max_new_tokens=12, seed=9)
    assert completion_body("Hi", settings, stream=True) == {
        "prompt": "Hi",
        "max_tokens": 12,
        "seed": 9,
        "temperature": 0.7,
        "top_k": 5,
        "top_p": 0.9,
        "repetition_penalty": 1.3,  # vLLM, TGI
        "repeat_penalty": 1.3,  # llama.cpp's Python server
        "min_p": 0.0,  # llama.cpp would filter at 0.05 otherwise
        "stream": True,
    }
    # 0 and 1.0 mean "off" on the servers as here; the model is named only when given.
    body = completion_body("Hi", settings.replace(top_k=0, top_p=1.0), model="served")
    assert (body["top_k"], body["top_p"], body["model"]) == (0, 1.0, "served")
    assert "model" not in completion_body("Hi", settings)


def test_min_p_is_sent_and_the_ngram_ban_is_refused_by_name(tiny_service):
    assert completion_body("Hi", SamplingSettings(min_p=0.05))["min_p"] == 0.05
    assert completion_body("Hi", SamplingSettings(min_p=0.05, do_sample=False))["min_p"] == 0.0  # greedy reads none
    client = RemoteClient("http://127.0.0.1:9/v1")  # never reached: the refusal comes first
    with pytest.raises(Unavailable, match="no n-gram ban: set no_repeat_ngram_size to 0"), model_errors():
        next(client.stream_many("Hi", [SamplingSettings(no_repeat_ngram_size=3)]))


def test_greedy_is_temperature_zero_and_top_k_one():
    body = completion_body("Hi", SamplingSettings(do_sample=False, temperature=1.5, top_p=0.5, max_new_tokens=3))
    assert (body["temperature"], body["top_k"], body["max_tokens"]) == (0.0, 1, 3)
    assert "top_p" not in body  # TGI refuses 1.0, and no server reads it when greedy


def test_next_token_request_asks_one_token_and_its_alternatives():
    body = next_token_body("Hi", 50)
    assert (body["max_tokens"], body["logprobs"], body["temperature"], body["stream"]) == (1, MAX_LOGPROBS, 0.0, False)
    assert next_token_body("Hi", 5, model="m")["logprobs"] == 5


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/v1"),
        ("http://gpu-box:8000/v1/", "http://gpu-box:8000/v1"),
        (" https://example.org/llm ", "https://example.org/llm/v1"),
    ],
)
def test_server_address_becomes_the_api_root(url, base):
    assert remote_entry(url, model="m").url == base


@pytest.mark.parametrize("url", ["localhost:8000", "ftp://host/v1", "http://"])
def test_malformed_server_address_is_refused_at_the_command_line(url, capsys):
    with pytest.raises(SystemExit):
        parse_args(["--remote-url", url])
    assert "--remote-url" in capsys.readouterr().err


def test_flags_and_environment_name_the_server(monkeypatch):
    monkeypatch.setenv("AUTOWRITE_REMOTE_URL", "http://10.0.0.5:8000")
    monkeypatch.setenv("AUTOWRITE_REMOTE_API_KEY", "secret")
    args = parse_args(["--remote-model", "Qwen/Qwen2.5-0.5B"])
    assert (args.remote_url, args.remote_model, args.remote_api_key) == (
        "http://10.0.0.5:8000/v1",
        "Qwen/Qwen2.5-0.5B",
        "secret",
    )
    monkeypatch.delenv("AUTOWRITE_REMOTE_URL")
    assert parse_args([]).remote_url is None


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (400, '{"object": "error", "message": "too long", "type": "BadRequestError"}', "too long"),  # vLLM
        (400, '{"error": {"message": "context length exceeded", "type": "invalid_request_error"}}', "context length"),
        (422, '{"error": "`top_p` must be > 0.0 and < 1.0", "error_type": "validation"}', "`top_p` must be"),  # TGI
        (500, '{"error": {"message": "1 validation error\\n\\n  File \\"app.py\\", line 1"}}', "1 validation error"),
        (502, "<html>Bad gateway</html>", "<html>Bad gateway</html>"),
        (500, '{"error": {"message": ""}}', "HTTP 500 without an explanation"),
    ],
)
def test_server_errors_are_read_from_each_servers_format(status, body, message):
    assert error_message(status, body).startswith(message)
    assert "File" not in error_message(status, body)


def test_server_sent_events_are_parsed_up_to_done():
    lines = [": ping - 2024", "", 'data: {"choices": [{"text": " a"}]}', "", "data: [DONE]", 'data: {"late": 1}']
    assert list(sse_events(lines)) == [{"choices": [{"text": " a"}]}]
    with pytest.raises(RemoteError, match="stopped with an error: out of memory"):
        list(sse_events(['data: {"error": "out of memory"}']))


def test_missing_logprobs_are_said_plainly():
    tgi_answer = {"choices": [{"text": " a", "logprobs": None, "finish_reason": "length"}]}
    with pytest.raises(NoLogprobs, match="returned no log-probabilities.*TGI's completions route does not"):
        top_logprobs(tgi_answer, "http://tgi:8080/v1")
    with pytest.raises(Unavailable), model_errors():
        top_logprobs(tgi_answer, "http://tgi:8080/v1")


def test_compare_tab_shows_why_a_model_has_no_next_token_view(tiny_service, monkeypatch):
    def no_logprobs(prompt, settings, top=10):  # the model's server gives none
        raise NoLogprobs(NO_LOGPROBS.format(base="http://tgi:8080/v1"))

    monkeypatch.setattr(tiny_service.load("tiny-gpt2").model, "distribution", no_logprobs)
    shown, _ = tiny_service.compare(Request(model="tiny-gpt2", text="Hi"), [Variant("tiny-gpt2", SamplingSettings())])
    view = column_view(shown[0])
    assert "returned no log-probabilities" in view and "Generation still works" in view


def test_candidates_carry_raw_and_adjusted_probabilities():
    top = {" a": math.log(0.5), " b": math.log(0.2), " c": math.log(0.1), " d": math.log(0.05)}
    greedy = candidates(top, SamplingSettings(do_sample=False), count=3)
    assert [c.token for c in greedy] == [" a", " b", " c"]
    assert [round(c.raw, 6) for c in greedy] == [0.5, 0.2, 0.1]
    assert [c.adjusted for c in greedy] == [1.0, 0.0, 0.0]
    top_two = candidates(top, SamplingSettings(temperature=1.0, top_k=2, top_p=1.0))
    assert [round(c.adjusted, 6) for c in top_two] == [round(5 / 7, 6), round(2 / 7, 6), 0.0, 0.0]


def test_typed_text_is_split_before_the_word_being_typed():
    assert split_typed("", "It is gre") == ("It is", " gre", "gre")
    assert split_typed("", "It is ") == ("It is", " ", "")
    assert split_typed("", "Great.") == ("Great.", "", "")
    # A context's last word is not being typed, and its space is not the typist's.
    assert split_typed("Review:", " ") == ("Review:", " ", "")
    assert split_typed("Title", "") == ("Title", "", "")


def test_next_words_extend_the_typed_letters():
    top = {" great": math.log(0.3), " good": math.log(0.3), " green": math.log(0.1), " gr": math.log(0.1), "!": -1.0}
    words = next_words(top, " gre", "gre", min_probability=0.0)
    assert [(w.word, w.append) for w in words] == [("great", "at"), ("green", "en")]
    # Given that " gre" was typed, only " great", " green" and " gr" remain possible.
    assert [round(w.probability, 6) for w in words] == [0.6, 0.2]
    after_space = next_words(top, " ", "", min_probability=0.0)
    assert [w.word for w in after_space] == ["great", "good", "green", "gr"]
    assert after_space[0].append == "great"


# --- the peers' samplers, on the servers that take them -------------------------------------

PEERS = SamplingSettings(
    typical_p=0.9, top_n_sigma=1.5, xtc_probability=0.5, xtc_threshold=0.2, dry_multiplier=0.8, dry_base=2.0,
    dry_allowed_length=3, dry_penalty_last_n=64, dry_sequence_breakers='"\\n", "."', mirostat=2, mirostat_tau=4.0,
    mirostat_eta=0.2, logit_bias="great: 2.5, bad: -5", samplers="dry, top_k, top_p, temperature", seed=1,
)  # fmt: skip
PLAIN_FIELDS = set(completion_body("Hi", SamplingSettings()))


def test_the_peers_samplers_reach_llama_cpps_server_by_its_own_names():
    body = completion_body("Hi", PEERS, kind=LLAMA_CPP)
    assert {k: v for k, v in body.items() if k not in PLAIN_FIELDS} == {
        "typical_p": 0.9,
        "top_n_sigma": 1.5,
        "xtc_probability": 0.5,
        "xtc_threshold": 0.2,
        "dry_multiplier": 0.8,
        "dry_base": 2.0,
        "dry_allowed_length": 3,
        "dry_penalty_last_n": 64,
        "dry_sequence_breakers": ["\n", "."],
        "mirostat": 2,
        "mirostat_tau": 4.0,
        "mirostat_eta": 0.2,
        "logit_bias": [["great", 2.5], ["bad", -5.0]],
        "samplers": ["penalties", "dry", "top_k", "top_p", "temperature"],  # they act first here, wherever named
    }


def test_samplers_at_their_defaults_send_nothing_and_greedy_sends_no_cuts():
    for kind in (LLAMA_CPP, LLAMA_CPP_PYTHON, VLLM, OTHER):
        assert completion_body("Hi", SamplingSettings(), kind=kind) == completion_body("Hi", SamplingSettings())
    # A parameter of a sampler that is off (XTC's threshold, DRY's base) turns nothing on.
    assert set(completion_body("Hi", SamplingSettings(xtc_threshold=0.3, dry_base=3.0))) == PLAIN_FIELDS
    # Greedy ignores the cuts, as locally, so no server is asked for them; DRY and biases still apply.
    greedy = completion_body("Hi", PEERS.replace(do_sample=False), kind=LLAMA_CPP)
    assert {k for k in greedy if k not in PLAIN_FIELDS} == {
        "dry_multiplier", "dry_base", "dry_allowed_length", "dry_penalty_last_n", "dry_sequence_breakers", "logit_bias",
    }  # fmt: skip
    assert set(completion_body("Hi", SamplingSettings(do_sample=False, typical_p=0.5), kind=OTHER)) <= PLAIN_FIELDS


def test_llama_cpp_pythons_server_takes_mirostat_and_biases_under_its_names():
    body = completion_body("Hi", SamplingSettings(mirostat=2, logit_bias='{"great": 2}'), kind=LLAMA_CPP_PYTHON)
    assert (body["mirostat_mode"], body["mirostat_tau"], body["mirostat_eta"]) == (2, 5.0, 0.1)
    assert (body["logit_bias"], body["logit_bias_type"]) == ({"great": 2.0}, "tokens")
    assert "mirostat" not in body


@pytest.mark.parametrize(
    ("kind", "settings", "message"),
    [
        (LLAMA_CPP, SamplingSettings(epsilon_cutoff=0.01), r"\(llama.cpp's server\) has no epsilon cutoff: set "
         r"epsilon_cutoff to 0 for it \(none of vLLM, TGI and llama.cpp's servers offer it\)"),
        (LLAMA_CPP, SamplingSettings(banned_words="fantastic"), "has no ban on words: set banned_words to empty for it "
         r"\(vLLM offers it\)"),
        (LLAMA_CPP_PYTHON, SamplingSettings(typical_p=0.9), "has no typical-p: set typical_p to 1"),
        (VLLM, SamplingSettings(xtc_probability=0.5), r"\(vLLM\) has no XTC: set xtc_probability to 0 for it "
         r"\(llama.cpp's server offers it\)"),
        (VLLM, SamplingSettings(logit_bias="great: 2"), "has no logit bias by word: set logit_bias to empty"),
        (OTHER, SamplingSettings(dry_multiplier=0.8), r"\(not one the app knows \(TGI, or another\)\) has no DRY"),
        (OTHER, SamplingSettings(mirostat=2), "set mirostat to 0 for it"),
        (VLLM, SamplingSettings(samplers="top_k, temperature"), "has no sampler order: set samplers to empty"),
    ],
)  # fmt: skip
def test_a_sampler_the_server_does_not_take_is_refused_by_name(kind, settings, message):
    with pytest.raises(NoSampler, match=message):
        completion_body("Hi", settings, kind=kind)
    with pytest.raises(Unavailable, match=message), model_errors():
        completion_body("Hi", settings, kind=kind)


def test_vllm_bans_words_as_bad_words():
    body = completion_body("Hi", SamplingSettings(banned_words='["fantastic", "great value"]'), kind=VLLM)
    assert body["bad_words"] == ["fantastic", "great value"]


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        ({"data": [{"id": "model.gguf", "object": "model", "owned_by": "llamacpp"}]}, LLAMA_CPP),
        ({"object": "list", "data": [{"id": "/models/x.gguf", "owned_by": "me"}]}, LLAMA_CPP_PYTHON),
        ({"data": [{"id": "Qwen/Qwen2.5-0.5B", "owned_by": "vllm"}]}, VLLM),
        ({"data": [{"id": "tgi", "owned_by": "Qwen/Qwen2.5-0.5B"}]}, OTHER),
        ({"data": None}, OTHER),
        ([], OTHER),
    ],
)
def test_the_server_kind_is_read_from_owned_by(answer, kind):
    assert server_kind(answer) == kind


class FakeServer:
    """A completions server in process (httpx's mock transport): its /v1/models owner, and the bodies it was sent."""

    def __init__(self, owner: str) -> None:
        self.owner, self.bodies, self.asked_models = owner, [], 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            self.asked_models += 1
            return httpx.Response(200, json={"data": [{"id": "m", "owned_by": self.owner}]})
        self.bodies.append(json.loads(request.content))
        events = ['{"choices": [{"text": " fine", "finish_reason": null}]}', '{"choices": [{"text": "", '
                  '"finish_reason": "length"}]}', "[DONE]"]  # fmt: skip
        return httpx.Response(200, text="".join(f"data: {event}\n\n" for event in events))

    def client(self) -> RemoteClient:
        client = RemoteClient("http://fake:8000")
        client._http = httpx.Client(base_url=client.base, transport=httpx.MockTransport(self))
        return client


def test_the_client_asks_the_servers_kind_once_and_only_when_a_sampler_needs_it():
    vllm = FakeServer("vllm")
    client = vllm.client()
    assert last(client.stream_many("Hi", [SamplingSettings()]))[0][0].text == " fine"
    assert vllm.asked_models == 0 and set(vllm.bodies[-1]) == PLAIN_FIELDS
    banned = SamplingSettings(banned_words="awful")
    assert last(client.stream_many("Hi", [banned, banned.replace(seed=2)]))[0][1].text == " fine"
    assert vllm.asked_models == 1 and [b["bad_words"] for b in vllm.bodies[-2:]] == [["awful"], ["awful"]]
    # Refused before any text is asked for: no column of the request starts.
    sent = len(vllm.bodies)
    with pytest.raises(Unavailable, match="has no XTC"), model_errors():
        next(client.stream_many("Hi", [SamplingSettings(), SamplingSettings(xtc_probability=0.5)]))
    assert len(vllm.bodies) == sent and vllm.asked_models == 1


# --- integration: the app's caches and errors without a server ------------------------------


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_server_is_a_clear_error_and_local_models_keep_working(tiny_gpt2_dir):
    port = closed_port()
    remote = remote_entry(f"http://127.0.0.1:{port}")
    assert remote.name == f"Remote model at 127.0.0.1:{port}"
    local = Entry(name="tiny-gpt2", source="local", path=str(tiny_gpt2_dir), task=Task.FREE)
    service = Service([remote, local], read_hub_cards=False)
    request = Request(model=remote.name, text="The battery")
    settings = service.settings(remote.name, max_new_tokens=4)
    for call in (
        lambda: service.generate(request, settings),
        lambda: service.distribution(request, settings),
        lambda: service.suggest(request),
    ):
        with pytest.raises(UserError, match=f"Cannot reach the server at http://127.0.0.1:{port}/v1"):
            call()
    assert service.generate(Request(model="tiny-gpt2", text="Still"), settings).texts[0]


def test_remote_models_never_push_local_models_out_of_the_cache(tiny_gpt2_dir):
    local = Entry(name="tiny-gpt2", source="local", path=str(tiny_gpt2_dir), task=Task.FREE)
    remote = Entry(name="remote", source="remote", url="http://127.0.0.1:9", task=Task.FREE)
    cache = ModelCache(load_entry, max_models=1)
    first = cache.get(local)
    assert cache.get(remote).backend.nbytes == 0
    assert cache.get(local) is first
    assert cache.names == ["remote", "tiny-gpt2"]


def test_catalog_offers_remote_entries(tmp_path):
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        "models:\n  - name: Big model\n    source: remote\n    url: http://gpu-box:8000\n"
        "    served_model: meta-llama/Llama-3.2-1B\n    task: review\n",
        encoding="utf-8",
    )
    (entry,) = load_catalog(catalog)
    assert (entry.source, entry.url, entry.served_model, entry.task) == (
        "remote",
        "http://gpu-box:8000",
        "meta-llama/Llama-3.2-1B",
        Task.REVIEW,
    )
    with pytest.raises(CatalogError, match="a remote entry needs a url"):
        Entry(name="x", source="remote", task=Task.FREE)


# --- integration: llama-cpp-python's own server on loopback ---------------------------------

# `python -m llama_cpp.server`, with llama.cpp's weight repacking turned off while it loads:
# on CPUs with AMX the repacked Q4_1 kernels crash the server on the first prompt (see
# autowrite.backends.llama_patches.without_extra_buffers), and the Python server has no flag for it.
LAUNCH = "\n".join(
    [
        "import runpy",
        "from autowrite.backends.llama_patches import without_extra_buffers",
        "with without_extra_buffers():",
        "    runpy.run_module('llama_cpp.server', run_name='__main__', alter_sys=True)",
    ]
)
ROOT = Path(__file__).resolve().parents[1]
READY_SECONDS = 60  # a loaded 2-core machine takes a few seconds to map the model


@dataclass
class Server:
    """A running llama.cpp server: its address and its log."""

    url: str
    log: Path

    def log_count(self, text: str) -> int:
        """How often a line of the server's log mentions text."""
        return self.log.read_text(encoding="utf-8", errors="replace").count(text)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """llama-cpp-python's OpenAI-compatible server on the embedded GGUF, on a free loopback port."""
    pytest.importorskip(
        "llama_cpp.server.app", reason='the server extra is missing: pip install "llama-cpp-python[server]==0.3.36"'
    )
    port = closed_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [sys.executable, "-c", LAUNCH, "--model", str(embedded_gguf_path())]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"]
    # Requests one at a time, as llama.cpp serves them, without cutting a stream short when
    # the next request (another sample, a keystroke) arrives.
    command += ["--interrupt_requests", "False"]
    # One thread: on a small machine shared with other work, llama.cpp's threads waiting for
    # each other at every step stall a request for seconds.
    command += ["--n_threads", "1", "--n_threads_batch", "1"]
    with log.open("w", encoding="utf-8") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/v1/models", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server was not ready within {READY_SECONDS} s:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield Server(url=url, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def remote_service(server):
    """A service whose first model is the server's, entered as --remote-url would."""
    return Service([remote_entry(server.url)], read_hub_cards=False)


MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf (remote)"
PROMPT = "I bought these headphones for my daughter and"


def test_the_remote_entry_is_named_after_the_served_model(remote_service, server):
    assert remote_service.default_name == MODEL
    assert remote_service.entry(MODEL).url == server.url + "/v1"


def test_greedy_generation_is_deterministic(remote_service):
    settings = remote_service.settings(MODEL, do_sample=False, max_new_tokens=12)
    first = remote_service.generate(Request(model=MODEL, text=PROMPT), settings).texts[0]
    assert first.strip()
    assert first == remote_service.generate(Request(model=MODEL, text=PROMPT), settings).texts[0]


def test_a_seed_gives_the_same_samples_twice(remote_service):
    settings = remote_service.settings(MODEL, temperature=1.0, top_k=0, top_p=1.0, seed=5, max_new_tokens=12)
    request = Request(model=MODEL, text=PROMPT)
    first = remote_service.generate(request, settings, samples=2)
    assert not first.warnings
    assert first.texts == remote_service.generate(request, settings, samples=2).texts
    assert first.texts[0] != first.texts[1]
    # As locally: sample 2 with seed 5 is sample 1 with seed 6.
    assert first.texts[1] == remote_service.generate(request, settings.replace(seed=6)).texts[0]


def test_streaming_yields_growing_text(remote_service):
    settings = remote_service.settings(MODEL, do_sample=False, max_new_tokens=16)
    request = Request(model=MODEL, text=PROMPT)
    texts = [output.texts[0] for output in remote_service.stream(request, settings)]
    assert texts[0] == ""
    assert all(later.startswith(earlier) for earlier, later in zip(texts, texts[1:]))
    assert len(set(texts)) >= 8  # token by token, not all at once
    assert texts[-1] == remote_service.generate(request, settings).texts[0]


def test_stop_ends_the_stream_and_the_servers_generation(remote_service, server):
    settings = remote_service.settings(MODEL, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=400)
    disconnects = server.log_count("Disconnected from client")
    stop = threading.Event()
    outputs = []
    for output in remote_service.stream(Request(model=MODEL, text=PROMPT), settings, stop=stop):
        outputs.append(output.texts[0])
        if len(outputs) == 4:
            stop.set()
    assert len(outputs) == 4
    # The client closed the connection: the server says so, and stops generating.
    deadline = time.monotonic() + 10
    while server.log_count("Disconnected from client") == disconnects and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.log_count("Disconnected from client") > disconnects


def test_distribution_returns_top_candidates(remote_service):
    request = Request(model=MODEL, text="The best thing about this blender is")
    greedy = remote_service.distribution(request, remote_service.settings(MODEL, do_sample=False), top=10)
    assert len(greedy) == 10
    raw = [c.raw for c in greedy]
    assert raw == sorted(raw, reverse=True)
    assert 0.5 < sum(raw) <= 1.0 + 1e-6
    assert [c.adjusted for c in greedy] == [1.0] + [0.0] * 9
    top_three = remote_service.distribution(request, remote_service.settings(MODEL, top_k=3, top_p=1.0), top=10)
    assert [c.token for c in top_three] == [c.token for c in greedy]
    assert sum(c.adjusted > 0 for c in top_three) == 3
    assert sum(c.adjusted for c in top_three) == pytest.approx(1.0)


def test_suggestions_appear(remote_service):
    after_space = remote_service.suggest(Request(model=MODEL, text=PROMPT + " "))
    assert after_space.partial == ""
    assert after_space.words and all(0 < w.probability <= 1 for w in after_space.words)
    assert after_space.ghost.startswith(after_space.words[0].append) and len(after_space.ghost) > 3
    typing = remote_service.suggest(Request(model=MODEL, text=PROMPT + " she lo"))
    assert typing.partial == "lo"
    assert typing.words and all(w.word.startswith("lo") and len(w.word) > 2 for w in typing.words)
    assert typing.ghost.startswith(typing.words[0].append)
    assert remote_service.suggest(Request(model=MODEL, text="")).words == []


def test_out_of_range_settings_are_refused_before_any_request(remote_service, server):
    requests = server.log_count("POST /v1/completions")
    with pytest.raises(UserError, match="temperature must be between 0.05 and 2"):
        remote_service.settings(MODEL, temperature=7)
    with pytest.raises(UserError, match="max_new_tokens must be between 1 and 512"):
        remote_service.settings(MODEL, max_new_tokens=10_000)
    with pytest.raises(SettingsError, match="top_p must be between"):
        SamplingSettings(top_p=0.0)
    assert server.log_count("POST /v1/completions") == requests


def test_streamed_logprobs_become_inspector_steps():
    settings = SamplingSettings(do_sample=True, temperature=1.0, top_k=2, top_p=1.0)
    logprobs = {
        "tokens": [" great", "!"],
        "token_logprobs": [math.log(0.5), math.log(0.05)],
        "top_logprobs": [
            {" great": math.log(0.5), " good": math.log(0.3), " bad": math.log(0.2)},
            {".": math.log(0.9), ",": math.log(0.05)},  # the written "!" is outside the server's head
        ],
    }
    first, second = steps_of(logprobs, settings)
    assert (first.text, first.token_id, first.raw) == (" great", -1, pytest.approx(0.5))
    assert [a.text for a in first.alternatives] == [" great", " good", " bad"]
    assert first.adjusted == pytest.approx(0.5 / 0.8)  # top-k 2 over the head the server sent
    assert second.wrote(next(a for a in second.alternatives if a.text == "!")) and second.raw == pytest.approx(0.05)
    assert steps_of(None, settings) is None  # TGI's route: no log-probabilities
    assert steps_of({"tokens": [" a"], "token_logprobs": [], "top_logprobs": []}, settings) is None


def test_the_inspector_reads_a_servers_tokens(remote_service):
    settings = remote_service.settings(MODEL, do_sample=True, seed=3, max_new_tokens=8)
    output = last(remote_service.stream(Request(model=MODEL, text=PROMPT), settings, inspect=True))
    sample = output.samples[0]
    assert sample.steps and "".join(step.text for step in sample.steps) == sample.text
    for step in sample.steps:
        assert len(step.alternatives) >= 10 and sum(step.wrote(a) for a in step.alternatives) == 1
        assert 0 < step.raw <= 1
    with pytest.raises(UserError, match="random stream"):
        last(remote_service.stream(Request(model=MODEL, text=PROMPT), settings, branch={1: 5}))


def test_the_python_server_takes_mirostat_and_refuses_xtc_by_name(remote_service, server):
    assert remote_service.load(MODEL).model.kind() == LLAMA_CPP_PYTHON
    settings = remote_service.settings(MODEL, mirostat=2, seed=4, max_new_tokens=8)
    assert remote_service.generate(Request(model=MODEL, text=PROMPT), settings).texts[0].strip()
    requests = server.log_count("POST /v1/completions")
    with pytest.raises(UserError, match=f"{LLAMA_CPP_PYTHON}\\) has no XTC: set xtc_probability to 0"):
        remote_service.generate(Request(model=MODEL, text=PROMPT), settings.replace(xtc_probability=0.5))
    assert server.log_count("POST /v1/completions") == requests
