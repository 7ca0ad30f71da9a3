"""Load test: simulated people typing, generating, comparing and switching models at once.

python -m benchmarks.load                       # 16 users for 60 s against a fresh python app.py
python -m benchmarks.load --smoke --out /tmp/load   # each endpoint once, then 2 users for 4 s
python -m benchmarks.load --duration 1200 --sample-memory-every 10   # warm-up against a leak
python -m benchmarks.load --voters 16          # every user also votes in the arena (benchmarks/arena_voters.py)

Each user (benchmarks.people) types a review at 5 keystrokes per second as the live tab
asks, pauses at punctuation for the ghost text, starts a generation or a compare every 10 s,
and some switch to the catalog's second offline model half-way. Calls go through Gradio's
REST protocol by parameter name (benchmarks.rest). Half the users' typing keeps one session
hash, as a browser tab does; the other half send none, as a plain REST client does. In the
full run one more caller keeps 10 maximal reports asked at once (benchmarks.fairness.flood),
as an abusive client would; its refusals by name are counted apart, and its reports still
out at the end are dropped. Traffic goes to loopback only, and every loop is bounded by the
duration.

Before the load, each call shape is sent once and its answer's shape checked
(benchmarks.shapes); a failed check stops the run there.

No figure describes a broken path: any error, in the check or under load, makes main()
write the results with "FAILED: N errors" as their first line and raise LoadFailed, which
carries the figures; run as a script, that prints them with the first errors and exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks import arena_voters, fairness
from benchmarks.people import user
from benchmarks.process import MemorySampler, cpu_seconds, own_cpu_seconds, rss_mb
from benchmarks.report import failure, load_markdown
from benchmarks.rest import Api, read_parameters
from benchmarks.server import free_port, offline_models, start_app
from benchmarks.shapes import check, suggest_values
from benchmarks.tally import Tally
from benchmarks.timing import summary

SMOKE_USERS = 2
SMOKE_DURATION_S = 4.0
# Why 30 minutes: a memory series over 20 minutes tells warm-up from a leak; longer than
# that only holds a shared machine.
MAX_DURATION_S = 1800
ENDPOINTS = ["suggest", "generate", "tokens", "compare", "report", "changes"]


class LoadFailed(RuntimeError):
    """The run had errors; `result` holds its figures, written with a FAILED first line."""

    def __init__(self, result: dict) -> None:
        super().__init__(f"{failure(result)}: {'; '.join(result['error_samples'])}")
        self.result = result


def main(args: argparse.Namespace) -> dict:
    """Check each call shape, run the load, write JSON and markdown, return the figures.

    Raises LoadFailed (after writing the results with a FAILED first line) on any error.
    """
    with arena_voters.scratch_votes():  # the app's arena votes go to a folder of their own, removed after
        return measured(args)


def measured(args: argparse.Namespace) -> dict:
    """main() within the app's own votes folder."""
    port = free_port()
    app = start_app(port)
    models = offline_models()
    checked, tally = Tally(), Tally()
    try:
        ran, memory = _checked_load(app, f"http://127.0.0.1:{port}", models, checked, tally, args)
    finally:
        app.terminate()
        app.wait(timeout=30)
    if args.smoke:  # too short to reach a pause, so the check's calls (a ghost among them) count too
        for name, values in checked.latencies.items():
            tally.latencies[name].extend(values)
    result = _result(args, models, checked, tally, ran, memory)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "load.json").write_text(json.dumps({"status": failure(result) or "ok", **result}, indent=2))
    (args.out / "load.md").write_text(load_markdown(result))
    if result["errors"]:
        raise LoadFailed(result)
    return result


def _checked_load(
    app: subprocess.Popen, url: str, models: list[str], checked: Tally, tally: Tally, args: argparse.Namespace
) -> tuple[dict, dict]:
    """Every model loaded, each call shape checked, then the load unless the check failed; memory before and after."""
    api = Api(url, read_parameters(url, ENDPOINTS + (arena_voters.ENDPOINTS if args.voters else [])))
    for model in models:  # load every model once, so memory "before" includes them all
        api.call("suggest", suggest_values("Warm up", model), timeout=180)
    check(api, models[0], checked)
    if args.voters:
        arena_voters.check(api, checked)
    before = rss_mb(app.pid)
    ran = {} if checked.errors else crowd(app.pid, api, models, tally, args)
    return ran, {"before": before, "after": rss_mb(app.pid)}


