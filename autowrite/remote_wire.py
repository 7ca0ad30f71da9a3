"""The wire format of an OpenAI-compatible completions server (vLLM, TGI, llama.cpp's servers).

Local backends hand autowrite.sampling their logits, so a setting means the same on each.
A server samples for itself, so here each setting is mapped onto its /v1/completions
request instead (`completion_body`), to the field that means the same thing:

    setting             request field(s)                 notes
    temperature         temperature                      greedy sends 0, which every server reads as argmax
    top_k (0 = off)     top_k                            vLLM/llama.cpp extension; greedy sends 1.
                                                         TGI's completions route ignores it; older vLLM
                                                         releases want -1 for "off" and refuse 0
    top_p (1 = off)     top_p                            TGI refuses exactly 1.0 (choose 0.99 there);
                                                         llama.cpp applies it before temperature,
                                                         transformers (and autowrite) after
    repetition_penalty  repetition_penalty,              vLLM and TGI read the first, llama.cpp's
                        repeat_penalty                   servers the second; each ignores the other's
                                                         (vLLM logs it as ignored). llama-cpp-python
                                                         penalises only the last 64 generated tokens,
                                                         transformers (and autowrite) the prompt too
    max_new_tokens      max_tokens
    seed                seed                             the same seed gives the same text on the same
                                                         server, but not the local engine's text: each
                                                         server has its own random stream
    do_sample=False     temperature 0, top_k 1, no top_p
    min_p (0 = off)     min_p                            vLLM and llama.cpp read it (llama.cpp filters at
                                                         0.05 unless told, so 0 is always sent); TGI's
                                                         completions route ignores it
    no_repeat_ngram_size (refused above 0)               none of these servers offers an n-gram ban, so a
                                                         request that asks for one is refused by name

The peers' samplers (SAMPLERS) go only to a server that takes them, and only while on (each
is off at its default; the cuts also while greedy, as locally). Which server it is, the
client reads once from the "owned_by" of its /v1/models answer (server_kind):

    setting             llama.cpp's server      llama-cpp-python's server   vLLM
    typical_p           typical_p               -                           -
    epsilon_cutoff      -                       -                           -
    eta_cutoff          -                       -                           -
    top_n_sigma         top_n_sigma             -                           -
    xtc_probability     xtc_probability,        -                           -
                        xtc_threshold
    dry_multiplier      dry_multiplier, dry_base, dry_allowed_length,       -
                        dry_penalty_last_n, dry_sequence_breakers (a list)
    mirostat            mirostat, mirostat_tau, mirostat_mode,              -
                        mirostat_eta            mirostat_tau, mirostat_eta
    logit_bias          logit_bias [[word,      logit_bias {word: bias},    - (token ids only)
                        bias], ...]             logit_bias_type "tokens"
    banned_words        - (its string bias      -                           bad_words
                        bans every piece)
    samplers            samplers (a list)       -                           -

A "-" is refused by name, as is every one of them on another server (TGI, ...). The two
llama.cpp servers bias every token of a word's own spelling, where autowrite biases the tokens
that spell its start; so a banned word, which there would ban its pieces everywhere (" fant"
and "astic" for "fantastic"), is refused. vLLM bans a word's last token where the tokens
before it spell the word, as autowrite does for every tokenization.

The distribution view and live suggestions ask for the next token only (`max_tokens: 1`)
with its `logprobs: N` most likely alternatives. vLLM and llama.cpp return them; TGI's
completions route does not, and the app says so instead of showing an empty chart.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import httpx

from autowrite.backends.base import BackendError, NotSupported
from autowrite.settings import SamplingSettings

# Why 20: vLLM refuses more than its --max-logprobs, 20 unless raised.
MAX_LOGPROBS = 20
INSPECT_TOP = 10  # alternatives per token the inspector asks a server for, as locally
# Why 5 s: a server that is up accepts a connection in milliseconds; a wrong host or port
# should become a message quickly, not after a minute.
CONNECT_TIMEOUT = 5.0

NO_LOGPROBS = (
    "The server at {base} returned no log-probabilities, so the next-token view and word "
    "suggestions are not available for this model. vLLM and llama.cpp's server return them; "
    "TGI's completions route does not. Generation still works."
)


class RemoteError(BackendError):
    """The remote server could not serve a request; the message says why in words a person can act on."""


class NoLogprobs(RemoteError, NotSupported):
    """The server returns no log-probabilities (TGI's completions route): no next-token view or words."""


class NoNgramBan(RemoteError, NotSupported):
    """No OpenAI-compatible server bans repeated n-grams; a request asking for it is refused by name."""


class NoGuidance(RemoteError, NotSupported):
    """Guidance mixes two prompts' logits at every step; a completions server gives one prompt's tokens."""


class NoBranch(RemoteError, NotSupported):
    """A branch continues the draw's random stream, and a remote server's stream is its own."""


class NoSampler(RemoteError, NotSupported):
    """A sampler this kind of server does not take; a request asking for it is refused by name."""


# --- which server: the samplers each takes beyond OpenAI's fields ----------------------------

LLAMA_CPP = "llama.cpp's server"
LLAMA_CPP_PYTHON = "llama-cpp-python's server"
VLLM = "vLLM"
OTHER = "not one the app knows (TGI, or another)"
# What each names itself in its /v1/models answer's "owned_by".
_OWNERS = {"llamacpp": LLAMA_CPP, "me": LLAMA_CPP_PYTHON, "vllm": VLLM}
_OFF = SamplingSettings()  # every sampler off: each setting at its default

Fields = Callable[[SamplingSettings], dict[str, Any]]


def server_kind(models: Any) -> str:
    """Which server answered /v1/models, from the "owned_by" of the models it lists; OTHER if none says."""
    data = models.get("data") if isinstance(models, Mapping) else None
    owners = {item.get("owned_by") for item in data or () if isinstance(item, Mapping)}
    return next((kind for owner, kind in _OWNERS.items() if owner in owners), OTHER)


@dataclass(frozen=True)
class Sampler:
    """One of the peers' samplers as servers take it: the setting that turns it on, its name in a
    refusal, and each server kind's request fields for it."""

    setting: str
    name: str
    fields: Mapping[str, Fields] = field(default_factory=dict)
    sampling_only: bool = True  # a cut of the sampled distribution: greedy ignores it, as locally

    def on(self, settings: SamplingSettings) -> bool:
        """Whether the settings ask for it: its setting off its default, and sampling where it is a cut."""
        asked = getattr(settings, self.setting) != getattr(_OFF, self.setting)
        return asked and (settings.do_sample or not self.sampling_only)

    def refusal(self, kind: str) -> NoSampler:
        """Why this server cannot take it, and which servers can."""
        takers = " and ".join(self.fields) or "none of vLLM, TGI and llama.cpp's servers"
        off = "empty" if isinstance(getattr(_OFF, self.setting), str) else f"{getattr(_OFF, self.setting):g}"
        return NoSampler(
            f"This model's server ({kind}) has no {self.name}: set {self.setting} to {off} for it "
            f"({takers} {'offer' if ' and ' in takers else 'offers'} it)."
        )


def _mirostat(switch: str) -> Fields:
    return lambda s: {switch: s.mirostat, "mirostat_tau": s.mirostat_tau, "mirostat_eta": s.mirostat_eta}


def _dry(s: SamplingSettings) -> dict[str, Any]:
    return {
        "dry_multiplier": s.dry_multiplier, "dry_base": s.dry_base, "dry_allowed_length": s.dry_allowed_length,
        "dry_penalty_last_n": s.dry_penalty_last_n, "dry_sequence_breakers": list(s.breakers),
    }  # fmt: skip


SAMPLERS: tuple[Sampler, ...] = (
    Sampler("typical_p", "typical-p", {LLAMA_CPP: lambda s: {"typical_p": s.typical_p}}),
    Sampler("epsilon_cutoff", "epsilon cutoff"),
    Sampler("eta_cutoff", "eta cutoff"),
    Sampler("top_n_sigma", "top-n-sigma", {LLAMA_CPP: lambda s: {"top_n_sigma": s.top_n_sigma}}),
    Sampler(
        "xtc_probability",
        "XTC",
        {LLAMA_CPP: lambda s: {"xtc_probability": s.xtc_probability, "xtc_threshold": s.xtc_threshold}},
    ),  # fmt: skip
    Sampler("dry_multiplier", "DRY", {LLAMA_CPP: _dry}, sampling_only=False),
    Sampler("mirostat", "mirostat", {LLAMA_CPP: _mirostat("mirostat"), LLAMA_CPP_PYTHON: _mirostat("mirostat_mode")}),
    Sampler(
        "logit_bias",
        "logit bias by word",
        {
            LLAMA_CPP: lambda s: {"logit_bias": [[word, bias] for word, bias in s.biases]},
            LLAMA_CPP_PYTHON: lambda s: {"logit_bias": dict(s.biases), "logit_bias_type": "tokens"},
        },
        sampling_only=False,
    ),  # fmt: skip
    Sampler("banned_words", "ban on words", {VLLM: lambda s: {"bad_words": list(s.banned)}}, sampling_only=False),
    # The penalties and DRY first, as they always act here: llama.cpp runs only what the list names.
    Sampler("samplers", "sampler order", {LLAMA_CPP: lambda s: {"samplers": ["penalties", "dry", *s.order]}}),
)


def asks_beyond_openai(settings: SamplingSettings) -> bool:
    """Whether the settings ask for a sampler that only some servers take (and so for the server's kind)."""
    return any(sampler.on(settings) for sampler in SAMPLERS)


def sampler_fields(settings: SamplingSettings, kind: str) -> dict[str, Any]:
    """The request fields for the samplers the settings turn on, for this kind of server; NoSampler by name
    for the first one it does not take."""
    fields: dict[str, Any] = {}
    for sampler in SAMPLERS:
        if sampler.on(settings):
            if kind not in sampler.fields:
                raise sampler.refusal(kind)
            fields.update(sampler.fields[kind](settings))
    return fields


# --- requests ------------------------------------------------------------------------------


def api_base(url: str) -> str:
    """The server's OpenAI API root (ending in /v1), from its address with or without /v1."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"a remote server's address looks like http://host:8000, got {url!r}")
    return url if url.endswith("/v1") else url + "/v1"


def completion_body(
    prompt: str, settings: SamplingSettings, *, model: str | None = None, stream: bool = False, kind: str = OTHER
) -> dict[str, Any]:
    """The /v1/completions request that samples like the local engine with these settings, on this kind
    of server (SAMPLERS: a sampler it does not take is refused by name)."""
    body: dict[str, Any] = {
        "prompt": prompt,
        "max_tokens": settings.max_new_tokens,
        "seed": settings.seed,
        "repetition_penalty": settings.repetition_penalty,
        "repeat_penalty": settings.repetition_penalty,
        "min_p": settings.min_p if settings.do_sample else 0.0,
        "stream": stream,
    }
    if settings.do_sample:
        body.update(temperature=settings.temperature, top_k=settings.top_k, top_p=settings.top_p)
    else:
        # No top_p: TGI refuses 1.0, and with temperature 0 no server reads it.
        body.update(temperature=0.0, top_k=1)
    body.update(sampler_fields(settings, kind))
    if model:
        body["model"] = model
    return body


def next_token_body(prompt: str, top: int, *, model: str | None = None) -> dict[str, Any]:
    """A request for the next token's `top` likeliest alternatives and their log-probabilities."""
    body = completion_body(prompt, SamplingSettings(do_sample=False, max_new_tokens=1, repetition_penalty=1.0))
    body["logprobs"] = max(1, min(top, MAX_LOGPROBS))
    if model:
        body["model"] = model
    return body


def refuse_unsupported(
    variants: Sequence[SamplingSettings], forced: Mapping[int, int] | None, contrast: str | None, kind: str = OTHER
) -> None:
    """NotSupported, by name, for what a completions server (of this kind) cannot do."""
    if forced:
        raise NoBranch(
            "This model runs on a remote server, whose random stream the app cannot continue: "
            "branching from a token works on models that run here."
        )
    if contrast is not None:
        raise NoGuidance(
            "This model runs on a remote server, which decodes one prompt per request: rating guidance "
            "needs two decoded together. Set rating_guidance to 1 for it."
        )
    if any(v.no_repeat_ngram_size for v in variants):
        raise NoNgramBan(
            "This model's server has no n-gram ban: set no_repeat_ngram_size to 0 for it "
            "(vLLM, TGI and llama.cpp's server offer none)."
        )
    for settings in variants:
        sampler_fields(settings, kind)


# --- answers -------------------------------------------------------------------------------


def error_message(status: int, text: str) -> str:
    """What the server said was wrong, from the error bodies of vLLM, TGI and llama.cpp."""
    try:
        payload = json.loads(text)
    except json.JSONDecodeError:
        payload = text
    if isinstance(payload, Mapping):
        error = payload.get("error", payload.get("detail", payload.get("message", "")))
        if isinstance(error, Mapping):
            error = error.get("message", "")
        payload = error if isinstance(error, str) else json.dumps(error)
    # llama.cpp's Python server appends a traceback after a blank line: not for people.
    message = str(payload).split("\n\n")[0].strip()[:400]
    return message or f"HTTP {status} without an explanation"


def refusal(base: str, response: httpx.Response) -> RemoteError | None:
    """Why the server refused a request, in words that say what to check; None when it did not."""
    if response.status_code < 400:
        return None
    reason = error_message(response.status_code, response.read().decode("utf-8", "replace"))
    if response.status_code in (401, 403):
        return RemoteError(f"The server at {base} refused the API key ({reason}); set AUTOWRITE_REMOTE_API_KEY.")
    if response.status_code == 404:
        return RemoteError(
            f"The server at {base} has no {response.request.url.path} ({reason}); "
            "is it an OpenAI-compatible completions server, and does the model name match?"
        )
    return RemoteError(f"The server at {base} refused the request: {reason}")


@contextmanager
def transport_failures(base: str, timeout: float) -> Iterator[None]:
    """Transport failures (no connection, no answer in time) as RemoteErrors that say what to check."""
    try:
        yield
    except httpx.ConnectTimeout:
        raise RemoteError(f"The server at {base} did not accept a connection within {CONNECT_TIMEOUT:g} s.") from None
    except httpx.TimeoutException:
        raise RemoteError(f"The server at {base} did not answer within {timeout:g} s.") from None
    except httpx.ConnectError as error:
        raise RemoteError(f"Cannot reach the server at {base} ({error}). Is it running?") from None
    except httpx.HTTPError as error:
        raise RemoteError(f"The request to {base} failed: {type(error).__name__}: {error}") from None


def sse_events(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The JSON payloads of a server-sent event stream, up to its [DONE].

    OpenAI-style servers send each event as one `data:` line; comments (": ping") and
    blank separator lines carry nothing. An event with an "error" is the server's way of
    failing mid-stream (TGI, vLLM).
    """
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[len("data:") :].strip()
        if data == "[DONE]":
            return
        if not data:
            continue
        try:
            event = json.loads(data)
        except json.JSONDecodeError:
            raise RemoteError(f"The server sent a stream event that is not JSON: {data[:80]!r}") from None
        if isinstance(event, Mapping) and "error" in event:
            raise RemoteError(f"The server stopped with an error: {error_message(200, data)}")
        yield event


def first_choice(response: Mapping[str, Any]) -> Mapping[str, Any]:
    """The first choice of a completions response or stream event."""
    choices = response.get("choices") if isinstance(response, Mapping) else None
    if not choices or not isinstance(choices[0], Mapping):
        raise RemoteError("The server's answer has no completion in it; is it an OpenAI-compatible server?")
    return choices[0]


def top_logprobs(response: Mapping[str, Any], base: str) -> dict[str, float]:
    """The first generated position's alternatives, token text to log-probability."""
    logprobs = first_choice(response).get("logprobs")
    top = logprobs.get("top_logprobs") if isinstance(logprobs, Mapping) else None
    if not top or not isinstance(top[0], Mapping) or not top[0]:
        raise NoLogprobs(NO_LOGPROBS.format(base=base))
    return {str(token): float(value) for token, value in top[0].items()}


def token_logprobs(logprobs: Any) -> list[tuple[str, float, Mapping[str, float]]] | None:
    """A streamed piece's tokens from its completions logprobs: (text, log-probability, the head of its
    distribution); None without them (TGI's route) or where they do not line up."""
    if not isinstance(logprobs, Mapping):
        return None
    tokens, chosen, tops = (logprobs.get(k) or [] for k in ("tokens", "token_logprobs", "top_logprobs"))
    if not tokens or len(chosen) != len(tokens) or len(tops) != len(tokens):
        return None
    pieces = []
    for token, logprob, top in zip(tokens, chosen, tops, strict=True):
        if not isinstance(top, Mapping) or not isinstance(logprob, (int, float)):
            return None
        pieces.append((str(token), float(logprob), top))
    return pieces


def model_label(model_id: str) -> str:
    """A short name for a served model: llama.cpp's server names it by its file path."""
    if model_id.startswith(("/", "./", "~")) or model_id.endswith(".gguf"):
        return PurePosixPath(model_id).name
    return model_id
