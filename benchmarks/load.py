"""Load test: simulated people typing, generating, comparing and switching models at once.

python -m benchmarks.load                       # 16 users for 60 s against a fresh python app.py
python -m benchmarks.load --smoke --out /tmp/load   # each endpoint once, then 2 users for 4 s
python -m benchmarks.load --duration 1200 --sample-memory-every 10   # warm-up against a leak
python -m benchmarks.load --voters 16          # every user also votes in the arena (benchmarks/arena_voters.py)

Each user types a review at 5 keystrokes per second as the live tab asks: a `suggest`
call for the words (ghost_tokens=0) per keystroke; like the browser's always_last trigger,
a keystroke that arrives while the call is out is folded into the next one. After a
comma, a full stop and the end of the text the user pauses for a second, and, as the tab
does once typing pauses, asks for the words and then the ghost text (timed as "ghost").
Each user also starts a generation every 10 s (every other one a compare, the first one
included, for a quarter of the users), and half-way through some users switch to the
catalog's second offline model. Calls go through Gradio's REST protocol (POST, then read
the event stream), never gradio_client, whose own overhead would hide the server's. Half
the users' typing keeps one session hash, as a browser tab does; the other half send none,
as a plain REST client does. In the full run one more caller keeps 10 maximal reports
asked at once (benchmarks.fairness.flood), as an abusive client would; its refusals by
name are counted apart, and its reports still out at the end are dropped.
Traffic goes to loopback only, and every loop is bounded by the duration.

Calls are built by parameter name: the parameter order is read once from the running
app (/gradio_api/info), and a name the load test sends that the endpoint lacks raises
CallShapeError, so a renamed or added parameter fails the run instead of shifting values.
Before the load, each call shape (suggest for words, suggest with a ghost, generate, and
compare with its own columns) is sent once and its answer's shape checked; a failed check
stops the run there.

No figure describes a broken path: any error, in the check or under load, makes main()
write the results with "FAILED: N errors" as their first line and raise LoadFailed, which
carries the figures; run as a script, that prints them with the first errors and exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from autowrite.scheduling import BUSY
from benchmarks import arena_voters, fairness
from benchmarks.server import free_port, offline_models, start_app

# How the app words a generation it refuses past capacity.
BUSY_MARK = BUSY.split(":")[0]

TEXTS = [
    "The sound is clear and the bass is deep, but the ear cushions get warm after an hour of use.",
    "I bought this blender for smoothies and it crushes ice without any trouble at all.",
    "This album grows on you with every listen; the second half is the best part.",
    "The novel starts slowly, yet the last hundred pages kept me up until three in the morning.",
]
COMPARE_PRESETS = ["Greedy", "Card defaults", "Creative", "Precise"]
# The check sends each compare column settings of its own, as a compare link does, so the
# columns parameter is exercised; the column with a temperature shows it arrived.
CHECK_COLUMNS = [{}, {"top_k": 20}, {"temperature": 1.3}, {}]

# A person pauses after punctuation and at the end of the text, for PAUSE_S;
# the live tab asks for the ghost once typing has paused for GHOST_PAUSE_S
# (autowrite.ui.live.GHOST_PAUSE_MS), so those pauses are when ghosts are computed.
PAUSE_S = 1.0
GHOST_PAUSE_S = 0.25
SMOKE_USERS = 2
SMOKE_DURATION_S = 4.0
# Why 30 minutes: a memory series over 20 minutes tells warm-up from a leak; longer than
# that only holds a shared machine.
MAX_DURATION_S = 1800


class CallShapeError(ValueError):
    """The load test sends a value the running app's endpoint has no parameter for."""


class LoadFailed(RuntimeError):
    """The run had errors; `result` holds its figures, written with a FAILED first line."""

    def __init__(self, result: dict) -> None:
        super().__init__(f"{failure(result)}: {'; '.join(result['error_samples'])}")
        self.result = result


