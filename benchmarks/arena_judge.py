"""A scripted judge for the arena: votes through the real API on the shipped review checkpoint's presets.

python -m benchmarks.arena_judge --votes 200     # writes benchmarks/results/arena_judge.{json,md,csv,png}

It starts a fresh python app.py (offline, its votes in a folder of its own), restricts the
arena to the review checkpoint, so its seven presets compete, and for each pair asks both
texts' fit under that checkpoint through the changes endpoint: the mean log-probability
per token of the sample's own tokens, after the review's fields and the prompt's opening.
The judge prefers the real-review-like sample: one under MIN_WORDS words is out of range
(it stopped almost at once); of two in range, the higher fit wins, and fits within
TIE_NATS are a tie; two out of range are both bad. It is a script, not a person: it
rewards what the checkpoint finds likely, which favours safe, expected text.

--screenshots DIR also saves the arena page before and after one more vote, and the
leaderboard, as PNGs (Debian's Chromium through Playwright).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

from autowrite.arena.contenders import Contender
from autowrite.arena.leaderboard import Board, Standing
from autowrite.ui.leaderboard import plot
from benchmarks import arena_screens, arena_voters
from benchmarks.rest import Api, read_parameters
from benchmarks.server import free_port, offline_models, start_app

RESULTS = Path(__file__).resolve().parent / "results"
TOKENS = 40  # each side's length: short enough for 200 pairs on 2 busy cores
MIN_WORDS = 8
TIE_NATS = 0.05  # fits this close (log-probability per token) are a tie
JUDGES = 2  # two sessions at once: their pairs, on one model, share decode steps


def fit_after(scored: dict, opening: str) -> float:
    """The mean log-probability of the tokens past the prompt's opening, under the fine-tuned model."""
    tokens, seen, own = scored["tokens"], 0, []
    for token in tokens:
        if seen >= len(opening):
            own.append(token["tuned_logprob"])
        seen += len(token["text"])
    return sum(own) / len(own) if own else float("-inf")


def verdict(fits: list[float], words: list[int]) -> str:
    """The judge's vote: A, B, tie or both_bad."""
    ok = [count >= MIN_WORDS for count in words]
    if not any(ok):
        return "both_bad"
    if ok[0] != ok[1]:
        return "A" if ok[0] else "B"
    if abs(fits[0] - fits[1]) < TIE_NATS:
        return "tie"
    return "A" if fits[0] > fits[1] else "B"


def judge_one(api: Api, model: str, session: str) -> dict:
    """One pair asked for, both texts scored, the vote cast: what the judge saw and decided."""
    got = api.call("arena_pair", {"model": model, "max_new_tokens": TOKENS}, timeout=600, session=session)
    problem = arena_voters.problem_with_pair(got)
    if problem:
        raise RuntimeError(problem)
    asked = got["prompt"]
    fields = {k: asked[k] for k in ("rating", "category", "headline")}
    fits, words = [], []
    for side in ("a", "b"):
        body = asked["text"] + got[side]
        values = {"text": body, "model": model, "mode": "review", **fields}
        scored = api.call("changes", values, timeout=600, session=session)
        fits.append(fit_after(scored, asked["text"]))
        words.append(len(got[side].split()))
    vote = verdict(fits, words)
    shown = api.call("arena_vote", {"pair_id": got["pair_id"], "vote": vote}, session=session)
    return {"prompt": asked, "texts": [got["a"], got["b"]], "fits": fits, "words": words, "vote": vote,
            "contenders": [shown["a"]["preset"], shown["b"]["preset"]]}  # fmt: skip


