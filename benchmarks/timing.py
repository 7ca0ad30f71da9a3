"""What the in-process measurements share: the prompts and typing trace, how much to measure,
and the timings and percentiles every scenario reports."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from autowrite.settings import SamplingSettings

PROMPTS = [
    "I bought these headphones for my daughter and",
    "The blender arrived quickly, but after two weeks the motor",
    "This is the best album I have heard in years because",
]
# Suffixes that make eight different prompts of the three above (one per simulated person).
PEOPLE_WORDS = ["honestly", "I", "it", "overall", "still", "the", "we", "my"]
TRACE = (
    "I ordered this speaker for my kitchen and the sound is much better than I expected. "
    "The battery lasts about ten hours and pairing with my phone took seconds."
)


@dataclass
class Config:
    """How much to measure; --smoke shrinks everything to a few seconds."""

    repeats: int = 5
    new_tokens: int = 64
    trace_chars: int = len(TRACE)
    http_calls: int = 40
    prompts: int = len(PROMPTS)
    report_seeds: int = 8
    report_tokens: int = 60

    @classmethod
    def smoke(cls) -> Config:
        """A few seconds of everything: CI checks the benchmark runs, not how fast."""
        return cls(repeats=1, new_tokens=3, trace_chars=6, http_calls=3, prompts=1, report_seeds=2, report_tokens=3)


class BenchmarkError(RuntimeError):
    """A measured path gave a wrong result: no figure is written for it."""


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of a list of numbers."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def p50_p95(values: list[float]) -> dict:
    """The median and 95th percentile of a list of latencies, and how many there are."""
    return {"p50": percentile(values, 50), "p95": percentile(values, 95), "n": len(values)}


def summary(values: list[float]) -> dict:
    """Count and latency percentiles (ms) of one endpoint."""
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values),
        "mean": statistics.fmean(values),
    }


def trace_summary(passes: list[list[float]]) -> dict:
    """Keystroke latency over repeated passes of a trace: the median of each pass's p50 and p95.

    The machine's speed drifts from minute to minute; one pass's percentiles moved by a
    millisecond between runs of the same code.
    """
    return {
        "p50": statistics.median(percentile(p, 50) for p in passes),
        "p95": statistics.median(percentile(p, 95) for p in passes),
        "n": len(passes[0]),
        "repeats": len(passes),
    }


def decode_rate(engine, prompt: str, settings: SamplingSettings) -> float:
    """Tokens per second between the first and the last streamed piece."""
    stamps = [time.perf_counter() for _ in engine.stream(prompt, settings)]
    if len(stamps) < 2:
        return float("nan")
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def typing_trace(text: str, by: str) -> list[str]:
    """The states of a text box while someone types it, word by word or letter by letter."""
    if by == "letter":
        return [text[:i] for i in range(1, len(text) + 1)]
    words = text.split(" ")
    return [" ".join(words[:i]) + " " for i in range(1, len(words) + 1)]


def keystrokes(engine, trace: list[str], app_flow: bool = False) -> list[float]:
    """Milliseconds from each keystroke's text to its next-word suggestions.

    app_flow: as the live tab runs, where someone would pause (after a comma or a full
    stop) also compute (untimed) the ghost continuation the tab asks for once typing pauses.
    """
    timings = []
    for state in trace:
        start = time.perf_counter()
        engine.suggest(state)
        timings.append((time.perf_counter() - start) * 1000)
        if app_flow and state.rstrip()[-1:] in {",", "."}:
            engine.ghost(state)
    return timings