@dataclass
class Tally:
    """Latencies and errors per endpoint, shared by all users."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    # Generations the app refused by name as busy (autowrite.scheduling.BUSY): load shed by
    # design past capacity, counted and shown apart from errors.
    busy: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    coalesced: int = 0
    # One abusive caller's maximal reports (benchmarks.fairness.flood): done, refused by name, cut at the end.
    flood: dict[str, int] = field(default_factory=dict)
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
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            event_id = json.loads(response.read())["event_id"]
    except urllib.error.HTTPError as error:  # the boundary's refusals name the problem in the body
        raise RuntimeError(f"{name}: HTTP {error.code} {error.read()[:200].decode(errors='replace')}") from None
    event = None
    with urllib.request.urlopen(f"{url}/gradio_api/call/{name}/{event_id}", timeout=timeout) as stream:
        for raw in stream:
            line = raw.decode().strip()
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "error":
                raise RuntimeError(f"{name}: {line[5:].strip()}")
            elif line.startswith("data:") and event == "complete":
                return json.loads(line[5:])[0]
    raise RuntimeError(f"{name}: the event stream ended without a result")


def read_parameters(url: str, names: list[str]) -> dict[str, list[str]]:
    """Each named endpoint's parameter names in order, as the running app publishes them."""
    with urllib.request.urlopen(f"{url}/gradio_api/info", timeout=30) as response:
        endpoints = json.loads(response.read())["named_endpoints"]
    missing = [name for name in names if f"/{name}" not in endpoints]
    if missing:
        raise CallShapeError(f"the app has no endpoint {', '.join(missing)}; it has {', '.join(endpoints)}")
    return {name: [p["parameter_name"] for p in endpoints[f"/{name}"]["parameters"]] for name in names}


@dataclass(frozen=True)
class Api:
    """The running app's endpoints, called with values by parameter name."""

    url: str
    parameters: dict[str, list[str]]

    def data(self, name: str, values: dict) -> list:
        """The values in the endpoint's parameter order; those not given are null (the default)."""
        order = self.parameters[name]
        unknown = [key for key in values if key not in order]
        if unknown:
            raise CallShapeError(f"{name} has no parameter {', '.join(unknown)}; it takes {', '.join(order)}")
        return [values.get(key) for key in order]

    def call(self, name: str, values: dict, timeout: float = 120, session: str | None = None) -> object:
        """One call by parameter names; the endpoint's answer."""
        return call(self.url, name, self.data(name, values), timeout=timeout, session=session)


def suggest_values(text: str, model: str, ghost_tokens: int = 8) -> dict:
    """A keystroke's suggest call; ghost_tokens=0 asks for the words alone."""
    return {"text": text, "model": model, "rating": 5, "category": "Electronics", "ghost_tokens": ghost_tokens}


def generate_values(prompt: str, model: str, seed: int) -> dict:
    """A 40-token sampled generation."""
    return {
        "prompt": prompt,
        "model": model,
        "max_new_tokens": 40,
        "do_sample": True,
        "seed": seed,
        "rating": 5,
        "category": "Electronics",
    }


def compare_values(prompt: str, model: str, seed: int, columns: list[dict] | None = None) -> dict:
    """A 4-column compare of 30 tokens; columns: each column's own settings, if any."""
    values = {
        "prompt": prompt,
        "model": model,
        "presets": COMPARE_PRESETS,
        "seed": seed,
        "max_new_tokens": 30,
        "rating": 5,
        "category": "Electronics",
    }
    return {**values, "columns": columns} if columns is not None else values


def _words(answer: object) -> str:
    if not isinstance(answer, dict) or not isinstance(answer.get("words"), list) or not answer["words"]:
        return f"expected a dict with a non-empty list of words, got {str(answer)[:120]}"
    if not all(isinstance(w, dict) and isinstance(w.get("word"), str) for w in answer["words"]):
        return f"expected each word as a dict with a word, got {str(answer['words'])[:120]}"
    return ""


def _ghost(answer: object) -> str:
    problem = _words(answer)
    if problem or not isinstance(answer.get("ghost"), str) or not answer["ghost"]:
        return problem or f"expected a non-empty ghost, got {str(answer)[:120]}"
    return ""


def _generated(answer: object) -> str:
    return "" if isinstance(answer, str) and answer else f"expected non-empty text, got {str(answer)[:120]}"


BRANCH_TOKEN = 300  # in every vocabulary the app loads; the tokens check writes it by hand at step 1


def _inspected(answer: object) -> str:
    tokens = answer.get("tokens") if isinstance(answer, dict) else None
    if not isinstance(tokens, list) or len(tokens) < 2:
        return f"expected a text token by token, got {str(answer)[:120]}"
    if tokens[1].get("token_id") != BRANCH_TOKEN or not tokens[1].get("forced"):
        return f"expected token {BRANCH_TOKEN} chosen by hand at step 1, got {str(tokens[1])[:120]}"
    if any(len(t.get("alternatives") or []) < 10 for t in tokens):
        return f"expected at least 10 alternatives at each token, got {str(tokens)[:120]}"
    return ""