def judged(api: Api, model: str, votes: int) -> list[dict]:
    """votes pairs judged by JUDGES sessions at once; any failure stops the run."""
    results: list[dict] = []
    failures: list[str] = []
    lock = threading.Lock()
    claimed = 0

    def work(index: int) -> None:
        nonlocal claimed
        while not failures:
            with lock:
                if claimed >= votes:
                    return
                claimed += 1
            try:
                one = judge_one(api, model, f"arena-judge-{index}")
            except Exception as error:  # the run is over: its figures would rest on fewer votes than asked
                failures.append(f"{type(error).__name__}: {error}")
                return
            with lock:
                results.append(one)
                if len(results) % 20 == 0:
                    print(f"{len(results)} votes", flush=True)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(JUDGES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"the judge stopped after {len(results)} votes: {failures[0]}")
    return results


def board_of(answer: dict) -> Board:
    """The API's leaderboard as a Board, to draw."""
    rows = [
        Standing(Contender(r["model"], r["preset"]), r["rank"], r["score"], r["low"], r["high"], r["votes"], r["wins"],
                 r["ties"], r["both_bad"], r["losses"])
        for r in answer["contenders"]
    ]  # fmt: skip
    return Board(rows, answer["votes"])


def markdown(answer: dict, judged_votes: list[dict], model: str) -> str:
    """The leaderboard as a table, with how the votes fell."""
    said = {v: sum(1 for j in judged_votes if j["vote"] == v) for v in ("A", "B", "tie", "both_bad")}
    lines = [
        f"Scripted judge (not people): {len(judged_votes)} votes on {model}'s presets, {TOKENS} tokens a side; "
        f"A {said['A']}, B {said['B']}, tie {said['tie']}, both bad {said['both_bad']}. It prefers the higher "
        f"fit under the review checkpoint among samples of at least {MIN_WORDS} words (fits within {TIE_NATS} "
        "nats a tie).",
        "",
        f"Method: {answer['method']}.",
        "",
        "| rank | preset | score | 95% interval | votes | win rate | won / tied / both bad / lost |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in answer["contenders"]:
        lines.append(
            f"| {r['rank']} | {r['preset']} | {r['score']:.0f} | {r['low']:.0f} to {r['high']:.0f} | {r['votes']} | "
            f"{r['win_rate']:.0%} | {r['wins']} / {r['ties']} / {r['both_bad']} / {r['losses']} |"
        )
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace) -> dict:
    """Start the app, judge the pairs, write the leaderboard and the votes; optionally the screenshots."""
    model = offline_models()[0]
    port = free_port()
    # The app's OpenMP threads wait passively: on a machine shared with other work, spinning
    # threads waiting for a descheduled one made each decode step take seconds.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    with arena_voters.scratch_votes():
        app = start_app(port)
        try:
            url = f"http://127.0.0.1:{port}"
            api = Api(url, read_parameters(url, [*arena_voters.ENDPOINTS, "changes"]))
            started = time.monotonic()
            results = judged(api, model, args.votes)
            answer = api.call("leaderboard", {"model": model})
            csv_text = api.call("leaderboard", {"model": model, "format": "csv"})
            elapsed = time.monotonic() - started
            if args.screenshots:
                arena_screens.capture(url, model, args.screenshots)
        finally:
            app.terminate()
            app.wait(timeout=30)
    args.out.mkdir(parents=True, exist_ok=True)
    record = {"model": model, "tokens": TOKENS, "elapsed_s": elapsed, "leaderboard": answer, "votes": results}
    (args.out / "arena_judge.json").write_text(json.dumps(record, indent=2, ensure_ascii=False))
    (args.out / "arena_judge.csv").write_text(csv_text)
    (args.out / "arena_judge.md").write_text(markdown(answer, results, model))
    plot(board_of(answer)).savefig(args.out / "arena_judge.png")
    return record


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Flags: --votes, --out, --screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=200)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--screenshots", type=Path, help="also save the arena and leaderboard as PNGs here")
    return parser.parse_args(argv)


if __name__ == "__main__":
    done = main(parse_args())
    print(markdown(done["leaderboard"], done["votes"], done["model"]))
    sys.exit(0)
