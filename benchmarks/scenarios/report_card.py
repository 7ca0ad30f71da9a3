"""The report card's cost: its samples decoded in shared batches against one at a time."""

from __future__ import annotations

import statistics
import threading
import time

from autowrite import decode
from autowrite.formats import Task
from autowrite.service import Request, Variant
from autowrite.settings import PRESET_NAMES, preset
from benchmarks.engines import Ours
from benchmarks.timing import TRACE, BenchmarkError, Config, keystrokes, p50_p95, typing_trace


def report_card(ours: Ours, config: Config) -> dict:
    """A report of 4 columns x N seeds on one model, against the same samples one at a time.

    Both ways must give the same texts, or the figure would compare different work. While
    the report decodes, a typing trace measures what a keystroke waits meanwhile.
    """
    request = Request(model=ours.model_name, task=Task.REVIEW, text="", rating=1, category="Electronics")
    # Unguided, so the figure measures the same work whatever the card's rating guidance;
    # guidance's own cost is the guided scenario's figure.
    card = ours.service.entry(ours.model_name).defaults.replace(rating_guidance=1.0)
    columns = [Variant(ours.model_name, preset(name, card, config.report_tokens, 42)) for name in PRESET_NAMES[:4]]
    shared, alone, typing = [], [], []
    trace = typing_trace(TRACE[: config.trace_chars], "letter")
    for _ in range(max(1, min(3, config.repeats))):
        ours.reset()  # the typist starts cold, as in the keystroke figures
        start = time.perf_counter()
        typist = threading.Thread(target=lambda: typing.extend(keystrokes(ours, trace)))
        typist.start()
        _, outputs = ours.service.report(request, columns, config.report_seeds)
        together = decode.last(outputs).texts
        shared.append(time.perf_counter() - start)
        typist.join()
        start = time.perf_counter()
        one_by_one = _one_at_a_time(ours, request, columns, config.report_seeds)
        alone.append(time.perf_counter() - start)
        if together != one_by_one:
            raise BenchmarkError("the report's samples differ from the same samples decoded one at a time")
    return {
        "samples": len(columns) * config.report_seeds,
        "tokens_each": config.report_tokens,
        "shared_batches_s": statistics.median(shared),
        "one_at_a_time_s": statistics.median(alone),
        "ratio": statistics.median(alone) / statistics.median(shared),
        "keystroke_ms_meanwhile": p50_p95(typing),
    }


def _one_at_a_time(ours: Ours, request: Request, columns: list[Variant], seeds: int) -> list[str]:
    """The report's samples, each generated on its own, in the report's order."""
    return [
        ours.service.generate(request, c.settings.replace(seed=42 + k)).texts[0] for c in columns for k in range(seeds)
    ]
