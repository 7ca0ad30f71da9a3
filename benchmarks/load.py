"""Load test: simulated people typing, generating, comparing and switching models at once.

python -m benchmarks.load                       # 16 users for 60 s against a fresh python app.py
python -m benchmarks.load --users 2 --duration 5 --out /tmp/load   # a smoke run

Each user types a review at 5 keystrokes per second as the live tab asks: a `suggest`
call for the words (ghost_tokens=0) per keystroke; like the browser's always_last trigger,
a keystroke that arrives while the call is out is folded into the next one. After a
comma, a full stop and the end of the text the user pauses for a second, and, as the tab
does once typing pauses, asks for the words and then the ghost text (timed as "ghost").
Each user also starts a generation every 10 s (every other one a compare, for a quarter
of the users), and half-way through some users switch to the catalog's second offline
model. Calls go through Gradio's REST protocol (POST, then read
the event stream), never gradio_client, whose own overhead would hide the server's; each
user's typing keeps one session hash, as a browser tab does.
Traffic goes to loopback only, and every loop is bounded by the duration.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autowrite.catalog import load_catalog  # noqa: E402

TEXTS = [
    "The sound is clear and the bass is deep, but the ear cushions get warm after an hour of use.",
    "I bought this blender for smoothies and it crushes ice without any trouble at all.",
    "This album grows on you with every listen; the second half is the best part.",
    "The novel starts slowly, yet the last hundred pages kept me up until three in the morning.",
]


# A person pauses after punctuation and at the end of the text, for PAUSE_S;
# the live tab asks for the ghost once typing has paused for GHOST_PAUSE_S
# (autowrite.ui.live.GHOST_PAUSE_MS), so those pauses are when ghosts are computed.
PAUSE_S = 1.0
GHOST_PAUSE_S = 0.25


@dataclass
class Tally:
    """Latencies and errors per endpoint, shared by all users."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    coalesced: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, name: str, seconds: float) -> None:
        with self.lock:
            self.latencies[name].append(seconds * 1000)

    def error(self, message: str) -> None:
        with self.lock:
            self.errors.append(message[:300])


