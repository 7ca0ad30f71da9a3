"""The engines side by side: decode rates and keystroke latencies, interleaved repeat by repeat
so that a busy machine slows them alike."""

from __future__ import annotations

from autowrite import decode
from autowrite.settings import SamplingSettings
from benchmarks.engines import Ours
from benchmarks.timing import PROMPTS, Config, decode_rate, keystrokes, typing_trace

Rates = dict[str, list[float]]
Latencies = dict[str, dict[str, list[list[float]]]]


def engine_figures(engines: list, settings: SamplingSettings, config: Config, text: str) -> tuple[Rates, Latencies]:
    """Each engine's decode rates, and its keystroke latencies by word and by letter, interleaved."""
    for e in engines:  # warm-up: first calls pay for allocations and caches
        decode.last(e.stream(PROMPTS[0], settings.replace(max_new_tokens=4)))
    return _rates(engines, settings, config), _latencies(engines, config, text)


def _rates(engines: list, settings: SamplingSettings, config: Config) -> Rates:
    rates: Rates = {e.name: [] for e in engines}
    for _ in range(config.repeats):
        for prompt in PROMPTS[: config.prompts]:
            for e in engines:
                rates[e.name].append(decode_rate(e, prompt, settings))
    return rates


def _latencies(engines: list, config: Config, text: str) -> Latencies:
    latency: Latencies = {e.name: {} for e in engines}
    for by in ("word", "letter"):
        trace = typing_trace(text, by)
        for _ in range(config.repeats):
            for e in engines:
                e.reset()  # each pass starts cold; the word trace leaves no positions for the letter one
                keystrokes(e, trace[:2])  # warm the caches of this trace's start
                latency[e.name].setdefault(by, []).append(keystrokes(e, trace))
    return latency


def app_flow(ours: Ours, trace: list[str], config: Config) -> list[list[float]]:
    """Keystroke latencies letter by letter as the live tab runs it, one list per pass."""
    passes = []
    for _ in range(config.repeats):
        ours.reset()
        keystrokes(ours, trace[:2], app_flow=True)
        passes.append(keystrokes(ours, trace, app_flow=True))
    return passes