def _changed(answer: object) -> str:
    if not isinstance(answer, dict) or not isinstance(answer.get("tokens"), list) or not answer["tokens"]:
        return f"expected the text's tokens under both models, got {str(answer)[:120]}"
    perplexity = answer.get("perplexity") or {}
    if not all(isinstance(perplexity.get(k), float) and perplexity[k] > 0 for k in ("base", "tuned")):
        return f"expected both perplexities, got {str(answer)[:120]}"
    return ""


def _compared(answer: object) -> str:
    if not isinstance(answer, list) or len(answer) != len(COMPARE_PRESETS):
        return f"expected a list of {len(COMPARE_PRESETS)} columns, got {str(answer)[:120]}"
    for index, (column, own) in enumerate(zip(answer, CHECK_COLUMNS)):
        if not isinstance(column, dict) or not {"text", "settings", "distribution"} <= set(column):
            return f"column {index}: expected text, settings and distribution, got {str(column)[:120]}"
        if column.get("preset") != COMPARE_PRESETS[index]:
            return f"column {index}: expected preset {COMPARE_PRESETS[index]}, got {column.get('preset')!r}"
        if any(column["settings"].get(key) != value for key, value in own.items()):
            return f"column {index}: its own settings {own} did not arrive: {column['settings']}"
    return ""


def report_values(prompt: str, model: str, seed: int) -> dict:
    """A report of two columns over two seeds of 20 tokens: the second column on its own settings."""
    return {**compare_values(prompt, model, seed, [{}, {"min_p": 0.1}]), "presets": COMPARE_PRESETS[:2],
            "max_new_tokens": 20, "seeds": 2}  # fmt: skip


def _reported(answer: object) -> str:
    if not isinstance(answer, list) or len(answer) != 2:
        return f"expected a report of 2 columns, got {str(answer)[:120]}"
    for index, column in enumerate(answer):
        if not isinstance(column, dict) or len(column.get("samples") or []) != 2:
            return f"column {index}: expected 2 samples and the figures, got {str(column)[:120]}"
        if "distinct_1" not in column or column.get("error"):
            return f"column {index}: expected figures, got {str(column)[:120]}"
    return ""


def check(api: Api, model: str, tally: Tally) -> None:
    """Each call shape the load sends, once, with its answer's shape checked; latencies into tally."""
    text = TEXTS[0][:30]
    shapes: list[tuple[str, str, dict, Callable[[object], str]]] = [
        ("suggest", "suggest", suggest_values(text, model, ghost_tokens=0), _words),
        ("ghost", "suggest", suggest_values(text, model, ghost_tokens=8), _ghost),
        ("generate", "generate", generate_values(text, model, 1), _generated),
        ("tokens", "tokens", {**generate_values(text, model, 1), "branch": f"1:{BRANCH_TOKEN}"}, _inspected),
        ("compare", "compare", compare_values(text, model, 1, CHECK_COLUMNS), _compared),
        ("changes", "changes", {"text": TEXTS[0], "model": model, "rating": 5, "category": "Electronics"}, _changed),
        ("report", "report", report_values(text, model, 1), _reported),
    ]
    for label, name, values, problem_of in shapes:
        start = time.monotonic()
        try:
            problem = problem_of(api.call(name, values))
        except Exception as error:  # any failure is this check's answer
            problem = f"{type(error).__name__}: {error}"
        if problem:
            tally.error(f"check {label}: {problem}")
        else:
            tally.record(label, time.monotonic() - start)


def user(
    index: int,
    api: Api,
    models: list[str],
    deadline: float,
    tally: Tally,
    sessionless: bool = False,
    voter: bool = False,
) -> None:
    """One simulated person until the deadline; anything that goes wrong is counted as an error."""
    try:
        Person(index, api, models, tally, sessionless, voter).run(deadline)
    except Exception as error:  # a user that stops early would quietly thin the load
        tally.error(f"user {index}: {type(error).__name__}: {error}")


