"""What needs a fresh process: the app's cold start, suggest over HTTP and its memory; each engine's peak memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from autowrite import decode
from autowrite.catalog import load_catalog
from autowrite.loading import embedded_tokenizer
from autowrite.settings import SamplingSettings
from benchmarks.engines import ENGINES
from benchmarks.process import peak_rss_mb
from benchmarks.rest import Api, read_parameters
from benchmarks.scenarios.guided import http_guidance
from benchmarks.server import ROOT, free_port
from benchmarks.shapes import suggest_values
from benchmarks.timing import PROMPTS, TRACE, BenchmarkError, Config, p50_p95, typing_trace

COLD_START_LIMIT_S = 120


def rss_of(engine_name: str) -> float:
    """Peak resident memory (MB) of a fresh process that loads one engine and generates."""
    command = [sys.executable, "-m", "benchmarks.run", "--rss-of", engine_name]
    out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return float(out.stdout.strip().splitlines()[-1])


def measure_own_rss(engine_name: str) -> float:
    """Load one engine, generate a little, and return this process's peak resident memory (MB)."""
    e = ENGINES[engine_name]()
    decode.last(e.stream(PROMPTS[0], SamplingSettings(do_sample=False, max_new_tokens=16)))
    return peak_rss_mb(os.getpid())


def app_process(config: Config) -> dict:
    """Start python app.py: time to the first suggestion over HTTP, REST latency, memory."""
    port = free_port()
    start = time.perf_counter()
    app = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        api = _first_suggestion(url, app)
        first = time.perf_counter() - start
        latencies = rest_latencies(api, typing_trace(TRACE[: config.trace_chars], "letter")[: config.http_calls])
        guided = http_guidance(url, load_catalog()[0].name, embedded_tokenizer().encode, config)
        rss = peak_rss_mb(app.pid)
    finally:
        app.terminate()
        app.wait(timeout=30)
    return {"cold_start_to_first_suggestion_s": first, **latencies, "guidance": guided, "app_rss_mb": rss}


def _first_suggestion(url: str, app: subprocess.Popen) -> Api:
    """Ask for a suggestion until the starting app gives one; the app's API, by parameter name."""
    start = time.perf_counter()
    while time.perf_counter() - start < COLD_START_LIMIT_S and app.poll() is None:
        try:
            api = Api(url, read_parameters(url, ["suggest"]))
            api.call("suggest", suggest_values("Great sound and", None))
            return api
        except OSError:  # not listening yet
            time.sleep(0.1)
    raise BenchmarkError(f"the app gave no suggestion within {COLD_START_LIMIT_S} s of starting")


def rest_latencies(api: Api, trace: list[str]) -> dict:
    """Suggest through the REST protocol over a typing trace, in ms.

    As the live tab asks: the words of each keystroke (timed), then its ghost text (timed
    apart); and, for API users, both in one call on a fresh trace.
    """
    api.call("suggest", suggest_values(trace[0], None))
    timings, ghosts, together = [], [], []
    for state in trace:
        timings.append(_suggest_ms(api, suggest_values(state, None, ghost_tokens=0)))
        ghosts.append(_suggest_ms(api, suggest_values(state, None)))
    for state in trace:
        together.append(_suggest_ms(api, suggest_values(" " + state, None)))
    return {
        "http_suggest_ms": p50_p95(timings),
        "http_ghost_after_words_ms": p50_p95(ghosts),
        "http_words_and_ghost_ms": p50_p95(together),
    }


def _suggest_ms(api: Api, values: dict) -> float:
    start = time.perf_counter()
    api.call("suggest", values)
    return (time.perf_counter() - start) * 1000
