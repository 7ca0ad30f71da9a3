"""The token inspector's cost: generation with each step's alternatives kept, and without."""

from __future__ import annotations

import statistics
import time

from autowrite import decode
from autowrite.settings import SamplingSettings
from benchmarks.engines import Ours
from benchmarks.timing import PROMPTS, BenchmarkError, Config


def inspector(ours: Ours, config: Config) -> dict:
    """Generation tokens/s with the token inspector's steps kept and without, interleaved, same texts.

    Sampled with the settings people use (top-k, top-p), so the steps' after-settings
    probabilities cost what they cost in the app.
    """
    settings = SamplingSettings(temperature=0.8, top_k=50, top_p=0.95, max_new_tokens=config.new_tokens, seed=7)
    rates: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(config.repeats):
        for prompt in PROMPTS[: config.prompts]:
            texts = {inspect: _timed(ours, prompt, settings, inspect, rates[inspect]) for inspect in (False, True)}
            if texts[True] != texts[False]:
                raise BenchmarkError("inspecting changed the generated text")
    off, on = statistics.median(rates[False]), statistics.median(rates[True])
    return {"off_tokens_per_s": off, "on_tokens_per_s": on, "ratio": on / off, "runs": len(rates[True])}


def _timed(ours: Ours, prompt: str, settings: SamplingSettings, inspect: bool, rates: list[float]) -> str:
    """One generation from a cold cache, its tokens/s appended to rates; returns its text."""
    ours.backend.forget()
    start = time.perf_counter()
    samples, _ = decode.last(ours.model.stream_many(prompt, [settings], inspect=inspect))
    rates.append(samples[0].tokens / (time.perf_counter() - start))
    if inspect and len(samples[0].steps) != samples[0].tokens:
        raise BenchmarkError("the inspector kept a step count other than the tokens written")
    return samples[0].text