class Person:
    """Types a review a keystroke every 0.2 s, pauses at punctuation, and every 10 s generates or compares.

    A quarter of them switch to the second model halfway, and a quarter compare.
    """

    def __init__(
        self, index: int, api: Api, models: list[str], tally: Tally, sessionless: bool = False, voter: bool = False
    ):
        self.index, self.api, self.models, self.tally = index, api, models, tally
        self.voter = voter  # votes on an arena pair where the others generate (benchmarks.arena_voters)
        self.text = TEXTS[index % len(TEXTS)]
        self.model = models[0]
        self.in_flight = threading.Event()
        self.typed = 0
        self.generations = 0
        self.workers: list[threading.Thread] = []
        # A browser tab keeps one session for everything; over the REST protocol a session's
        # event stream carries all its events' messages, so only the typing (one call out at a
        # time) keeps a session, and each generation or compare gets its own. A sessionless
        # person is a REST client that sends none: the app gives each call a session.
        self.typing_session = None if sessionless else f"load-user-{index}-{os.getpid()}"

    def run(self, deadline: float) -> None:
        """Type and generate until the deadline, then wait for the generations still running."""
        switches = self.index % 4 == 1 and len(self.models) > 1
        switch_at = deadline - (deadline - time.monotonic()) / 2 if switches else None
        next_generation = time.monotonic() + 1 + self.index % 10  # users start their generations staggered
        while time.monotonic() < deadline:
            tick = time.monotonic()
            if switch_at and tick >= switch_at:
                self.model, switch_at = self.models[1], None
            self.type_next()
            if tick >= next_generation:
                self.generate()
                next_generation += 10
            time.sleep(max(0.0, 0.2 - (time.monotonic() - tick)))
        for worker in self.workers:
            worker.join(timeout=120)

    def type_next(self) -> None:
        """The next keystroke, unless the last one's call is still out (the tab folds it into the next)."""
        if self.in_flight.is_set():
            with self.tally.lock:
                self.tally.coalesced += 1
            return
        self.typed = self.typed % len(self.text) + 1
        self.in_flight.set()
        pause = self.typed == len(self.text) or self.text[self.typed - 1] in ",.;!?"
        threading.Thread(target=self.keystroke, args=(self.text[: self.typed], self.model, pause), daemon=True).start()

    def keystroke(self, state: str, model: str, pause: bool) -> None:
        self.timed("suggest", suggest_values(state, model, ghost_tokens=0), self.typing_session)
        if pause:
            # The person stops a moment: the tab asks for the words again, then the ghost.
            time.sleep(GHOST_PAUSE_S)
            self.timed("suggest", suggest_values(state, model, ghost_tokens=0), self.typing_session)
            self.timed("suggest", suggest_values(state, model, ghost_tokens=8), self.typing_session, label="ghost")
            time.sleep(PAUSE_S - GHOST_PAUSE_S)
        self.in_flight.clear()

    def generate(self) -> None:
        """A generation or, for a quarter of the people every other time, a compare, in its own thread."""
        self.generations += 1
        if self.voter:
            if self.workers and self.workers[-1].is_alive():
                return  # a person votes on one pair before asking for the next
            session = f"load-voter-{self.index}-{os.getpid()}"  # a tab's session: its pairs take its votes only
            rng = random.Random(self.index * 1000 + self.generations)
            args = (self.api, self.tally, session, BUSY_MARK, rng)
            self.workers.append(threading.Thread(target=arena_voters.pair_and_vote, args=args, daemon=True))
            self.workers[-1].start()
            return
        # Odd generations compare, so even a run of a few seconds reaches a compare.
        prompt, seed = self.text[:30], self.generations
        if self.index % 4 == 0 and self.generations % 2 == 1:
            name, values = "compare", compare_values(prompt, self.model, seed)
        else:
            name, values = "generate", generate_values(prompt, self.model, seed)
        # Each generation is its own caller: one host's calls without a session are one caller
        # to the app, with at most two jobs at once (autowrite.scheduling.PER_CALLER).
        session = f"load-gen-{self.index}-{self.generations}-{os.getpid()}"
        worker = threading.Thread(target=self.timed, args=(name, values, session), daemon=True)
        worker.start()
        self.workers.append(worker)

    def timed(self, name: str, values: dict, session: str | None = None, label: str | None = None) -> None:
        start = time.monotonic()
        try:
            self.api.call(name, values, session=session)
            self.tally.record(label or name, time.monotonic() - start)
        except Exception as error:  # every failure is a counted error, whatever its kind, but the busy answer
            if name in ("generate", "compare") and BUSY_MARK in str(error):
                with self.tally.lock:
                    self.tally.busy[label or name] += 1
            else:
                self.tally.error(f"{label or name}: {type(error).__name__}: {error}")


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


