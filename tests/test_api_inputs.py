"""Any JSON a client sends gets a result or an error naming the problem, through the real HTTP API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autowrite import inputs
from autowrite.formats import CATEGORIES, Task
from autowrite.service import Request

# The samplers added after rating_guidance, in the order generate and tokens take them.
SAMPLERS = [
    "typical_p", "epsilon_cutoff", "eta_cutoff", "top_n_sigma", "xtc_probability", "xtc_threshold", "dry_multiplier",
    "dry_base", "dry_allowed_length", "dry_penalty_last_n", "dry_sequence_breakers", "mirostat", "mirostat_tau",
    "mirostat_eta", "logit_bias", "banned_words",
]  # fmt: skip
# Each endpoint's parameters in order, as a REST call sends them.
PARAMETERS = {
    "suggest": ["text", "model", "mode", "rating", "category", "headline", "ghost_tokens"],
    "generate": [
        "prompt", "model", "temperature", "top_k", "top_p", "repetition_penalty", "max_new_tokens", "do_sample",
        "seed", "mode", "rating", "category", "headline", "min_p", "no_repeat_ngram_size", "branch", "rating_guidance",
        *SAMPLERS,
    ],
    "tokens": [
        "prompt", "model", "temperature", "top_k", "top_p", "repetition_penalty", "max_new_tokens", "do_sample",
        "seed", "mode", "rating", "category", "headline", "min_p", "no_repeat_ngram_size", "branch", "rating_guidance",
        *SAMPLERS,
    ],
    "compare": [
        "prompt", "model", "presets", "seed", "max_new_tokens", "mode", "rating", "category", "headline", "columns",
    ],
    "report": [
        "prompt", "model", "presets", "seed", "max_new_tokens", "mode", "rating", "category", "headline", "columns",
        "seeds", "headline_chars",
    ],
}  # fmt: skip
# Errors that are about the request as a whole rather than one parameter.
WHOLE_REQUEST = ("Unknown model", "The prompt is empty", "takes at most", "between 1 and")


def post(url: str, path: str, body: bytes, content_type: str = "application/json") -> tuple[int, dict | list]:
    """A POST's status and JSON answer, errors included."""
    request = urllib.request.Request(url.rstrip("/") + path, body, {"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def rest_call(url: str, name: str, body: bytes) -> tuple[str, object]:
    """One call through Gradio's REST protocol: ("complete", result), ("error", message) or ("http NNN", answer)."""
    status, answer = post(url, f"/gradio_api/call/{name}", body)
    if status != 200:
        return f"http {status}", answer
    stream_url = url.rstrip("/") + f"/gradio_api/call/{name}/{answer['event_id']}"
    event, data = None, None
    with urllib.request.urlopen(stream_url, timeout=120) as stream:
        for raw in stream:
            line = raw.decode().strip()
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                data = json.loads(line[5:])
                return event, (data or {}).get("error") if event == "error" else data  # a bare error is null
    return "no result", data


def body_of(values: list) -> bytes:
    """The JSON body of a call; non-finite numbers as the NaN and Infinity literals a client can send."""
    return json.dumps({"data": values}, allow_nan=True).encode()


def assert_answered(name: str, kind: str, data: object) -> None:
    """A result, or an error message (from the handler, or the HTTP boundary's 422) that names a parameter or the request's problem."""
    if kind == "complete":
        return
    if kind == "http 422":  # the boundary's answer, e.g. to a lone surrogate anywhere in the values
        kind, data = "error", data["error"]
    assert kind == "error", (kind, data)
    assert isinstance(data, str) and data, f"{name} answered a bare error: {data!r}"
    named = any(parameter in data for parameter in PARAMETERS[name]) or any(p in data for p in WHOLE_REQUEST)
    assert named, f"{name}: the error names no parameter: {data!r}"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["\ud800", "abc \udfff def", "inf", "NaN", "1e999", "Greedy", "review", "Books", "tiny-gpt2"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=6,
)


@pytest.mark.parametrize("name", list(PARAMETERS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_json_gets_a_result_or_a_named_error(app_url, name, data):
    url, _ = app_url
    count = len(PARAMETERS[name])
    values = data.draw(st.lists(json_values, min_size=0, max_size=count + 1), label="values")
    kind, answer = rest_call(url, name, body_of(values))
    if len(values) > count:
        assert kind == "http 422" and f"takes at most {count} values" in answer["error"]
        return
    assert_answered(name, kind, answer)


@pytest.mark.parametrize(
    ("name", "values", "message"),
    [
        ("generate", ["x", "tiny-gpt2", None, float("inf")], "top_k must be a finite number"),
        ("generate", ["x", "tiny-gpt2", None, None, None, None, float("nan")], "max_new_tokens must be a finite"),
        ("generate", ["x", "tiny-gpt2", *[None] * 6, "inf"], "seed must be a finite number"),
        ("generate", [42, "tiny-gpt2"], "prompt must be text, got a number 42"),
        ("generate", [["x"], "tiny-gpt2"], "prompt must be text, got a list"),
        ("generate", ["x", 7], "model must be text"),
        ("suggest", ["x", "tiny-gptneo", "review", 3.5], "rating must be a whole number from 1 to 5, got 3.5"),
        ("suggest", ["x", "tiny-gptneo", "review", 1e999], "rating must be a whole number from 1 to 5, got inf"),
        ("suggest", ["x", "tiny-gptneo", "review", 5, "Garden"], "category must be one of Arts Crafts and Sewing"),
        ("generate", ["x", "tiny-gptneo", *[None] * 7, "ad", None, "Garden"], "; got 'Garden'"),
        ("suggest", ["x", "tiny-gptneo", "review", 5, 12], "category must be one of"),
        ("suggest", ["x", "tiny-gpt2", "poem"], "mode must be one of review, ad, free"),
        ("compare", ["x", "tiny-gpt2", []], "presets must name 1 to 4 columns, got 0"),
        ("compare", ["x", "tiny-gpt2", "Greedy"], "presets must be a list of preset names"),
        ("compare", ["x", "tiny-gpt2", ["Greedy", "Sloppy"]], "presets[1] must be one of Greedy"),
        ("compare", ["x", "tiny-gpt2", ["Greedy"], *[None] * 6, "not json"], "columns must be a list of objects"),
        ("compare", ["x", "tiny-gpt2", ["Greedy"], *[None] * 6, [{}, {}]], "at most one object per preset (1)"),
        ("compare", ["x", "tiny-gpt2", ["Greedy"], *[None] * 6, [3]], "columns[0] must be an object"),
        ("compare", ["x", "tiny-gpt2", ["Greedy"], *[None] * 6, [{"top_k": "inf"}]], "columns[0]: top_k must be"),
        ("compare", ["x", "tiny-gpt2", ["Greedy"], None, 500], "max_new_tokens must be a whole number from 1 to 200"),
        ("compare", ["x", "tiny-gpt2", ["Greedy"], *[None] * 6, [{"model": 3}]], "columns[0].model must be text"),
        ("compare", ["x", "tiny-gpt2", ["Greedy"], *[None] * 6, [{"model": "<i>x</i>"}]], "columns[0].model: Unknown"),
        ("report", ["x", "tiny-gpt2", ["Greedy"], *[None] * 7, 0], "seeds must be a whole number from 1 to 32"),
        ("report", ["x", "tiny-gpt2", ["Greedy"], *[None] * 8, "long"], "headline_chars must be a whole number"),
        ("generate", ["x", "tiny-gpt2", *[None] * 11, float("nan")], "min_p must be a finite number"),
        ("generate", ["x", "tiny-gpt2", *[None] * 12, 11], "no_repeat_ngram_size must be between 0 and 10"),
        ("generate", ["x", "tiny-gpt2", *[None] * 13, "1:2:3"], "branch must be step:token pairs"),
        (
            "tokens",
            ["x", "tiny-gpt2", *[None] * 4, 5, *[None] * 8, "7:2"],
            "branch: '7:2' must name a step from 0 to 4",
        ),
        ("tokens", ["x", "tiny-gpt2", *[None] * 13, "1:999999"], "branch: token 999999 at step 1 is not in this"),
        ("generate", ["x", "tiny-gpt2", *[None] * 14, 0.5], "rating_guidance must be between 1 and 5"),
        ("generate", ["x", "tiny-gpt2", *[None] * 15, 0.0], "typical_p must be between 0.01 and 1"),
        ("generate", ["x", "tiny-gpt2", *[None] * 26, 1], "mirostat 1 (Mirostat v1) is not offered; use 2"),
        ("tokens", ["x", "tiny-gpt2", *[None] * 25, '"\\n'], "dry_sequence_breakers must be a list such as"),
        ("generate", ["x", "tiny-gpt2", *[None] * 29, "great 2"], "logit_bias: each entry must be a word and a bias"),
        ("generate", ["x", "tiny-gpt2", *[None] * 29, {"great": 1e999}], "logit_bias for 'great' must be a finite"),
        ("generate", ["x", "tiny-gpt2", *[None] * 30, ["x" * 41]], "banned_words: 'xxxxx"),
        ("compare", ["x", "tiny-gpt2", ["Greedy"], *[None] * 6, [{"mirostat": 1}]], "columns[0]: mirostat 1"),
    ],
)
def test_bad_values_are_named(app_url, name, values, message):
    url, _ = app_url
    kind, answer = rest_call(url, name, body_of(values))
    assert kind == "error" and message in answer, answer


def test_a_lone_surrogate_is_named_before_the_call_runs(app_url):
    url, _ = app_url
    kind, answer = rest_call(url, "generate", body_of(["abc \ud800 def", "tiny-gpt2"]))
    assert kind == "http 422" and answer["error"] == "prompt holds invalid Unicode at character 5 (a lone surrogate)"


def test_null_and_missing_values_mean_the_defaults(app_url):
    """A REST call may stop after its first values; null means the default, as leaving it out does."""
    url, service = app_url
    kind, left_out = rest_call(url, "compare", body_of(["The battery", "tiny-gpt2", ["Greedy"]]))
    assert kind == "complete"
    kind, nulls = rest_call(url, "compare", body_of(["The battery", "tiny-gpt2", ["Greedy"], None, None]))
    assert kind == "complete" and nulls == left_out
    assert left_out[0][0]["settings"]["max_new_tokens"] == inputs.COMPARE_TOKENS
    kind, text = rest_call(url, "generate", body_of(["The battery"]))  # every setting the card's
    expected = service.generate(Request(model="tiny-gpt2", text="The battery"), service.settings("tiny-gpt2"))
    assert kind == "complete" and text[0] and text[0] == expected.texts[0]


def _prompts(service, monkeypatch) -> list[str]:
    """The prompts the service builds from now on, as the model reads them."""
    built: list[str] = []
    prompt = service.prompt

    def recording(entry, request, typing=False):
        built.append(prompt(entry, request, typing))
        return built[-1]

    monkeypatch.setattr(service, "prompt", recording)
    return built


@pytest.mark.parametrize("spelled", ["Pet Supplies", "Pet_Supplies", "pet supplies"])
def test_a_review_in_any_category_the_app_offers(app_url, monkeypatch, spelled):
    url, service = app_url
    built = _prompts(service, monkeypatch)
    values = ["The bowl", "tiny-gptneo", *[None] * 4, 4, False, None, "review", 2, spelled]
    kind, text = rest_call(url, "generate", body_of(values))
    assert kind == "complete" and text[0]
    assert built == ["Category: Pet Supplies\nRating: 2/5\nTitle:\nReview: The bowl"]


@pytest.mark.parametrize(
    ("category", "prompt"),
    [("Automotive", "Category: Automotive\nAd: Chrome polish"), (None, "Ad: Chrome polish"), ("", "Ad: Chrome polish")],
)
def test_an_ad_names_its_category_only_when_asked(app_url, monkeypatch, category, prompt):
    url, service = app_url
    built = _prompts(service, monkeypatch)
    values = ["Chrome polish", "tiny-gptneo", *[None] * 4, 4, False, None, "ad", None, category]
    kind, text = rest_call(url, "generate", body_of(values))
    assert kind == "complete" and text[0]
    assert built == [prompt]
    # A request built in code without a category is the same: a review's default, no line for an ad.
    entry = service.entry("tiny-gptneo")
    assert service.prompt(entry, Request(model="tiny-gptneo", task=Task.AD)) == "Ad:"
    assert service.prompt(entry, Request(model="tiny-gptneo", task=Task.REVIEW)).startswith("Category: Electronics\n")


def test_the_api_lists_every_category_as_the_choices(app_url):
    url, _ = app_url
    with urllib.request.urlopen(url + "gradio_api/info", timeout=30) as response:
        endpoints = json.loads(response.read())["named_endpoints"]
    listed = {}
    for name, endpoint in endpoints.items():
        for parameter in endpoint["parameters"]:
            if parameter["parameter_name"] == "category":
                listed[name] = [t.get("enum") for t in parameter["type"]["oneOf"] if "enum" in t]
    # Every endpoint with a category lists them all (the arena's too), these among them.
    assert {f"/{name}" for name in [*PARAMETERS, "changes"]} <= set(listed)
    assert all(enums == [list(CATEGORIES)] for enums in listed.values()), listed
    assert len(CATEGORIES) == 17


def test_the_http_boundary(app_url):
    url, _ = app_url
    upload = b'--XX\r\nContent-Disposition: form-data; name="files"; filename="a.txt"\r\n\r\nhello\r\n--XX--\r\n'
    status, answer = post(url, "/gradio_api/upload", upload, "multipart/form-data; boundary=XX")
    assert status == 403 and answer["error"] == "This app takes no uploads."
    # The page's own handlers are not callable by name, whatever Gradio named them.
    for private in ("live_suggest", "generate_stream", "compare_stream", "report_stream", "on_load", "predict"):
        status, answer = post(url, f"/gradio_api/call/{private}", body_of(["x"]))
        assert status == 404 and "No endpoint named" in answer["error"], private
        status, _ = post(url, f"/gradio_api/run/{private}", body_of(["x"]))
        assert status == 404
    assert rest_call(url, "suggest", b"not json") == (
        "http 422",
        {"error": 'suggest: the body must be JSON, {"data": [values in parameter order]}'},
    )
    kind, answer = rest_call(url, "suggest", json.dumps({"data": "x"}).encode())
    assert kind == "http 422" and "a list of values" in answer["error"]
    status, answer = post(url, "/gradio_api/call/generate", body_of(["x" * 300_000]))
    assert status == 413 and "larger than 256 KB" in answer["error"]


def test_sessions_are_bounded(tiny_gpt2_dir, tiny_gptneo_dir, monkeypatch):
    """Each API call without a session hash starts a Gradio session; the app keeps only so many."""
    from autowrite.ui import lanes
    from autowrite.ui.app import build_demo, launch_options
    from tests.conftest import free_port, make_tiny_service

    monkeypatch.setattr(lanes, "SESSIONS", 5)
    demo = build_demo(make_tiny_service(tiny_gpt2_dir, tiny_gptneo_dir))
    demo.queue()
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_options(demo))
    try:
        for _ in range(12):
            assert (
                rest_call(f"http://127.0.0.1:{port}/", "suggest", body_of(["The sound", "tiny-gpt2"]))[0] == "complete"
            )
        assert len(demo.state_holder.session_data) == 5
    finally:
        demo.close()


def test_the_new_samplers_reach_generate_and_the_compare_columns(app_url):
    url, service = app_url
    values = ["The battery", "tiny-gpt2", *[None] * 15, 0.9, *[None] * 10, 2, 3.0]  # typical_p, then mirostat v2
    kind, text = rest_call(url, "generate", body_of(values))
    chosen = service.settings("tiny-gpt2", typical_p=0.9, mirostat=2, mirostat_tau=3.0)
    expected = service.generate(Request(model="tiny-gpt2", text="The battery"), chosen)
    assert kind == "complete" and text[0] == expected.texts[0]
    own = {"xtc_probability": 0.5, "xtc_threshold": 0.05, "top_n_sigma": 1.5}
    kind, answer = rest_call(url, "compare", body_of(["The battery", "tiny-gpt2", ["Creative"], *[None] * 6, [own]]))
    assert kind == "complete"
    assert {name: answer[0][0]["settings"][name] for name in own} == own
