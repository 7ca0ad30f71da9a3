"""A remote backend: an OpenAI-compatible completions server (vLLM, TGI, llama.cpp's server).

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
import logging
import math
import queue
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

# Why httpx: Gradio already depends on it, so the remote backend adds no package; and it
# streams a response line by line and drops the connection when a stream is closed early,
# which is how a Stop reaches the server (it notices the client left and stops generating).
import httpx
import torch

from autowrite import sampling
from autowrite.backends.base import (
    MIN_PROBABILITY,
    Alternative,
    BackendError,
    Candidate,
    NotSupported,
    Sample,
    Step,
    Suggestions,
    Word,
)
from autowrite.scheduling import Share
from autowrite.settings import SamplingSettings

log = logging.getLogger(__name__)

# Why 20: vLLM refuses more than its --max-logprobs, 20 unless raised.
MAX_LOGPROBS = 20
INSPECT_TOP = 10  # alternatives per token the inspector asks a server for, as locally
# Why 5 s: a server that is up accepts a connection in milliseconds; a wrong host or port
# should become a message quickly, not after a minute.
CONNECT_TIMEOUT = 5.0
# Why 120 s: between two tokens of a stream, or before the first. A server that runs one
# request at a time (llama.cpp's) starts a queued one only when the one before it ends.
GENERATE_TIMEOUT = 120.0
# Why 10 s: a suggestion that takes longer is for text the person has long since changed.
SUGGEST_TIMEOUT = 10.0
# Why 3 s: asking the server its model's name must not hold up the app's start for long.
DISCOVERY_TIMEOUT = 3.0
# Why 4,000 characters: about 1,000 tokens, enough context for a next word, and within
# even a small server's context window; longer texts keep their end, as locally.
SUGGEST_CHARS = 4_000
# Why 0.1 s: how often a stream waiting for its next token looks at the stop event.
_POLL = 0.1
# A variant's stream update: (index, text so far or None when it ends, the server's
# finish_reason so far or None, error, the piece's inspector steps or None).
_Update = tuple[int, str | None, str | None, "RemoteError | None", "list[Step] | None"]

_WORD_END = re.compile(r"[\w'’-]+$")  # the word being typed, as autowrite.suggest reads it
_WORD_START = re.compile(r"[\w'’-]")

NO_LOGPROBS = (
    "The server at {base} returned no log-probabilities, so the next-token view and word "
    "suggestions are not available for this model. vLLM and llama.cpp's server return them; "
    "TGI's completions route does not. Generation still works."
)
ENDED_EARLY = (
    "Text {number} ended early without the server saying why. llama.cpp's Python server cuts a "
    "stream short whenever another request arrives unless started with --interrupt_requests False."
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


# --- the request mapping (pure) ------------------------------------------------------------


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


def candidates(top: Mapping[str, float], settings: SamplingSettings, count: int = 10) -> list[Candidate]:
    """Next-token candidates from log-probabilities, with probabilities after the settings.

    The server returns only the head of the distribution, so the adjusted probabilities are
    computed over those candidates (as if the rest had no mass), with autowrite.sampling,
    the same code as locally. The repetition penalty needs the prompt's token ids, which a
    completions server does not return, so it is left out of the adjusted column.
    """
    tokens = sorted(top, key=lambda t: -top[t])[:count]
    if not tokens:
        return []
    logprobs = torch.tensor([top[t] for t in tokens], dtype=torch.float32)
    adjusted_logits = sampling.adjust(logprobs, settings.replace(repetition_penalty=1.0))
    if settings.do_sample:
        adjusted = torch.softmax(adjusted_logits, dim=-1)
    else:
        adjusted = torch.zeros_like(logprobs)
        adjusted[int(torch.argmax(adjusted_logits))] = 1.0
    return [Candidate(t, math.exp(top[t]), float(a)) for t, a in zip(tokens, adjusted)]


def _refuse_unsupported(
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


def _collect(
    updates: queue.Queue, count: int, inspect: bool, stop: threading.Event | None
) -> Iterator[tuple[list[Sample], list[str]]]:
    """The samples and warnings after each update the variants' threads put on the queue."""
    samples = [Sample("")] * count
    steps: list[list[Step] | None] = [[] if inspect else None for _ in range(count)]
    warnings: list[str] = []
    running = count
    yield list(samples), []
    while running:
        if stop is not None and stop.is_set():
            return
        try:
            index, text, reason, error, new = updates.get(timeout=_POLL)
        except queue.Empty:
            continue
        if error is not None:
            raise error
        if text is None:
            running -= 1
            if reason:
                continue
            warnings.append(ENDED_EARLY.format(number=index + 1))
        else:
            # A piece without log-probabilities (TGI's route) leaves the text uninspectable.
            steps[index] = None if new is None or steps[index] is None else steps[index] + new
            shown = tuple(steps[index]) if steps[index] is not None else None
            samples[index] = Sample(text, ended=reason == "stop", steps=shown)
        yield list(samples), list(warnings)


