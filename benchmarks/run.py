"""Side-by-side speed of this project's engine, transformers' pipeline (bf16) and llama-cpp-python.

python -m benchmarks.run            # full run, writes benchmarks/results/latest.{json,md}
python -m benchmarks.run --smoke    # seconds; what CI runs to keep the benchmark working

All three engines run in this one process, on the same model (the catalog's default: the
embedded SmolLM2-135M, with the default entry's adapter merged in when it has one), the
same prompts and the same settings, interleaved repeat by repeat so that a busy machine
slows them alike. Cold start, resident memory and the HTTP round trip need a fresh
process each and are measured in subprocesses of the real app.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import torch

from autowrite import decode
from autowrite.backends.compute import on_compute_thread, one_openmp_team
from autowrite.catalog import load_catalog
from autowrite.formats import Task
from autowrite.loading import cache_root, embedded_folder, embedded_gguf_path, embedded_tokenizer
from autowrite.scheduling.capacity import cpu_count
from autowrite.service import Request, Service, Variant
from autowrite.settings import PRESET_NAMES, SamplingSettings, preset

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"

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


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of a list of numbers."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


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


def default_model() -> tuple[Path, Path | None]:
    """The GGUF and adapter folder of the catalog's default entry."""
    entry = load_catalog()[0]
    adapter = entry.resolve(entry.adapter) if entry.adapter else None
    return embedded_gguf_path(), adapter


# --- the three engines ------------------------------------------------------------------


class Ours:
    """This project's engine: the service and backend the app uses."""

    name = "autowrite (llama.cpp backend)"

    def __init__(self) -> None:
        self.service = Service(load_catalog(), read_hub_cards=False)
        self.model = self.service.default_name
        self.loaded = self.service.load(self.model)
        self.backend = self.loaded.backend

    def stream(self, prompt: str, settings: SamplingSettings):
        ids = self.backend.encode(prompt)
        previous = 0
        for text in decode.stream(self.backend, ids, settings, batcher=self.loaded.model.batcher):
            if len(text) > previous:
                previous = len(text)
                yield text

    def suggest(self, text: str) -> None:
        # As the live tab asks on each keystroke: the words from one model call (ghost(),
        # asked at pauses, computes the positions that finish a best word cut mid-word).
        self.service.suggest(Request(model=self.model, text=text), ghost_tokens=0, finish=False)

    def ghost(self, text: str) -> None:
        self.service.suggest(Request(model=self.model, text=text), ghost_tokens=8)

    def reset(self) -> None:
        """Forget every computed position, so a typing trace starts cold."""
        from autowrite.suggest import memo

        memo(self.backend).clear()
        self.backend.forget()

    def columns(self, prompt: str, variants: list[SamplingSettings]) -> int:
        """Decode the compare columns; returns the number of steps (the longest column's tokens)."""
        ids = self.backend.encode(prompt)
        return sum(1 for _ in decode.stream_many(self.backend, ids, variants, batcher=self.loaded.model.batcher))

    def together(self, prompts: list[str], settings: SamplingSettings, shared_steps: bool) -> tuple[int, float]:
        """Generate from every prompt at once, one thread each, as that many people would.

        shared_steps=False decodes without the model's batcher.StepBatcher: each generation takes its own
        turns at the model, and each one starting empties the generation cache (forget()), so
        those already running recompute their text. Returns the tokens generated and the wall time.
        """
        batcher = self.loaded.model.batcher if shared_steps else None
        texts = [""] * len(prompts)

        def run(i: int) -> None:
            ids = self.backend.encode(prompts[i])
            texts[i] = decode.last(decode.stream(self.backend, ids, settings, batcher=batcher), "")

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(prompts))]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
        return sum(len(self.backend.encode(t)) for t in texts), elapsed


