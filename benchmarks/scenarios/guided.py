"""Rating guidance's cost: a 1-star review decoded with guidance (two prompts together) and without,
in process and through the app's generate endpoint."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from contextlib import closing

from autowrite.formats import Task
from autowrite.service import Request
from benchmarks.engines import Ours
from benchmarks.fairness import events, post
from benchmarks.rest import Api, read_parameters
from benchmarks.timing import BenchmarkError, Config

GUIDED_SEED = 5
GUIDED_REQUEST = {"prompt": "", "mode": "review", "rating": 1, "category": "Electronics"}  # the API's names
SCALES = (2.0, 1.0)  # guided, then unguided


def guidance(ours: Ours, config: Config) -> dict:
    """Decode tokens/s of a 1-star review with rating guidance (two prompts decoded together) and without.

    Interleaved, same seed, through the app's path (Service.stream, the StepBatcher); timed
    from the first token to the last, as http_guidance() times the same review through the app.
    """
    request = Request(model=ours.model_name, task=Task.REVIEW, text="", rating=1, category="Electronics")
    base = ours.service.entry(ours.model_name).defaults.replace(max_new_tokens=config.new_tokens, seed=GUIDED_SEED)

    def run(scale: float) -> tuple[list[tuple[float, int]], str]:
        stamps = []
        for output in ours.service.stream(request, base.replace(rating_guidance=scale)):
            if output.warnings:
                raise BenchmarkError(f"guidance did not run: {output.warnings}")
            if output.samples[0].tokens:
                stamps.append((time.perf_counter(), output.samples[0].tokens))
        return stamps, output.texts[0]

    return _interleaved(run, config)


def http_guidance(url: str, model: str, encode: Callable[[str], list[int]], config: Config) -> dict:
    """guidance() through the app: the same review from the generate endpoint over the REST protocol.

    Tokens are counted by encoding the streamed texts. Any error event, a text that changes
    between repeats or guidance that changes nothing raises BenchmarkError: no figure then.
    """
    api = Api(url, read_parameters(url, ["generate"]))
    values = {**GUIDED_REQUEST, "model": model, "max_new_tokens": config.new_tokens, "seed": GUIDED_SEED}

    def run(scale: float) -> tuple[list[tuple[float, int]], str]:
        event_id = post(url, "generate", api.data("generate", {**values, "rating_guidance": scale}), None)
        stamps, text, complete = [], "", False
        with closing(events(url, "generate", event_id)) as stream:
            for event, data in stream:
                if event == "error":
                    raise BenchmarkError(f"generate with rating_guidance={scale}: {data}")
                if event in ("generating", "complete") and (text := json.loads(data)[0]):
                    stamps.append((time.perf_counter(), len(encode(text))))
                if complete := event == "complete":
                    break
        if not complete or not stamps:
            raise BenchmarkError(f"generate with rating_guidance={scale} ended without a text")
        return stamps, text

    return _interleaved(run, config)


def _interleaved(run: Callable[[float], tuple[list[tuple[float, int]], str]], config: Config) -> dict:
    """Each repeat, one guided and one unguided run: their rates, checked to give the same text each time."""
    rates: dict[float, list[float]] = {scale: [] for scale in SCALES}
    texts: dict[float, str] = {}
    for _ in range(config.repeats):
        for scale in SCALES:
            stamps, text = run(scale)
            rates[scale].append(_rate(stamps))
            _same_text(texts, scale, text)
    return guidance_figures(rates, texts)


def _rate(stamps: list[tuple[float, int]]) -> float:
    """Tokens per second from (time, tokens so far) at each streamed text, first to last."""
    (start, first), (end, last) = stamps[0], stamps[-1]
    if last <= first or end <= start:
        raise BenchmarkError(f"too few tokens to time ({last}); ask for more new tokens")
    return (last - first) / (end - start)


def _same_text(texts: dict[float, str], scale: float, text: str) -> None:
    """A seeded text must come out the same every repeat, or the repeats time different work."""
    if texts.setdefault(scale, text) != text:
        raise BenchmarkError(f"rating_guidance={scale} gave another text for the same seed")


def guidance_figures(rates: dict[float, list[float]], texts: dict[float, str]) -> dict:
    """Guided against unguided: medians of each's tokens/s, and the time per token guided over unguided."""
    if texts[2.0] == texts[1.0]:
        raise BenchmarkError("rating guidance changed nothing: is the model a review checkpoint?")
    on, off = statistics.median(rates[2.0]), statistics.median(rates[1.0])
    # Time per token, guided over unguided: how much longer people wait for the same length.
    return {"on_tokens_per_s": on, "off_tokens_per_s": off, "ratio": off / on, "runs": len(rates[2.0])}