def call(url: str, name: str, data: list, timeout: float = 120, session: str | None = None) -> object:
    """One REST-protocol call: POST the inputs, then read the event stream to its result.

    session: the caller's session hash, kept across calls as a browser tab keeps its own
    (without one, Gradio sets up a new session for every call).
    """
    body = json.dumps({"data": data, **({"session_hash": session} if session else {})}).encode()
    request = urllib.request.Request(f"{url}/gradio_api/call/{name}", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        event_id = json.loads(response.read())["event_id"]
    event = None
    with urllib.request.urlopen(f"{url}/gradio_api/call/{name}/{event_id}", timeout=timeout) as stream:
        for raw in stream:
            line = raw.decode().strip()
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "error":
                raise RuntimeError(f"{name}: {line[5:].strip()}")
            elif line.startswith("data:") and event == "complete":
                return json.loads(line[5:])
    raise RuntimeError(f"{name}: the event stream ended without a result")


def suggest_data(text: str, model: str, ghost_tokens: int = 8) -> list:
    return [text, model, "", 5, "Electronics", "", ghost_tokens]


def generate_data(prompt: str, model: str, seed: int) -> list:
    return [prompt, model, None, None, None, None, 40, True, seed, "", 5, "Electronics", ""]


def compare_data(prompt: str, model: str, seed: int) -> list:
    return [prompt, model, ["Greedy", "Card defaults", "Creative", "Precise"], seed, 30, "", 5, "Electronics", ""]


def user(index: int, url: str, models: list[str], deadline: float, tally: Tally) -> None:
    """One simulated person until the deadline."""
    text = TEXTS[index % len(TEXTS)]
    model = models[0]
    switch_at = deadline - (deadline - time.monotonic()) / 2 if index % 4 == 1 and len(models) > 1 else None
    in_flight = threading.Event()
    workers: list[threading.Thread] = []

    # A browser tab keeps one session for everything; over the REST protocol a session's
    # event stream carries all its events' messages, so only the typing (one call out at a
    # time) keeps a session, and each generation or compare gets its own.
    typing_session = f"load-user-{index}-{os.getpid()}"

    def timed(name: str, data: list, session: str | None = None, label: str | None = None) -> None:
        start = time.monotonic()
        try:
            call(url, name, data, session=session)
            tally.record(label or name, time.monotonic() - start)
        except (OSError, RuntimeError, urllib.error.URLError) as error:
            tally.error(f"{label or name}: {error}")

    def keystroke(state: str, chosen: str, pause: bool) -> None:
        timed("suggest", suggest_data(state, chosen, ghost_tokens=0), typing_session)
        if pause:
            # The person stops a moment: the tab asks for the words again, then the ghost.
            time.sleep(GHOST_PAUSE_S)
            timed("suggest", suggest_data(state, chosen, ghost_tokens=0), typing_session)
            timed("suggest", suggest_data(state, chosen, ghost_tokens=8), typing_session, label="ghost")
            time.sleep(PAUSE_S - GHOST_PAUSE_S)
        in_flight.clear()

    typed = 0
    next_generation = time.monotonic() + 1 + index % 10  # users start their generations staggered
    generations = 0
    while time.monotonic() < deadline:
        tick = time.monotonic()
        if switch_at and tick >= switch_at:
            model, switch_at = models[1], None
        if in_flight.is_set():
            with tally.lock:
                tally.coalesced += 1
        else:
            typed = typed % len(text) + 1
            in_flight.set()
            pause = typed == len(text) or text[typed - 1] in ",.;!?"
            threading.Thread(target=keystroke, args=(text[:typed], model, pause), daemon=True).start()
        if tick >= next_generation:
            generations += 1
            compare = index % 4 == 0 and generations % 2 == 0
            name, data = (
                ("compare", compare_data(text[:30], model, generations))
                if compare
                else ("generate", generate_data(text[:30], model, generations))
            )
            worker = threading.Thread(target=timed, args=(name, data), daemon=True)
            worker.start()
            workers.append(worker)
            next_generation += 10
        time.sleep(max(0.0, 0.2 - (time.monotonic() - tick)))
    for worker in workers:
        worker.join(timeout=120)


def summary(values: list[float]) -> dict:
    """Count and latency percentiles (ms) of one endpoint."""
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    return {
        "n": len(ordered),
        "p50": at(0.50),
        "p95": at(0.95),
        "p99": at(0.99),
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }


def rss_mb(pid: int) -> float:
    """Resident memory (MB) of a process now."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def start_app(port: int) -> subprocess.Popen:
    """python app.py on loopback, offline; returns once it answers."""
    app = subprocess.Popen(
        [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    start = time.monotonic()
    while time.monotonic() - start < 180:
        try:
            call(f"http://127.0.0.1:{port}", "suggest", suggest_data("Warm", ""), timeout=10)
            return app
        except (OSError, RuntimeError):
            if app.poll() is not None:
                raise RuntimeError("the app exited before answering") from None
            time.sleep(0.2)
    app.kill()
    raise RuntimeError("the app did not answer within 180 s")


def offline_models() -> list[str]:
    """Catalog models that load with no network (embedded and local), default first."""
    return [e.name for e in load_catalog() if e.source in ("embedded", "local")][:2]


def main(args: argparse.Namespace) -> dict:
    """Run the load, write JSON and markdown, return the figures."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = start_app(port)
    url = f"http://127.0.0.1:{port}"
    models = offline_models()
    try:
        for model in models:  # load every model once, so memory "before" includes them all
            call(url, "suggest", suggest_data("Warm up", model))
        before = rss_mb(app.pid)
        cpu_before = cpu_seconds(app.pid), _own_cpu_seconds()
        tally = Tally()
        deadline = time.monotonic() + args.duration
        users = [threading.Thread(target=user, args=(i, url, models, deadline, tally)) for i in range(args.users)]
        started = time.monotonic()
        for thread in users:
            thread.start()
        for thread in users:
            thread.join(timeout=args.duration + 180)
        elapsed = time.monotonic() - started
        after = rss_mb(app.pid)
        cpu = {
            "app_s": cpu_seconds(app.pid) - cpu_before[0],
            "load_client_s": _own_cpu_seconds() - cpu_before[1],
            "available_s": elapsed * (os.cpu_count() or 1),
        }
    finally:
        app.terminate()
        app.wait(timeout=30)
    result = {
        "users": args.users,
        "duration_s": args.duration,
        "elapsed_s": elapsed,
        "models": models,
        "served": {name: summary(values) for name, values in tally.latencies.items()},
        "errors": len(tally.errors),
        "error_samples": tally.errors[:5],
        "keystrokes_folded_into_later_calls": tally.coalesced,
        "rss_mb": {"before": before, "after": after},
        "cpu": cpu,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "load.json").write_text(json.dumps(result, indent=2))
    (args.out / "load.md").write_text(markdown(result))
    return result


def markdown(result: dict) -> str:
    """The load test's figures as a table."""
    lines = [
        f"{result['users']} users for {result['duration_s']} s ({', '.join(result['models'])}); "
        f"errors: {result['errors']}; memory {result['rss_mb']['before']:.0f} MB before, {result['rss_mb']['after']:.0f} MB after; "
        f"CPU used: app {result['cpu']['app_s']:.0f} s, this load client {result['cpu']['load_client_s']:.0f} s, "
        f"of {result['cpu']['available_s']:.0f} core-seconds.",
        "",
        "| endpoint | served | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in sorted(result["served"].items()):
        lines.append(f"| {name} | {s['n']} | {s['p50']:.0f} | {s['p95']:.0f} | {s['p99']:.0f} | {s['max']:.0f} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Flags: --users, --duration, --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (at most 600)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    if not 1 <= args.users <= 64 or not 1 <= args.duration <= 600:
        parser.error("users must be 1-64 and duration 1-600 s")
    return args


if __name__ == "__main__":
    print(markdown(main(parse_args())))