class Pipeline:
    """transformers' text-generation pipeline in bf16, streaming with TextIteratorStreamer."""

    name = "transformers pipeline (bf16)"

    def __init__(self, adapter: Path | None) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

        folder = embedded_folder()
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16)
        if adapter is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.pipe = pipeline("text-generation", model=model, tokenizer=self.tokenizer)

    def stream(self, prompt: str, settings: SamplingSettings):
        from transformers import TextIteratorStreamer

        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True)
        kwargs = dict(
            max_new_tokens=settings.max_new_tokens,
            do_sample=settings.do_sample,
            repetition_penalty=settings.repetition_penalty,
            streamer=streamer,
            min_new_tokens=settings.max_new_tokens,
        )
        worker = threading.Thread(target=self.pipe, args=(prompt,), kwargs=kwargs)
        worker.start()
        text = ""
        for piece in streamer:
            text += piece
            if piece:
                yield text
        worker.join()

    def suggest(self, text: str) -> None:
        # The plain way: the whole text through the model on every keystroke.
        self.pipe(text, max_new_tokens=1, do_sample=False)

    def reset(self) -> None:
        """Nothing is kept between calls."""


class LlamaCppPython:
    """llama-cpp-python's high-level Llama on the same GGUF (with its own prefix reuse)."""

    name = "llama-cpp-python"

    def __init__(self, gguf: Path) -> None:
        from llama_cpp import Llama

        from autowrite.backends.llama_patches import without_extra_buffers

        # The same kernels as this project's backend (the AMX repacking crashes; see backends/llama_patches.py).
        with without_extra_buffers():
            self.llm = Llama(model_path=str(gguf), n_ctx=2048, n_threads=cpu_count(), verbose=False)

    def stream(self, prompt: str, settings: SamplingSettings):
        # On this project's compute thread (autowrite.backends.compute._COMPUTE): decoding on another
        # thread would start a second OpenMP team and slow both engines.
        text = ""
        chunks = self.llm.create_completion(
            prompt,
            max_tokens=settings.max_new_tokens,
            temperature=0.0 if not settings.do_sample else settings.temperature,
            top_k=settings.top_k,
            top_p=settings.top_p,
            repeat_penalty=settings.repetition_penalty,
            seed=settings.seed,
            stream=True,
        )
        while (chunk := on_compute_thread(next, chunks, None)) is not None:
            text += chunk["choices"][0]["text"]
            yield text

    def suggest(self, text: str) -> None:
        on_compute_thread(lambda: self.llm.create_completion(text, max_tokens=1, temperature=0.0))

    def reset(self) -> None:
        """Forget the evaluated prefix: with its token count at zero, the next eval clears the whole cache."""
        self.llm.reset()


# --- measurements ----------------------------------------------------------------------


def decode_rate(engine_, prompt: str, settings: SamplingSettings) -> float:
    """Tokens per second between the first and the last streamed piece."""
    stamps = [time.perf_counter() for _ in engine_.stream(prompt, settings)]
    if len(stamps) < 2:
        return float("nan")
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def typing_trace(text: str, by: str) -> list[str]:
    """The states of a text box while someone types it, word by word or letter by letter."""
    if by == "letter":
        return [text[:i] for i in range(1, len(text) + 1)]
    words = text.split(" ")
    return [" ".join(words[:i]) + " " for i in range(1, len(words) + 1)]


def keystrokes(engine_, trace: list[str], app_flow: bool = False) -> list[float]:
    """Milliseconds from each keystroke's text to its next-word suggestions.

    app_flow: as the live tab runs, where someone would pause (after a comma or a full
    stop) also compute (untimed) the ghost continuation the tab asks for once typing pauses.
    """
    timings = []
    for state in trace:
        start = time.perf_counter()
        engine_.suggest(state)
        timings.append((time.perf_counter() - start) * 1000)
        if app_flow and state.rstrip()[-1:] in {",", "."}:
            engine_.ghost(state)
    return timings


