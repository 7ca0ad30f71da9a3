"""How long the arena's leaderboard takes to recompute, bootstrap included.

python -m benchmarks.arena            # 10,000 votes; writes benchmarks/results/arena.json and arena.md

Two measurements, each the median of --repeats runs:
- the fit alone (autowrite.arena.leaderboard.standings) over 10,000 simulated votes, for 7
  contenders (one model's presets), 21 (the three offline models' presets) and 56 (the
  whole catalog's eight models);
- the whole recompute the app does (Arena.board): reading the votes and their pairs from a
  SQLite file in WAL mode, then the fit, for 21 contenders.
The votes come from known strengths, with ties, so each run also checks the fit ranks the
contenders as simulated (a Spearman correlation near 1); a run that does not is FAILED.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import insert

from autowrite.arena.contenders import Contender, Restriction
from autowrite.arena.leaderboard import standings
from autowrite.arena.pairs import Arena
from autowrite.arena.schema import database_url, pairs, votes
from autowrite.arena.votes import Battle, Store
from autowrite.settings import PRESET_NAMES

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_S = 1.0  # the bound for a recompute over 10,000 votes
MIN_SPEARMAN = 0.9


def contenders(count: int) -> list[Contender]:
    """count contenders: models m0, m1, ... each with the presets in turn."""
    return [Contender(f"m{i // len(PRESET_NAMES)}", PRESET_NAMES[i % len(PRESET_NAMES)]) for i in range(count)]


def strengths(names: list[Contender], seed: int) -> dict[Contender, float]:
    """Known strengths (logits) for the contenders, drawn from a standard normal."""
    rng = random.Random(seed)
    return {c: rng.gauss(0, 1) for c in names}


def simulated(strength: Mapping[Contender, float], count: int, seed: int, both_bad: float = 0.0) -> list[Battle]:
    """Votes between random pairs from known strengths; a tie keeps each side's expected score at sigmoid(gap).

    both_bad: the share of ties voted "both bad" (the fit reads both alike).
    """
    rng = random.Random(seed)
    names = list(strength)
    battles = []
    for _ in range(count):
        a, b = rng.sample(names, 2)
        win = 1 / (1 + math.exp(strength[b] - strength[a]))
        tie = 0.6 * min(win, 1 - win)
        u = rng.random()
        choice = "tie" if u < tie else "a" if u < tie + win - tie / 2 else "b"
        battles.append(Battle(a, b, "both_bad" if choice == "tie" and rng.random() < both_bad else choice))
    return battles


def spearman(board, strength: dict[Contender, float]) -> float:
    """The rank correlation between the board's order and the simulated strengths."""
    fitted = [s.contender for s in board.standings]
    true = sorted(strength, key=strength.get, reverse=True)
    n = len(fitted)
    gaps = sum((fitted.index(c) - true.index(c)) ** 2 for c in fitted)
    return 1 - 6 * gaps / (n * (n * n - 1))


def fit_times(count: int, votes_count: int, repeats: int) -> dict:
    """Seconds per standings() over simulated votes, and how well it ranks them."""
    strength = strengths(contenders(count), seed=count)
    battles = simulated(strength, votes_count, seed=count)
    times, board = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        board = standings(battles)
        times.append(time.perf_counter() - start)
    return {"contenders": count, "votes": votes_count, "runs_s": times, "median_s": statistics.median(times),
            "spearman": spearman(board, strength)}  # fmt: skip


def stored(folder: Path, battles: list[Battle]) -> Store:
    """A SQLite store holding these votes, each with a pair as the arena keeps one."""
    store = Store(database_url(folder))
    store.migrate()
    session = store.session_key("benchmark")
    rows, cast = [], []
    for index, battle in enumerate(battles):
        pair_id = f"bench-{index:08d}"
        rows.append({
            "id": pair_id, "issued_at": index, "expires_at": index + 1800, "session": session, "origin": "drawn",
            "task": "review", "rating": 5, "category": "Electronics", "headline": "", "prompt": "The sound quality",
            "seed": index, "max_new_tokens": 60, "model_a": battle.a.model, "preset_a": battle.a.preset,
            "settings_a": "{}", "text_a": "A review of some sixty tokens " * 8, "model_b": battle.b.model,
            "preset_b": battle.b.preset, "settings_b": "{}", "text_b": "Another review of sixty tokens " * 8,
        })  # fmt: skip
        cast.append({"pair_id": pair_id, "choice": battle.choice, "voted_at": index + 10, "session": session})
    with store.engine.begin() as connection:
        connection.execute(insert(pairs), rows)
        connection.execute(insert(votes), cast)
    return store


def recompute_times(count: int, votes_count: int, repeats: int) -> dict:
    """Seconds per Arena.board() from a SQLite file: the votes read, the fit made (nothing cached)."""
    strength = strengths(contenders(count), seed=count)
    battles = simulated(strength, votes_count, seed=count)
    with tempfile.TemporaryDirectory() as folder:
        store = stored(Path(folder), battles)
        times, board = [], None
        for _ in range(repeats):
            arena = Arena(_NoModels(), store)  # the board alone: no models, nothing cached
            start = time.perf_counter()
            board = arena.board(Restriction())
            times.append(time.perf_counter() - start)
        store.close()
    return {"contenders": count, "votes": votes_count, "runs_s": times, "median_s": statistics.median(times),
            "spearman": spearman(board, strength)}  # fmt: skip


class _NoModels:
    """A service with an empty catalog: the leaderboard reads only the store."""

    names: list[str] = []


def main(args: argparse.Namespace) -> dict:
    """Run both measurements, write the results, return them."""
    result = {
        "fit": [fit_times(count, args.votes, args.repeats) for count in (7, 21, 56)],
        "recompute": recompute_times(21, args.votes, args.repeats),
        "target_s": TARGET_S,
        "cpus": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],  # other work on the machine stretches every figure
    }
    problems = [f"{run['contenders']} contenders ranked with Spearman {run['spearman']:.2f}"
                for run in [*result["fit"], result["recompute"]] if run["spearman"] < MIN_SPEARMAN]  # fmt: skip
    result["status"] = "FAILED: " + "; ".join(problems) if problems else "ok"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "arena.json").write_text(json.dumps(result, indent=2))
    (args.out / "arena.md").write_text(markdown(result))
    return result


def markdown(result: dict) -> str:
    """The figures as a table, FAILED first where a fit ranked badly."""
    lines = [] if result["status"] == "ok" else [result["status"], ""]
    lines += [
        f"Leaderboard recompute over simulated votes (median of {len(result['recompute']['runs_s'])} runs; "
        f"target under {result['target_s']:.0f} s at 10,000 votes; {result['cpus']} cores, load average "
        f"{result['load_average_1min']:.1f} at the end):",
        "",
        "| what | contenders | votes | median s | runs s | Spearman |",
        "|---|---|---|---|---|---|",
    ]
    rows = [("fit with bootstrap", run) for run in result["fit"]] + [("read from SQLite + fit", result["recompute"])]
    for label, run in rows:
        spread = ", ".join(f"{t:.3f}" for t in run["runs_s"])
        lines.append(f"| {label} | {run['contenders']} | {run['votes']:,} | {run['median_s']:.3f} | {spread} | "
                     f"{run['spearman']:.3f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Flags: --votes, --repeats, --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    outcome = main(parse_args())
    print(markdown(outcome))
    sys.exit(0 if outcome["status"] == "ok" else 1)
