"""A model on a remote server: the Model protocol over an OpenAI-compatible completions server.

Beside autowrite.local's LocalModel, which decodes a local backend's logits, RemoteClient
asks a server (vLLM, TGI, llama.cpp's servers) that samples for itself; the requests and
answers are autowrite.remote_wire's. The next-token view reads the head of the server's
distribution through autowrite.sampling, and word suggestions cut the typed text where
autowrite.suggest does, so both mean here what they mean locally.
"""

from __future__ import annotations

import json
import math
import queue
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

# Why httpx: Gradio already depends on it, so the remote client adds no package; and it
# streams a response line by line and drops the connection when a stream is closed early,
# which is how a Stop reaches the server (it notices the client left and stops generating).
import httpx
import torch

from autowrite import remote_wire as wire
from autowrite import sampling
from autowrite.backends.base import MIN_PROBABILITY, Alternative, Candidate, Sample, Step, Suggestions, Word
from autowrite.remote_wire import INSPECT_TOP, MAX_LOGPROBS, RemoteError, api_base, model_label
from autowrite.scheduling import Share
from autowrite.settings import SamplingSettings
from autowrite.suggest import partial_word, starts_word

__all__ = [  # and from the wire, what loading a remote model needs beside the client
    "RemoteClient", "RemoteError", "api_base", "candidates", "model_label", "next_words", "split_typed", "steps_of",
]  # fmt: skip

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

ENDED_EARLY = (
    "Text {number} ended early without the server saying why. llama.cpp's Python server cuts a "
    "stream short whenever another request arrives unless started with --interrupt_requests False."
)


# --- the server's answers in the app's terms (pure) ------------------------------------------


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
    adjusted = sampling.adjusted_probabilities(logprobs, settings.replace(repetition_penalty=1.0))
    return [Candidate(t, math.exp(top[t]), float(a)) for t, a in zip(tokens, adjusted)]


def steps_of(logprobs: Any, settings: SamplingSettings) -> list[Step] | None:
    """A streamed piece's tokens for the inspector, from its completions logprobs; None without them.

    The server names tokens by their text, not their ids (-1 here), and sends the head of
    each distribution: the after-settings column is computed over that head (candidates()).
    """
    pieces = wire.token_logprobs(logprobs)
    if pieces is None:
        return None
    steps = []
    for token, logprob, top in pieces:
        head = candidates({**top, token: logprob}, settings, INSPECT_TOP + 1)
        alternatives = tuple(Alternative(-1, c.token, c.raw, c.adjusted) for c in head)
        written = next(a for a in alternatives if a.text == token)
        steps.append(Step(-1, token, written.raw, written.adjusted, alternatives))
    return steps


def split_typed(context: str, text: str) -> tuple[str, str, str]:
    """The prompt to ask after, the typed remainder a suggestion must start with, and the partial word.

    As in autowrite.suggest, the word being typed is backed off together with the space
    before it ("It is gre" asks after "It is" for tokens starting " gre"): tokenizers put
    the space at the start of a word's token, so " great" is one likely token, while
    "gre" + "at" after a space is an unlikely spelling.
    """
    full = context + text
    partial = partial_word(text)
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
        if partial and starts_word(append):
            continue  # the word being typed must go on, not end
        shown = (partial + append).strip()
        probability = min(probability / mass, 1.0)
        if shown in seen or probability < min_probability:
            continue
        seen.add(shown)
        words.append(Word(word=shown, append=append, probability=probability))
    return words[:count]


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


def _pump(
    stream_text: Callable[..., Iterator[tuple[str, str | None, list[Step] | None]]],
    index: int,
    prompt: str,
    settings: SamplingSettings,
    cancel: threading.Event,
    updates: queue.Queue,
    inspect: bool = False,
) -> None:
    """One variant's stream (RemoteClient.stream_text) onto the queue: (index, text, reason, None, steps)
    per update, then (index, None, ...)."""
    reason = None
    try:
        for text, reason, steps in stream_text(prompt, settings, cancel, inspect):
            updates.put((index, text, reason, None, steps))
    except RemoteError as error:
        updates.put((index, None, "error", error, None))
        return
    except Exception as error:  # whatever it is, the reader must hear of it or it waits forever
        failure = RemoteError(f"Reading the server's stream failed: {error!r}")
        updates.put((index, None, "error", failure, None))
        return
    updates.put((index, None, reason, None, None))


# --- the client ------------------------------------------------------------------------------