def in_process(config: Config) -> dict:
    """Decode speed, keystroke latency and compare columns for all engines.

    The two llama.cpp engines run interleaved, as the app runs (torch single-threaded, every
    decode on one thread: autowrite.backends.compute.one_openmp_team). The transformers pipeline runs
    after them with torch's own threads, since its teams would slow every later decode.
    """
    gguf, adapter = default_model()
    torch_threads = torch.get_num_threads()
    one_openmp_team()
    ours = Ours()
    same_gguf = gguf
    if adapter is not None:
        from autowrite.gguf_merge import merged_path

        same_gguf = merged_path(gguf, adapter, cache_root())
    settings = SamplingSettings(do_sample=False, repetition_penalty=1.1, max_new_tokens=config.new_tokens)
    text = TRACE[: config.trace_chars]
    rates, latency = engine_figures([ours, LlamaCppPython(same_gguf)], settings, config, text)
    latency[ours.name]["letter, app flow"] = _app_flow(ours, typing_trace(text, "letter"), config)
    columns, per_step = _compare_columns(ours, config)
    crowd = _crowd(ours, settings, config)
    report = report_card(ours, config)
    inspected = inspector(ours, config)
    guided = guidance(ours, config)
    torch.set_num_threads(torch_threads)
    pipeline_rates, pipeline_latency = engine_figures([Pipeline(adapter)], settings, config, text)
    rates.update(pipeline_rates)
    latency.update(pipeline_latency)
    return {
        "concurrent_tokens_per_s": {label: statistics.median(r) for label, r in crowd.items()},
        "decode_tokens_per_s": {name: statistics.median(r) for name, r in rates.items()},
        "keystroke_ms": {
            name: {by: trace_summary(passes) for by, passes in runs.items()} for name, runs in latency.items()
        },
        "compare_seconds": {"1 column": columns[1], "4 columns": columns[4], "ratio": columns[4] / columns[1]},
        "compare_ms_per_step": {"1 column": per_step[1], "4 columns": per_step[4], "ratio": per_step[4] / per_step[1]},
        "report_card": report,
        "inspector": inspected,
        "guidance": guided,
        "ours": ours.name,
    }


def engine_figures(
    engines: list, settings: SamplingSettings, config: Config, text: str
) -> tuple[dict[str, list[float]], dict[str, dict[str, list[list[float]]]]]:
    """Each engine's decode rates, and its keystroke latencies by word and by letter, interleaved."""
    rates: dict[str, list[float]] = {}
    latency: dict[str, dict[str, list[list[float]]]] = {}
    for e in engines:  # warm-up: first calls pay for allocations and caches
        decode.last(e.stream(PROMPTS[0], settings.replace(max_new_tokens=4)))
        rates[e.name], latency[e.name] = [], {}
    for _ in range(config.repeats):
        for prompt in PROMPTS[: config.prompts]:
            for e in engines:
                rates[e.name].append(decode_rate(e, prompt, settings))
    for by in ("word", "letter"):
        trace = typing_trace(text, by)
        for _ in range(config.repeats):
            for e in engines:
                e.reset()  # each pass starts cold; the word trace leaves no positions for the letter one
                keystrokes(e, trace[:2])  # warm the caches of this trace's start
                latency[e.name].setdefault(by, []).append(keystrokes(e, trace))
    return rates, latency


def _app_flow(ours: Ours, trace: list[str], config: Config) -> list[list[float]]:
    """Keystroke latencies letter by letter as the live tab runs it, one list per pass."""
    passes = []
    for _ in range(config.repeats):
        ours.reset()
        keystrokes(ours, trace[:2], app_flow=True)
        passes.append(keystrokes(ours, trace, app_flow=True))
    return passes


def _compare_columns(ours: Ours, config: Config) -> tuple[dict[int, float], dict[int, float]]:
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


class BenchmarkError(RuntimeError):
    """A measured path gave a wrong result: no figure is written for it."""