def steps_of(logprobs: Any, settings: SamplingSettings) -> list[Step] | None:
    """A streamed piece's tokens for the inspector, from its completions logprobs; None without them.

    The server names tokens by their text, not their ids (-1 here), and sends the head of
    each distribution: the after-settings column is computed over that head (candidates()).
    """
    if not isinstance(logprobs, Mapping):
        return None
    tokens, chosen, tops = (logprobs.get(k) or [] for k in ("tokens", "token_logprobs", "top_logprobs"))
    if not tokens or len(chosen) != len(tokens) or len(tops) != len(tokens):
        return None
    steps = []
    for token, logprob, top in zip(tokens, chosen, tops, strict=True):
        if not isinstance(top, Mapping) or not isinstance(logprob, (int, float)):
            return None
        head = candidates({**top, str(token): float(logprob)}, settings, INSPECT_TOP + 1)
        alternatives = tuple(Alternative(-1, c.token, c.raw, c.adjusted) for c in head)
        written = next(a for a in alternatives if a.text == str(token))
        steps.append(Step(-1, str(token), written.raw, written.adjusted, alternatives))
    return steps


def split_typed(context: str, text: str) -> tuple[str, str, str]:
    """The prompt to ask after, the typed remainder a suggestion must start with, and the partial word.

    As in autowrite.suggest, the word being typed is backed off together with the space
    before it ("It is gre" asks after "It is" for tokens starting " gre"): tokenizers put
    the space at the start of a word's token, so " great" is one likely token, while
    "gre" + "at" after a space is an unlikely spelling.
    """
    full = context + text
    match = _WORD_END.search(text)
    partial = match.group(0) if match else ""
    cut = len(full) - len(partial)
    if cut > len(context) and full[cut - 1] == " ":
        cut -= 1
    return full[:cut], full[cut:], partial


def next_words(
    top: Mapping[str, float],
    remainder: str,
    partial: str,
    count: int = 5,
    min_probability: float = MIN_PROBABILITY,
) -> list[Word]:
    """Suggested words from the next token's alternatives after the backed-off prompt.

    A candidate must spell out the typed remainder and add to it: letters that continue
    the word being typed, or after a space or punctuation, a next word. A word shows as
    far as its token goes ("fant" for "fantastic" split in two tokens): finishing it would
    take one more request per word. Probabilities are conditioned on what was typed, over
    the alternatives the server returned, so they can come out higher than locally.
    """
    consistent = {
        token: math.exp(logprob)
        for token, logprob in top.items()
        if token and (token.startswith(remainder) or remainder.startswith(token))
    }
    mass = sum(consistent.values()) if remainder else 1.0
    words: list[Word] = []
    seen: set[str] = set()
    for token, probability in sorted(consistent.items(), key=lambda item: -item[1]):
        append = token[len(remainder) :]
        if not token.startswith(remainder) or not append.strip():
            continue
        if partial and not _WORD_START.match(append):
            continue  # the word being typed must go on, not end
        shown = (partial + append).strip()
        probability = min(probability / mass, 1.0)
        if shown in seen or probability < min_probability:
            continue
        seen.add(shown)
        words.append(Word(word=shown, append=append, probability=probability))
    return words[:count]


def model_label(model_id: str) -> str:
    """A short name for a served model: llama.cpp's server names it by its file path."""
    if model_id.startswith(("/", "./", "~")) or model_id.endswith(".gguf"):
        return PurePosixPath(model_id).name
    return model_id


# --- the client ------------------------------------------------------------------------------


