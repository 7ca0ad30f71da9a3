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

The distribution view and live suggestions ask for the next token only (`max_tokens: 1`)
with its `logprobs: N` most likely alternatives. vLLM and llama.cpp return them; TGI's
completions route does not, and the app says so instead of showing an empty chart.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
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


# --- requests ------------------------------------------------------------------------------


def api_base(url: str) -> str:
    """The server's OpenAI API root (ending in /v1), from its address with or without /v1."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"a remote server's address looks like http://host:8000, got {url!r}")
    return url if url.endswith("/v1") else url + "/v1"


def completion_body(
    prompt: str, settings: SamplingSettings, *, model: str | None = None, stream: bool = False
) -> dict[str, Any]:
    """The /v1/completions request that samples like the local engine with these settings."""
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
    variants: Sequence[SamplingSettings], forced: Mapping[int, int] | None, contrast: str | None
) -> None:
    """NotSupported, by name, for what a completions server cannot do."""
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