def report_card(ours: Ours, config: Config) -> dict:
    """A report of 4 columns x N seeds on one model, against the same samples one at a time.

    Both ways must give the same texts, or the figure would compare different work. While
    the report decodes, a typing trace measures what a keystroke waits meanwhile.
    """
    request = Request(model=ours.model, task=Task.REVIEW, text="", rating=1, category="Electronics")
    # Unguided, so the figure measures the same work whatever the card's rating guidance;
    # guidance's own cost is guidance()'s figure.
    card = ours.service.entry(ours.model).defaults.replace(rating_guidance=1.0)
    columns = [Variant(ours.model, preset(name, card, config.report_tokens, 42)) for name in PRESET_NAMES[:4]]
    seeds = config.report_seeds
    shared, alone, typing = [], [], []
    trace = typing_trace(TRACE[: config.trace_chars], "letter")
    for _ in range(max(1, min(3, config.repeats))):
        ours.reset()  # the typist starts cold, as in the keystroke figures
        start = time.perf_counter()
        typist = threading.Thread(target=lambda: typing.extend(keystrokes(ours, trace)))
        typist.start()
        _, outputs = ours.service.report(request, columns, seeds)
        together = decode.last(outputs).texts
        shared.append(time.perf_counter() - start)
        typist.join()
        start = time.perf_counter()
        one_by_one = [
            ours.service.generate(request, c.settings.replace(seed=42 + k)).texts[0]
            for c in columns
            for k in range(seeds)
        ]
        alone.append(time.perf_counter() - start)
        if together != one_by_one:
            raise BenchmarkError("the report's samples differ from the same samples decoded one at a time")
    return {
        "samples": len(columns) * seeds,
        "tokens_each": config.report_tokens,
        "shared_batches_s": statistics.median(shared),
        "one_at_a_time_s": statistics.median(alone),
        "ratio": statistics.median(alone) / statistics.median(shared),
        "keystroke_ms_meanwhile": {"p50": percentile(typing, 50), "p95": percentile(typing, 95), "n": len(typing)},
    }


def inspector(ours: Ours, config: Config) -> dict:
    """Generation tokens/s with the token inspector's steps kept and without, interleaved, same texts.

    Sampled with the settings people use (top-k, top-p), so the steps' after-settings
    probabilities cost what they cost in the app.
    """
    settings = SamplingSettings(temperature=0.8, top_k=50, top_p=0.95, max_new_tokens=config.new_tokens, seed=7)
    rates: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(config.repeats):
        for prompt in PROMPTS[: config.prompts]:
            texts = {}
            for inspect in (False, True):
                ours.backend.forget()
                ids = ours.backend.encode(prompt)
                start = time.perf_counter()
                options = decode.Options(inspect=inspect)
                samples = decode.last(
                    decode.sample_many(ours.backend, ids, [settings], None, ours.loaded.model.batcher, options)
                )
                rates[inspect].append(samples[0].tokens / (time.perf_counter() - start))
                texts[inspect] = samples[0].text
                if inspect and len(samples[0].steps) != samples[0].tokens:
                    raise BenchmarkError("the inspector kept a step count other than the tokens written")
            if texts[True] != texts[False]:
                raise BenchmarkError("inspecting changed the generated text")
    off, on = statistics.median(rates[False]), statistics.median(rates[True])
    return {"off_tokens_per_s": off, "on_tokens_per_s": on, "ratio": on / off, "runs": len(rates[True])}


GUIDED_SEED = 5
GUIDED_REQUEST = {"prompt": "", "mode": "review", "rating": 1, "category": "Electronics"}  # the API's names


def guidance(ours: Ours, config: Config) -> dict:
    """Decode tokens/s of a 1-star review with rating guidance (two prompts decoded together) and without.

    Interleaved, same seed, through the app's path (Service.stream, the StepBatcher); timed
    from the first token to the last, as http_guidance() times the same review through the app.
    """
    request = Request(model=ours.model, task=Task.REVIEW, text="", rating=1, category="Electronics")
    base = ours.service.entry(ours.model).defaults.replace(max_new_tokens=config.new_tokens, seed=GUIDED_SEED)
    rates: dict[float, list[float]] = {2.0: [], 1.0: []}
    texts: dict[float, str] = {}
    for _ in range(config.repeats):
        for scale in rates:
            stamps = []
            for output in ours.service.stream(request, base.replace(rating_guidance=scale)):
                if output.warnings:
                    raise BenchmarkError(f"guidance did not run: {output.warnings}")
                if output.samples[0].tokens:
                    stamps.append((time.perf_counter(), output.samples[0].tokens))
            rates[scale].append(_rate(stamps))
            _same_text(texts, scale, output.texts[0])
    return _guidance_figures(rates, texts)


