"""What shared decode steps buy: compare columns decoded together, and eight people at once."""

from __future__ import annotations

import statistics
import time

from autowrite.settings import SamplingSettings
from benchmarks.engines import Ours
from benchmarks.timing import PEOPLE_WORDS, PROMPTS, Config


def compare_columns(ours: Ours, config: Config) -> tuple[dict[int, float], dict[int, float]]:
    """Median seconds for one and for four compare columns, and milliseconds per decode step.

    A sampled column may end early at the end-of-text token, and the four columns run until
    their longest ends, so the fair comparison is the time of one step (every column's next
    token), besides the wall time of the whole run.
    """
    columns, per_step = {}, {}
    base = SamplingSettings(temperature=0.9, top_k=40, top_p=0.95, max_new_tokens=config.new_tokens)
    for n in (1, 4):
        variants = [base.replace(seed=s) for s in range(n)]
        times, steps = [], []
        for _ in range(config.repeats):
            start = time.perf_counter()
            steps.append(ours.columns(PROMPTS[1], variants))
            times.append(time.perf_counter() - start)
        columns[n] = statistics.median(times)
        per_step[n] = statistics.median(t / max(1, k) for t, k in zip(times, steps)) * 1000
    return columns, per_step


def crowd(ours: Ours, settings: SamplingSettings, config: Config) -> dict[str, list[float]]:
    """Eight people generating at once, from eight prompts: tokens/s sharing steps against taking turns."""
    people = [f"{PROMPTS[i % len(PROMPTS)]} {word}" for i, word in enumerate(PEOPLE_WORDS)]
    figures: dict[str, list[float]] = {"1 alone": [], "8 sharing steps": [], "8 taking turns": []}
    for _ in range(config.repeats):
        for label, group, shared in (
            ("1 alone", people[:1], True),
            ("8 sharing steps", people, True),
            ("8 taking turns", people, False),
        ):
            tokens, seconds = ours.together(group, settings, shared_steps=shared)
            figures[label].append(tokens / seconds)
    return figures