class MemorySampler:
    """A process's resident memory every few seconds, as [seconds since start, MB] pairs; every_s=0 samples nothing."""

    def __init__(self, pid: int, every_s: float) -> None:
        self.pid, self.every_s = pid, every_s
        self.series: list[list[float]] | None = [] if every_s else None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start = time.monotonic()
        while True:
            self.series.append([round(time.monotonic() - start, 1), round(rss_mb(self.pid), 1)])
            if self._stop.wait(self.every_s):
                return

    def __enter__(self) -> MemorySampler:
        if self.every_s:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


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
        url = f"http://127.0.0.1:{port}"
        names = ["suggest", "generate", "tokens", "compare", "report", "changes"]
        names += arena_voters.ENDPOINTS if args.voters else []
        api = Api(url, read_parameters(url, names))
        for model in models:  # load every model once, so memory "before" includes them all
            api.call("suggest", suggest_values("Warm up", model), timeout=180)
        check(api, models[0], checked)
        if args.voters:
            arena_voters.check(api, checked)
        before = rss_mb(app.pid)
        ran = {} if checked.errors else crowd(app.pid, api, models, tally, args)
        after = rss_mb(app.pid)
    finally:
        app.terminate()
        app.wait(timeout=30)
    if args.smoke:  # too short to reach a pause, so the check's calls (a ghost among them) count too
        for name, values in checked.latencies.items():
            tally.latencies[name].extend(values)
    errors = checked.errors + tally.errors
    result = {
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
        "rss_mb": {
            "before": before,
            "after": after,
            **({"series": ran["series"]} if ran.get("series") is not None else {}),
        },
        "cpu": ran.get("cpu"),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "load.json").write_text(json.dumps({"status": failure(result) or "ok", **result}, indent=2))
    (args.out / "load.md").write_text(markdown(result))
    if errors:
        raise LoadFailed(result)
    return result


def crowd(pid: int, api: Api, models: list[str], tally: Tally, args: argparse.Namespace) -> dict:
    """args.users people at once for args.duration seconds: elapsed time, memory series, CPU seconds."""
    cpu_before = cpu_seconds(pid), _own_cpu_seconds()
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
        "load_client_s": _own_cpu_seconds() - cpu_before[1],
        "available_s": elapsed * (os.cpu_count() or 1),
    }
    return {"elapsed_s": elapsed, "series": sampler.series, "cpu": cpu}


def failure(result: dict) -> str:
    """'FAILED: N errors' where the run had any, else an empty string."""
    count = result["errors"]
    return f"FAILED: {count} error{'' if count == 1 else 's'}" if count else ""


def markdown(result: dict) -> str:
    """The load test's figures as a table, headed by FAILED and followed by the first errors where any."""
    cpu = result["cpu"]
    lines = [failure(result)] if result["errors"] else []
    lines += [
        f"{result['users']} users for {result['duration_s']} s ({', '.join(result['models'])}); "
        f"errors: {result['errors']}; memory {result['rss_mb']['before']:.0f} MB before, {result['rss_mb']['after']:.0f} MB after"
        + (
            f"; CPU used: app {cpu['app_s']:.0f} s, this load client {cpu['load_client_s']:.0f} s, "
            f"of {cpu['available_s']:.0f} core-seconds."
            if cpu
            else "; the load did not run."
        ),
        "",
    ]
    lines += [f"{result['sessionless_users']} of the users sent no session hash (REST clients that send none)."]
    if result.get("voters"):
        lines += [f"{result['voters']} of the users voted in the arena (a pair, then a vote) where others generate."]
    if result.get("flood") is not None:
        flood = result["flood"]
        lines += [
            f"One more caller kept {fairness.FLOOD_REPORTS} maximal reports asked at once "
            f"({len(fairness.PRESETS)} columns x {fairness.SEEDS} seeds x {fairness.LONG} tokens): "
            f"{flood.get('done', 0)} done, {flood.get('refused', 0)} refused by name, "
            f"{flood.get('cut', 0)} dropped at the end."
        ]
    lines += [""]
    if "series" in result["rss_mb"]:
        lines += ["Memory (s: MB): " + ", ".join(f"{t:.0f}: {mb:.0f}" for t, mb in result["rss_mb"]["series"]), ""]
    lines += [
        "| endpoint | served | refused as busy | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|",
    ]
    busy = result.get("refused_busy", {})
    for name, s in sorted(result["served"].items()):
        lines.append(
            f"| {name} | {s['n']} | {busy.get(name, 0)} | {s['p50']:.0f} | {s['p95']:.0f} | {s['p99']:.0f} | {s['max']:.0f} |"
        )
    if result["errors"]:
        lines += ["", "First errors:", *(f"- {sample}" for sample in result["error_samples"])]
    return "\n".join(lines) + "\n"


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
    args = parser.parse_args(argv)
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
        print(markdown(main(parse_args())))
    except LoadFailed as failed:
        print(markdown(failed.result))
        sys.exit(1)