def http_guidance(url: str, model: str, encode, config: Config) -> dict:
    """guidance() through the app: the same review from the generate endpoint over the REST protocol.

    Tokens are counted by encoding the streamed texts. Any error event, a text that changes
    between repeats or guidance that changes nothing raises BenchmarkError: no figure then.
    """
    from benchmarks.fairness import events, post
    from benchmarks.load import Api, read_parameters

    api = Api(url, read_parameters(url, ["generate"]))
    rates: dict[float, list[float]] = {2.0: [], 1.0: []}
    texts: dict[float, str] = {}
    for _ in range(config.repeats):
        for scale in rates:
            values = {**GUIDED_REQUEST, "model": model, "max_new_tokens": config.new_tokens, "seed": GUIDED_SEED}
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
            rates[scale].append(_rate(stamps))
            _same_text(texts, scale, text)
    return _guidance_figures(rates, texts)


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


def _guidance_figures(rates: dict[float, list[float]], texts: dict[float, str]) -> dict:
    if texts[2.0] == texts[1.0]:
        raise BenchmarkError("rating guidance changed nothing: is the model a review checkpoint?")
    on, off = statistics.median(rates[2.0]), statistics.median(rates[1.0])
    # Time per token, guided over unguided: how much longer people wait for the same length.
    return {"on_tokens_per_s": on, "off_tokens_per_s": off, "ratio": off / on, "runs": len(rates[2.0])}


def _crowd(ours: Ours, settings: SamplingSettings, config: Config) -> dict[str, list[float]]:
    """Eight people generating at once, from eight prompts: tokens/s sharing steps against taking turns."""
    people = [f"{PROMPTS[i % len(PROMPTS)]} {word}" for i, word in enumerate(PEOPLE_WORDS)]
    crowd: dict[str, list[float]] = {"1 alone": [], "8 sharing steps": [], "8 taking turns": []}
    for _ in range(config.repeats):
        for label, group, shared in (
            ("1 alone", people[:1], True),
            ("8 sharing steps", people, True),
            ("8 taking turns", people, False),
        ):
            tokens, seconds = ours.together(group, settings, shared_steps=shared)
            crowd[label].append(tokens / seconds)
    return crowd


ENGINES = {
    "ours": Ours,
    "llama": lambda: LlamaCppPython(default_model()[0]),
    "pipeline": lambda: Pipeline(default_model()[1]),
}


def rss_of(engine_name: str) -> float:
    """Peak resident memory (MB) of a fresh process that loads one engine and generates."""
    command = [sys.executable, "-m", "benchmarks.run", "--rss-of", engine_name]
    out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return float(out.stdout.strip().splitlines()[-1])


def measure_own_rss(engine_name: str) -> float:
    """Load one engine, generate a little, and return this process's peak resident memory (MB)."""
    import resource

    e = ENGINES[engine_name]()
    decode.last(e.stream(PROMPTS[0], SamplingSettings(do_sample=False, max_new_tokens=16)))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def app_process(config: Config) -> dict:
    """Start python app.py: time to the first suggestion over HTTP, REST latency, memory."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    app = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        first = None
        while time.perf_counter() - start < 120:
            try:
                rest_call(url, "suggest", suggest_inputs("Great sound and"))
                first = time.perf_counter() - start
                break
            except OSError:
                time.sleep(0.1)
        if first is None:
            raise BenchmarkError("the app gave no suggestion within 120 s of starting")
        latencies = rest_latencies(url, typing_trace(TRACE[: config.trace_chars], "letter")[: config.http_calls])
        guided = http_guidance(url, load_catalog()[0].name, embedded_tokenizer().encode, config)
        rss = _rss_mb(app.pid)
    finally:
        app.terminate()
        app.wait(timeout=30)
    return {"cold_start_to_first_suggestion_s": first, **latencies, "guidance": guided, "app_rss_mb": rss}


def rest_latencies(url: str, trace: list[str]) -> dict:
    """Suggest through the REST protocol over a typing trace, in ms.

    As the live tab asks: the words of each keystroke (timed), then its ghost text (timed
    apart); and, for API users, both in one call on a fresh trace.
    """
    rest_call(url, "suggest", suggest_inputs(trace[0]))
    timings, ghosts, together = [], [], []
    for state in trace:
        timings.append(_suggest_ms(url, suggest_inputs(state, ghost_tokens=0)))
        ghosts.append(_suggest_ms(url, suggest_inputs(state)))
    for state in trace:
        together.append(_suggest_ms(url, suggest_inputs(" " + state)))
    return {
        "http_suggest_ms": _p50_p95(timings),
        "http_ghost_after_words_ms": _p50_p95(ghosts),
        "http_words_and_ghost_ms": _p50_p95(together),
    }


def _suggest_ms(url: str, data: list) -> float:
    start = time.perf_counter()
    rest_call(url, "suggest", data)
    return (time.perf_counter() - start) * 1000


def _p50_p95(values: list[float]) -> dict:
    return {"p50": percentile(values, 50), "p95": percentile(values, 95), "n": len(values)}


def suggest_inputs(text: str, ghost_tokens: int = 8) -> list:
    """All of suggest's parameters in order (the REST protocol takes them positionally)."""
    return [text, "", "", 5, "Electronics", "", ghost_tokens]