class RemoteClient:
    """Generation, next-token distributions and suggestions from an OpenAI-compatible completions server."""

    name = "remote"
    # The weights live on the server: nothing here counts against the model cache's budget.
    nbytes = 0

    def __init__(self, url: str, model: str | None = None, api_key: str | None = None) -> None:
        self.base = api_base(url)
        self.model = model or None  # sent as "model" only when named: TGI reads it as a LoRA adapter id
        self._kind: str | None = None  # which server it is (remote_wire.server_kind), once asked
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=self.base, headers=headers, timeout=httpx.Timeout(GENERATE_TIMEOUT, connect=wire.CONNECT_TIMEOUT)
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _check(self, response: httpx.Response) -> None:
        error = wire.refusal(self.base, response)
        if error is not None:
            raise error

    def _post(self, body: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        with wire.transport_failures(self.base, timeout):
            response = self._http.post(
                "/completions", json=body, timeout=httpx.Timeout(timeout, connect=wire.CONNECT_TIMEOUT)
            )
            self._check(response)
            try:
                return response.json()
            except json.JSONDecodeError:
                raise RemoteError(f"The server at {self.base} answered with something that is not JSON.") from None

    def served_models(self, timeout: float = DISCOVERY_TIMEOUT) -> list[str]:
        """The model names the server lists at /v1/models."""
        with wire.transport_failures(self.base, timeout):
            response = self._http.get(
                "/models", timeout=httpx.Timeout(timeout, connect=min(timeout, wire.CONNECT_TIMEOUT))
            )
            self._check(response)
            data = response.json().get("data") or []
        return [str(item["id"]) for item in data if isinstance(item, Mapping) and item.get("id")]

    def kind(self) -> str:
        """Which server this is (remote_wire.server_kind), asked the first time a request needs it."""
        if self._kind is None:
            with wire.transport_failures(self.base, DISCOVERY_TIMEOUT):
                response = self._http.get("/models", timeout=DISCOVERY_TIMEOUT)
            try:  # a server that lists no models, or not in JSON, is one the app does not know
                self._kind = wire.server_kind(response.json()) if response.status_code < 400 else wire.OTHER
            except json.JSONDecodeError:
                self._kind = wire.OTHER
        return self._kind

    def _kind_for(self, variants: Sequence[SamplingSettings]) -> str:
        """The server's kind where a variant asks for a sampler only some servers take; else no request."""
        return self.kind() if any(wire.asks_beyond_openai(v) for v in variants) else wire.OTHER

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
        kind = self._kind_for([settings])
        body = wire.completion_body(prompt, settings, model=self.model, stream=True, kind=kind)
        if inspect:
            body["logprobs"] = INSPECT_TOP
        text = ""
        with (
            wire.transport_failures(self.base, GENERATE_TIMEOUT),
            self._http.stream("POST", "/completions", json=body) as response,
        ):
            self._check(response)
            for event in wire.sse_events(response.iter_lines()):
                if stop is not None and stop.is_set():
                    return
                choice = wire.first_choice(event)
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
        guidance (contrast) two prompts per step: the server has neither. A sampler the
        server does not take is refused by name (remote_wire.SAMPLERS).

        The requests run at once, one thread each, so a batching server (vLLM, TGI)
        computes the columns together; a server that runs one request at a time serves
        them in turn. A stop, or closing this iterator, ends every request.
        """
        wire.refuse_unsupported(variants, forced, contrast, self._kind_for(variants))
        cancel = threading.Event()
        updates: queue.Queue[_Update] = queue.Queue()
        for index, settings in enumerate(variants):
            threading.Thread(
                target=_pump, args=(self.stream_text, index, prompt, settings, cancel, updates, inspect), daemon=True,
                name=f"remote-{index}",
            ).start()  # fmt: skip
        try:
            yield from _collect(updates, len(variants), inspect, stop)
        finally:
            cancel.set()

    # --- next token, suggestions ---------------------------------------------------------

    def next_token(self, prompt: str, top: int = MAX_LOGPROBS, timeout: float = SUGGEST_TIMEOUT) -> dict[str, float]:
        """The next token's likeliest alternatives after a prompt, token text to log-probability."""
        return wire.top_logprobs(self._post(wire.next_token_body(prompt, top, model=self.model), timeout), self.base)

    def distribution(self, prompt: str, settings: SamplingSettings, top: int = 10) -> list[Candidate]:
        """The most likely next tokens, with raw and setting-adjusted probabilities."""
        return candidates(self.next_token(prompt, top, timeout=GENERATE_TIMEOUT), settings, top)

    def greedy(self, prompt: str, tokens: int, repetition_penalty: float = 1.2) -> str:
        """A short greedy continuation, up to the end of the line."""
        settings = SamplingSettings(do_sample=False, max_new_tokens=tokens, repetition_penalty=repetition_penalty)
        body = {**wire.completion_body(prompt, settings, model=self.model), "stop": ["\n"]}
        return str(wire.first_choice(self._post(body, SUGGEST_TIMEOUT)).get("text") or "").split("\n")[0]

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