def _result(args: argparse.Namespace, models: list[str], checked: Tally, tally: Tally, ran: dict, memory: dict) -> dict:
    """The run's figures, as load.json holds them after its status."""
    errors = checked.errors + tally.errors
    return {
        "users": args.users,
        "duration_s": args.duration,
        "elapsed_s": ran.get("elapsed_s", 0.0),
        "models": models,
        "checked": {name: values[0] for name, values in checked.latencies.items()},
        "served": {name: summary(values) for name, values in tally.latencies.items()},
        "errors": len(errors),
        "error_samples": errors[:5],
        "refused_busy": dict(tally.busy),
        "sessionless_users": args.sessionless,
        "voters": args.voters,
        "flood": dict(tally.flood) if args.flood else None,
        "keystrokes_folded_into_later_calls": tally.coalesced,
        "rss_mb": {**memory, **({"series": ran["series"]} if ran.get("series") is not None else {})},
        "cpu": ran.get("cpu"),
    }


def crowd(pid: int, api: Api, models: list[str], tally: Tally, args: argparse.Namespace) -> dict:
    """args.users people at once for args.duration seconds: elapsed time, memory series, CPU seconds."""
    cpu_before = cpu_seconds(pid), own_cpu_seconds()
    deadline = time.monotonic() + args.duration
    users = [
        threading.Thread(target=user, args=(i, api, models, deadline, tally, i < args.sessionless, i < args.voters))
        for i in range(args.users)
    ]
    stop = threading.Event()
    floods = [
        threading.Thread(target=fairness.flood, args=(api.url, models[0], stop, tally.flood), daemon=True)
        for _ in range(fairness.FLOOD_REPORTS if args.flood else 0)
    ]
    started = time.monotonic()
    with MemorySampler(pid, args.sample_memory_every) as sampler:
        for thread in [*users, *floods]:
            thread.start()
        for thread in users:
            thread.join(timeout=args.duration + 180)
        stop.set()  # the flood's reports still out are dropped, and stop in the app
        for thread in floods:
            thread.join(timeout=60)
    elapsed = time.monotonic() - started
    cpu = {
        "app_s": cpu_seconds(pid) - cpu_before[0],
        "load_client_s": own_cpu_seconds() - cpu_before[1],
        "available_s": elapsed * (os.cpu_count() or 1),
    }
    return {"elapsed_s": elapsed, "series": sampler.series, "cpu": cpu}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Flags: --users, --sessionless, --voters, --flood/--no-flood, --duration, --smoke, --sample-memory-every, --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, help=f"simulated people (16; {SMOKE_USERS} with --smoke)")
    parser.add_argument(
        "--duration",
        type=float,
        help=f"seconds of load, at most {MAX_DURATION_S} (60; {SMOKE_DURATION_S:.0f} with --smoke)",
    )
    parser.add_argument("--smoke", action="store_true", help="a short run whose figures count the endpoint check")
    parser.add_argument("--sessionless", type=int, help="how many of the users send no session hash (half)")
    parser.add_argument("--voters", type=int, default=0, help="how many of the users vote in the arena (0)")
    parser.add_argument(
        "--flood",
        action=argparse.BooleanOptionalAction,
        help="one more caller keeps 10 maximal reports asked (on; off with --smoke)",
    )
    parser.add_argument(
        "--sample-memory-every", type=float, default=0.0, metavar="S", help="record the app's RSS every S s (0: off)"
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    return _defaults(parser, parser.parse_args(argv))


def _defaults(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """The flags left out filled in (smaller with --smoke), and their bounds checked."""
    if args.users is None:
        args.users = SMOKE_USERS if args.smoke else 16
    if args.duration is None:
        args.duration = SMOKE_DURATION_S if args.smoke else 60.0
    if args.sessionless is None:
        args.sessionless = args.users // 2
    if args.flood is None:
        args.flood = not args.smoke
    if not 1 <= args.users <= 64 or not 1 <= args.duration <= MAX_DURATION_S or args.sample_memory_every < 0:
        parser.error(f"users must be 1-64, duration 1-{MAX_DURATION_S} s, and --sample-memory-every at least 0")
    if not 0 <= args.voters <= args.users:
        parser.error("voters must be from 0 to the number of users")
    return args


if __name__ == "__main__":
    try:
        print(load_markdown(main(parse_args())))
    except LoadFailed as failed:
        print(load_markdown(failed.result))
        sys.exit(1)