def rest_call(url: str, name: str, data: list) -> object:
    """One call through Gradio's REST protocol: POST the inputs, read the event stream's result."""
    body = json.dumps({"data": data}).encode()
    request = urllib.request.Request(
        f"{url}/gradio_api/call/{name}", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        event_id = json.loads(response.read())["event_id"]
    with urllib.request.urlopen(f"{url}/gradio_api/call/{name}/{event_id}", timeout=60) as stream:
        event = None
        for raw in stream:
            line = raw.decode().strip()
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                if event == "error":
                    raise RuntimeError(line)
                return json.loads(line[5:])
    raise RuntimeError("event stream ended without a result")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def markdown(result: dict) -> str:
    """The results as the README's table, the guidance table, and a line for each other figure."""
    return "\n".join([*_engine_table(result), "", *_guidance_table(result), *_figure_lines(result)]) + "\n"


def _guidance_table(result: dict) -> list[str]:
    """Rating guidance's cost in process and through the app, when measured; then a blank line."""
    rows = [
        (label, figures)
        for label, figures in (
            ("in process (`Service.stream`)", result.get("guidance")),
            ("through the app (HTTP API, `generate`)", result.get("app", {}).get("guidance")),
        )
        if figures
    ]
    if not rows:
        return []
    lines = [
        "| 1-star review, rating guidance 2 against 1 | guided tokens/s | unguided tokens/s | time per token, guided / unguided |",
        "|---|---|---|---|",
    ]
    for label, g in rows:
        lines.append(f"| {label} | {g['on_tokens_per_s']:.1f} | {g['off_tokens_per_s']:.1f} | {g['ratio']:.2f}x |")
    runs = rows[0][1]["runs"]
    lines.append("")
    lines.append(
        f"Guidance: decode tokens/s from the first token to the last, medians of {runs} runs each, guided and "
        "unguided interleaved with the same seed (two prompts decoded together when guided)."
    )
    return [*lines, ""]


def _engine_table(result: dict) -> list[str]:
    rows = [
        "| engine | decode tokens/s | keystroke p50 / p95 ms (word) | keystroke p50 / p95 ms (letter) | peak RSS MB |",
        "|---|---|---|---|---|",
    ]
    for name, rate in result["decode_tokens_per_s"].items():
        k = result["keystroke_ms"][name]
        rss = result.get("rss_mb", {}).get(name, float("nan"))
        rows.append(
            f"| {name} | {rate:.1f} | {k['word']['p50']:.1f} / {k['word']['p95']:.1f} | "
            f"{k['letter']['p50']:.1f} / {k['letter']['p95']:.1f} | {rss:.0f} |"
        )
    return rows


def _figure_lines(result: dict) -> list[str]:
    ours = result["decode_tokens_per_s"][result["ours"]]
    ratios = ", ".join(
        f"{ours / rate:.2f}x {name}" for name, rate in result["decode_tokens_per_s"].items() if name != result["ours"]
    )
    c = result["compare_seconds"]
    lines = [
        f"Decode speed of this engine: {ratios} (medians, same process, same prompts and settings). "
        f"Keystroke figures: medians over {result['keystroke_ms'][result['ours']]['word']['repeats']} passes of the trace of each pass's p50 and p95.",
        f"Compare tab: 4 columns in {c['4 columns']:.2f} s against {c['1 column']:.2f} s for one ({c['ratio']:.2f}x).",
    ]
    if step := result.get("compare_ms_per_step"):
        lines.append(
            f"Per decode step (columns end at different lengths): 4 columns {step['4 columns']:.1f} ms, "
            f"one column {step['1 column']:.1f} ms ({step['ratio']:.2f}x)."
        )
    if crowd := result.get("concurrent_tokens_per_s"):
        alone, shared, turns = crowd["1 alone"], crowd["8 sharing steps"], crowd["8 taking turns"]
        lines.append(
            f"Eight people generating at once (tokens/s, all together): {shared:.1f} sharing decode steps, "
            f"{turns:.1f} taking turns ({shared / turns:.2f}x); one alone {alone:.1f}."
        )
    if report := result.get("report_card"):
        k = report["keystroke_ms_meanwhile"]
        lines.append(
            f"Report card, {report['samples']} samples of {report['tokens_each']} tokens (4 columns x "
            f"{report['samples'] // 4} seeds, one model): {report['shared_batches_s']:.1f} s in shared batches against "
            f"{report['one_at_a_time_s']:.1f} s one at a time ({report['ratio']:.2f}x); keystrokes meanwhile "
            f"p50 {k['p50']:.1f} ms, p95 {k['p95']:.1f} ms."
        )
    lines += _feature_lines(result)
    if flow := result["keystroke_ms"][result["ours"]].get("letter, app flow"):
        lines.append(
            f"Letter by letter as the live tab runs it (each keystroke's words timed; at each pause after a comma "
            f"or full stop, the ghost continuation, untimed): p50 {flow['p50']:.1f} ms, p95 {flow['p95']:.1f} ms."
        )
    if app := result.get("app"):
        h, g, w = app["http_suggest_ms"], app["http_ghost_after_words_ms"], app["http_words_and_ghost_ms"]
        lines.append(
            f"App (`python app.py`): first suggestion {app['cold_start_to_first_suggestion_s']:.1f} s after start; "
            f"suggest through the REST protocol, words p50 {h['p50']:.1f} ms, p95 {h['p95']:.1f} ms, then the ghost "
            f"p50 {g['p50']:.1f} ms, p95 {g['p95']:.1f} ms (words and ghost in one call on a fresh trace: p50 "
            f"{w['p50']:.1f} ms, p95 {w['p95']:.1f} ms); resident memory {app['app_rss_mb']:.0f} MB."
        )
    return lines


def _feature_lines(result: dict) -> list[str]:
    """The inspector's cost, when measured (guidance's is _guidance_table)."""
    lines = []
    if inspected := result.get("inspector"):
        lines.append(
            f"Generation with the token inspector's steps kept: {inspected['on_tokens_per_s']:.1f} tokens/s against "
            f"{inspected['off_tokens_per_s']:.1f} without ({inspected['ratio']:.3f}x; medians of "
            f"{inspected['runs']} runs each, interleaved)."
        )
    return lines


def main(args: argparse.Namespace) -> dict:
    """Run every measurement, write JSON and markdown, return the results."""
    torch.set_num_threads(args.threads)
    config = Config.smoke() if args.smoke else Config()
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "threads": args.threads,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "smoke": args.smoke,
        },
        "config": config.__dict__,
        **in_process(config),
    }
    if not args.skip_processes:
        names = {"ours": result["ours"], "llama": LlamaCppPython.name, "pipeline": Pipeline.name}
        result["rss_mb"] = {names[key]: rss_of(key) for key in names}
        result["app"] = app_process(config)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "smoke" if args.smoke else "latest"
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2))
    (args.out / f"{stem}.md").write_text(markdown(result))
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Flags: --smoke, --out, --threads, --skip-processes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few seconds, to check the benchmark runs")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--skip-processes", action="store_true", help="skip cold start, RSS and HTTP measurements")
    parser.add_argument("--rss-of", choices=sorted(ENGINES), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.rss_of:
        print(measure_own_rss(arguments.rss_of))
    else:
        print(markdown(main(arguments)))
