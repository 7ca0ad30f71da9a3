"""Each sampler's own cost per token: sampling.draw over the embedded model's 49,152-token vocabulary.

python -m benchmarks.samplers                  # writes benchmarks/results/samplers.md
python -m benchmarks.samplers --before REV     # also the default settings through sampling as it was at REV
python -m benchmarks.samplers --smoke          # seconds, nothing written

Random logits (as spread as a real step's) and a 300-token history, one thread, as a
decode step samples. Each sampler is timed on top of the default settings, interleaved
repeat by repeat so that a busy machine slows them alike; a row's cost is its median
minus the defaults' median.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from autowrite import sampling
from autowrite.settings import SamplingSettings

RESULTS = Path(__file__).parent / "results" / "samplers.md"
DEFAULTS = SamplingSettings()
ROWS = {
    "defaults (temperature, top-k 50, top-p 0.95, repetition penalty)": {},
    "typical-p 0.9": {"typical_p": 0.9},
    "epsilon cutoff 3e-4": {"epsilon_cutoff": 3e-4},
    "eta cutoff 3e-4": {"eta_cutoff": 3e-4},
    "top-n-sigma 1.0": {"top_n_sigma": 1.0},
    "XTC 0.5 / 0.1": {"xtc_probability": 0.5, "xtc_threshold": 0.1},
    "DRY 0.8 (whole history)": {"dry_multiplier": 0.8},
    "mirostat v2 (tau 5)": {"mirostat": 2},
    "logit bias, 3 words": {"logit_bias": "great: 2, awful: -5, love: 1"},
    "banned words, 3 words": {"banned_words": "delicious, amazing, great"},
    "a named order (llama.cpp's default)": {"samplers": "top_k, typ_p, top_p, min_p, xtc, temperature"},
}


def vocabulary() -> tuple[list[str], object]:
    """The embedded model's token texts and tokenizer, loaded without weights."""
    import llama_cpp

    from autowrite.loading import embedded_gguf_path

    model = llama_cpp.Llama(str(embedded_gguf_path()), vocab_only=True, verbose=False)
    texts = [model.detokenize([i]).decode("utf-8", errors="replace") for i in range(model.n_vocab())]
    return texts, lambda text: model.tokenize(text.encode(), add_bos=False, special=False)


def module_at(revision: str):
    """autowrite.sampling as it was at a git revision (one file then), loaded beside today's."""
    source = subprocess.run(
        ["git", "show", f"{revision}:autowrite/sampling.py"], capture_output=True, text=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "sampling_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("sampling_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["sampling_before"] = module
    spec.loader.exec_module(module)
    return module


def per_draw(draw, settings, steps: list[torch.Tensor], history: list[int], stream) -> float:
    """Milliseconds per draw over the steps."""
    start = time.perf_counter()
    for logits in steps:
        draw(logits, settings, history, stream)
    return (time.perf_counter() - start) * 1000 / len(steps)


def main(args: argparse.Namespace) -> str:
    torch.set_num_threads(1)
    texts, encode = vocabulary()
    generator = torch.Generator().manual_seed(0)
    steps = [torch.randn(len(texts), generator=generator) * 3 for _ in range(args.steps)]
    words = encode(" the battery lasts all day and the sound is clear, the battery")
    history = (words * (300 // len(words) + 1))[:300]
    runs = {label: (sampling.draw, sampling.resolve(DEFAULTS.replace(**v), texts, encode)) for label, v in ROWS.items()}
    if args.before:
        before = module_at(args.before)
        runs[f"defaults, sampling at {args.before}"] = (before.draw, DEFAULTS)
    times: dict[str, list[float]] = {label: [] for label in runs}
    for _ in range(args.repeats):
        for label, (draw, settings) in runs.items():
            stream = sampling.make_generator(0) if draw is sampling.draw else before.make_generator(0)
            times[label].append(per_draw(draw, settings, steps, history, stream))
    base = statistics.median(times[next(iter(ROWS))])
    lines = [
        "| settings | ms per token (median) | over the defaults |",
        "|---|---|---|",
        *(
            f"| {label} | {statistics.median(t):.3f} | {statistics.median(t) - base:+.3f} |"
            for label, t in times.items()
        ),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", help="a git revision whose autowrite/sampling.py to time with the defaults")
    parser.add_argument("--steps", type=int, default=100, help="draws per repeat")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--smoke", action="store_true")
    parsed = parser.parse_args()
    if parsed.smoke:
        parsed.steps, parsed.repeats = 5, 1
    table = main(parsed)
    print(table)
    if not parsed.smoke:
        RESULTS.write_text(
            "# Each sampler's cost per token\n\n`python -m benchmarks.samplers --before 1c0fc76` on the shared "
            "2-core machine, one thread, 49,152 tokens, a 300-token history.\n\n" + table + "\n"
        )
