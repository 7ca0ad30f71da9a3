"""Side-by-side speed of this project's engine, transformers' pipeline (bf16) and llama-cpp-python.

python -m benchmarks.run            # full run, writes benchmarks/results/latest.{json,md}
python -m benchmarks.run --smoke    # seconds; what CI runs to keep the benchmark working

All three engines (benchmarks.engines) run in this one process, on the same model (the
catalog's default: the embedded SmolLM2-135M, with the default entry's adapter merged in when
it has one), the same prompts and the same settings, interleaved repeat by repeat so that a
busy machine slows them alike. Cold start, resident memory and the HTTP round trip need a
fresh process each and are measured in subprocesses of the real app. Each measurement is a
module of benchmarks.scenarios; benchmarks.report writes them as Markdown. A measured path
that gives a wrong result raises BenchmarkError, and no figure is written for it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
from pathlib import Path

import torch

from autowrite.backends.compute import one_openmp_team
from autowrite.gguf_merge import merged_path
from autowrite.loading import cache_root
from autowrite.settings import SamplingSettings
from benchmarks.engines import ENGINES, LlamaCppPython, Ours, Pipeline, default_model
from benchmarks.report import markdown
from benchmarks.scenarios.batching import compare_columns, crowd
from benchmarks.scenarios.guided import guidance
from benchmarks.scenarios.inspector import inspector
from benchmarks.scenarios.processes import app_process, measure_own_rss, rss_of
from benchmarks.scenarios.report_card import report_card
from benchmarks.scenarios.side_by_side import app_flow, engine_figures
from benchmarks.timing import TRACE, Config, trace_summary, typing_trace

RESULTS = Path(__file__).resolve().parent / "results"


def in_process(config: Config) -> dict:
    """Decode speed, keystroke latency, compare columns and the features' costs for all engines.

    The two llama.cpp engines run interleaved, as the app runs (torch single-threaded, every
    decode on one thread: autowrite.backends.compute.one_openmp_team). The transformers pipeline runs
    after them with torch's own threads, since its teams would slow every later decode.
    """
    gguf, adapter = default_model()
    torch_threads = torch.get_num_threads()
    one_openmp_team()
    ours = Ours()
    same_gguf = merged_path(gguf, adapter, cache_root()) if adapter is not None else gguf
    settings = SamplingSettings(do_sample=False, repetition_penalty=1.1, max_new_tokens=config.new_tokens)
    text = TRACE[: config.trace_chars]
    rates, latency = engine_figures([ours, LlamaCppPython(same_gguf)], settings, config, text)
    latency[ours.name]["letter, app flow"] = app_flow(ours, typing_trace(text, "letter"), config)
    columns, per_step = compare_columns(ours, config)
    figures = {
        "concurrent_tokens_per_s": {label: statistics.median(r) for label, r in crowd(ours, settings, config).items()},
        "report_card": report_card(ours, config),
        "inspector": inspector(ours, config),
        "guidance": guidance(ours, config),
    }
    torch.set_num_threads(torch_threads)
    pipeline_rates, pipeline_latency = engine_figures([Pipeline(adapter)], settings, config, text)
    rates.update(pipeline_rates)
    latency.update(pipeline_latency)
    return {
        "concurrent_tokens_per_s": figures["concurrent_tokens_per_s"],
        "decode_tokens_per_s": {name: statistics.median(r) for name, r in rates.items()},
        "keystroke_ms": {
            name: {by: trace_summary(passes) for by, passes in runs.items()} for name, runs in latency.items()
        },
        "compare_seconds": {"1 column": columns[1], "4 columns": columns[4], "ratio": columns[4] / columns[1]},
        "compare_ms_per_step": {"1 column": per_step[1], "4 columns": per_step[4], "ratio": per_step[4] / per_step[1]},
        "report_card": figures["report_card"],
        "inspector": figures["inspector"],
        "guidance": figures["guidance"],
        "ours": ours.name,
    }


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