class RemoteClient:
    """Generation, next-token distributions and suggestions from an OpenAI-compatible completions server."""

    name = "remote"
    # The weights live on the server: nothing here counts against the model cache's budget.
    nbytes = 0

    def __init__(self, url: str, model: str | None = None, api_key: str | None = None) -> None:
        self.base = api_base(url)
        self.model = model or None  # sent as "model" only when named: TGI reads it as a LoRA adapter id
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=self.base, headers=headers, timeout=httpx.Timeout(GENERATE_TIMEOUT, connect=CONNECT_TIMEOUT)
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    @contextmanager
    def _failures(self, timeout: float) -> Iterator[None]:
        """Turn transport failures into RemoteErrors that say what to check."""
        try:
            yield
        except httpx.ConnectTimeout:
            raise RemoteError(
                f"The server at {self.base} did not accept a connection within {CONNECT_TIMEOUT:g} s."
            ) from None
        except httpx.TimeoutException:
            raise RemoteError(f"The server at {self.base} did not answer within {timeout:g} s.") from None
        except httpx.ConnectError as error:
            raise RemoteError(f"Cannot reach the server at {self.base} ({error}). Is it running?") from None
        except httpx.HTTPError as error:
            raise RemoteError(f"The request to {self.base} failed: {type(error).__name__}: {error}") from None

    def _check(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        text = response.read().decode("utf-8", "replace")
        reason = error_message(response.status_code, text)
        if response.status_code in (401, 403):
            raise RemoteError(
                f"The server at {self.base} refused the API key ({reason}); set AUTOWRITE_REMOTE_API_KEY."
            )
        if response.status_code == 404:
            raise RemoteError(
                f"The server at {self.base} has no {response.request.url.path} ({reason}); "
                "is it an OpenAI-compatible completions server, and does the model name match?"
            )
        raise RemoteError(f"The server at {self.base} refused the request: {reason}")

    def _post(self, body: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        with self._failures(timeout):
            response = self._http.post(
                "/completions", json=body, timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT)
            )
            self._check(response)
            try:
                return response.json()
            except json.JSONDecodeError:
                raise RemoteError(f"The server at {self.base} answered with something that is not JSON.") from None

    def served_models(self, timeout: float = DISCOVERY_TIMEOUT) -> list[str]:
        """The model names the server lists at /v1/models."""
        with self._failures(timeout):
            response = self._http.get("/models", timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT)))
            self._check(response)
            data = response.json().get("data") or []
        return [str(item["id"]) for item in data if isinstance(item, Mapping) and item.get("id")]

    # --- generation ----------------------------------------------------------------------

    def stream_text(
        self, prompt: str, settings: SamplingSettings, stop: threading.Event | None = None, inspect: bool = False
    ) -> Iterator[tuple[str, str | None, list[Step] | None]]:
        """The generated text so far after each streamed piece, the server's finish_reason once it
        ended, and with inspect the piece's tokens as the inspector shows them (None where the
        server sends no log-probabilities).

        Leaving the loop (a stop, or the caller closing the iterator) closes the response,
        and with it the connection, so the server stops generating.
        """
        body = completion_body(prompt, settings, model=self.model, stream=True)
        if inspect:
            body["logprobs"] = INSPECT_TOP
        text = ""
        with self._failures(GENERATE_TIMEOUT), self._http.stream("POST", "/completions", json=body) as response:
            self._check(response)
            for event in sse_events(response.iter_lines()):
                if stop is not None and stop.is_set():
                    return
                choice = first_choice(event)
                piece = choice.get("text") or ""
                # TGI marks unfinished pieces with "", vLLM and llama.cpp with null.
                reason = choice.get("finish_reason") or None
                if piece or reason:
                    text += piece
                    # The closing event carries no text and so no tokens (llama.cpp: logprobs null).
                    steps = (steps_of(choice.get("logprobs"), settings) if piece else []) if inspect else None
                    yield text, reason, steps

    def stream_many(
        self,
        prompt: str,
        variants: Sequence[SamplingSettings],
        stop: threading.Event | None = None,
        *,
        inspect: bool = False,
        forced: Mapping[int, int] | None = None,
        contrast: str | None = None,
        share: Share = Share(),  # noqa: ARG002, B008 - the server shares its own capacity among callers
    ) -> Iterator[tuple[list[Sample], list[str]]]:
        """Stream one text per settings variant, with warnings, each as its own request.

        The samples carry no summed log-probability; with inspect, their tokens come with
        the server's log-probabilities for the inspector. One ended on its own when its
        finish_reason is "stop". A branch (forced) needs the draw's random stream and
        guidance (contrast) two prompts per step: the server has neither.

        The requests run at once, one thread each, so a batching server (vLLM, TGI)
        computes the columns together; a server that runs one request at a time serves
        them in turn. A stop, or closing this iterator, ends every request.
        """
        _refuse_unsupported(variants, forced, contrast)
        cancel = threading.Event()
        updates: queue.Queue[_Update] = queue.Queue()
        for index, settings in enumerate(variants):
            threading.Thread(
                target=self._pump, args=(index, prompt, settings, cancel, updates, inspect), daemon=True,
                name=f"remote-{index}",
            ).start()  # fmt: skip
        try:
            yield from _collect(updates, len(variants), inspect, stop)
        finally:
            cancel.set()

    def _pump(
        self,
        index: int,
        prompt: str,
        settings: SamplingSettings,
        cancel: threading.Event,
        updates: queue.Queue,
        inspect: bool = False,
    ) -> None:
        """One variant's stream onto the queue: (index, text, reason, None, steps) per update, then (index, None, ...)."""
        reason = None
        try:
            for text, reason, steps in self.stream_text(prompt, settings, cancel, inspect):
                updates.put((index, text, reason, None, steps))
        except RemoteError as error:
            updates.put((index, None, "error", error, None))
            return
        except Exception as error:  # whatever it is, the reader must hear of it or it waits forever
            failure = RemoteError(f"Reading the server's stream failed: {error!r}")
            updates.put((index, None, "error", failure, None))
            return
        updates.put((index, None, reason, None, None))

    # --- next token, suggestions ---------------------------------------------------------

    def next_token(self, prompt: str, top: int = MAX_LOGPROBS, timeout: float = SUGGEST_TIMEOUT) -> dict[str, float]:
        """The next token's likeliest alternatives after a prompt, token text to log-probability."""
        return top_logprobs(self._post(next_token_body(prompt, top, model=self.model), timeout), self.base)

    def distribution(self, prompt: str, settings: SamplingSettings, top: int = 10) -> list[Candidate]:
        """The most likely next tokens, with raw and setting-adjusted probabilities."""
        return candidates(self.next_token(prompt, top, timeout=GENERATE_TIMEOUT), settings, top)

    def greedy(self, prompt: str, tokens: int, repetition_penalty: float = 1.2) -> str:
        """A short greedy continuation, up to the end of the line."""
        settings = SamplingSettings(do_sample=False, max_new_tokens=tokens, repetition_penalty=repetition_penalty)
        body = {**completion_body(prompt, settings, model=self.model), "stop": ["\n"]}
        return str(first_choice(self._post(body, SUGGEST_TIMEOUT)).get("text") or "").split("\n")[0]

    def suggest(
        self,
        text: str,
        context: str = "",
        count: int = 5,
        ghost_tokens: int = 8,
        min_probability: float = MIN_PROBABILITY,
        finish: bool = True,  # noqa: ARG002 - the server's alternatives are whole tokens; nothing to finish later
    ) -> Suggestions:
        """Next words (or completions of the word being typed) and ghost text, from the server.

        Two requests per keystroke: the next token's alternatives after the backed-off
        prompt, and a greedy continuation after the best word; a third when no alternative
        continues the word being typed (then the word is asked after as typed).
        """
        if len(context) + len(text) > SUGGEST_CHARS:
            context, text = "", (context + text)[-SUGGEST_CHARS:]
        stem, remainder, partial = split_typed(context, text)
        if not (stem + remainder).strip():
            return Suggestions(partial=partial)  # nothing to continue yet; servers refuse empty prompts
        words = next_words(self.next_token(stem), remainder, partial, count, min_probability)
        if partial and not words:
            # No token spells the word out: ask after the word as typed, for letters that
            # continue it or, when it looks finished, for the word after it.
            after = self.next_token(stem + remainder)
            words = next_words(after, "", partial, count, min_probability) or next_words(
                after, "", "", count, min_probability
            )
        result = Suggestions(partial=partial, words=words)
        if words and ghost_tokens > 0:
            best = words[0].append
            result.ghost = best + self.greedy(stem + remainder + best, ghost_tokens)
        return result
