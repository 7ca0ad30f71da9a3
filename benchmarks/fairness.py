"""Fairness: how long another person's generation waits while one caller floods the app with reports.

python -m benchmarks.fairness                          # this checkout's app
python -m benchmarks.fairness --app-dir /tmp/before    # another checkout's app.py, for a before/after
python -m benchmarks.fairness --lone-report            # in process: what the kept sequences cost a report alone

One REST client keeps 10 maximal reports asked at once (4 columns x 32 seeds x 200 tokens,
each asked again as soon as it ends or is refused). After a few seconds, another session
asks for one 40-token sample every 5 s, 8 times (for at most ASKING_S), over the REST protocol, and each is timed
to its first streamed text and to its end. A generation that fails, or is refused other
than as busy, makes the run fail loudly: no figure describes a broken path.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from benchmarks.server import ROOT, free_port, offline_models, start_app

FLOOD_REPORTS = 10
PRESETS = ["Greedy", "Card defaults", "Creative", "Precise"]
SEEDS = 32
LONG = 200
ASKS = 8
EVERY_S = 5.0
# Why 300 s: where another person's generation waits minutes behind the reports, a few
# such waits tell the story; the run asks no more after this.
ASKING_S = 300.0
FLOOD_HEAD_START_S = 5.0
FLOOD_HOST = "127.0.0.2"  # loopback: the flooding client's own address, as another machine would have
_COUNTING = threading.Lock()  # the flood's threads count into one tally


def _connection(url: str, source: str | None) -> http.client.HTTPConnection:
    parts = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=600, source_address=(source, 0) if source else None
    )


def post(url: str, name: str, data: list, session: str | None, source: str | None = None) -> str:
    """POST a call (without a session hash when session is None, from the loopback address source); its event id."""
    body = json.dumps({"data": data, **({"session_hash": session} if session else {})})
    connection = _connection(url, source)
    try:
        connection.request("POST", f"/gradio_api/call/{name}", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        answer = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"{name}: HTTP {response.status} {answer[:200].decode(errors='replace')}")
    return json.loads(answer)["event_id"]


def events(url: str, name: str, event_id: str, source: str | None = None) -> Iterator[tuple[str | None, str]]:
    """(event, data) pairs of a call's stream; closing this closes the connection (the client leaves)."""
    connection = _connection(url, source)
    try:
        connection.request("GET", f"/gradio_api/call/{name}/{event_id}")
        response = connection.getresponse()
        event = None
        while line := response.readline():
            line = line.decode().strip()
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                yield event, line[5:].strip()
    finally:
        connection.close()


def timed_generation(url: str, model: str, k: int) -> dict:
    """One sample by another session: seconds to its first text and to its end, or that it was refused."""
    data = ["The sound quality", model, None, None, None, None, 40, True, k]
    start = time.monotonic()
    first = None
    for event, payload in events(url, "generate", post(url, "generate", data, f"other-{k}")):
        if event == "error":
            return {"refused": payload}
        if event == "generating" and first is None and json.loads(payload)[0]:
            first = time.monotonic() - start
        if event == "complete":
            return {
                "first_s": first if first is not None else time.monotonic() - start,
                "total_s": time.monotonic() - start,
            }
    raise RuntimeError("the generation's stream ended without a result")


def flood(url: str, model: str, stop: threading.Event, tally: dict) -> None:
    """Ask a maximal report, again and again, until stop; count what was answered."""
    data = ["This blender", model, PRESETS, 1, LONG, None, None, None, None, None, SEEDS]
    while not stop.is_set():
        try:
            outcome = _report_outcome(url, data, stop)
        except OSError:
            outcome = "cut"  # the app stopped at the end of the run
        with _COUNTING:
            tally[outcome] = tally.get(outcome, 0) + 1
        if outcome == "refused":
            stop.wait(0.5)


def _report_outcome(url: str, data: list, stop: threading.Event) -> str:
    """One flooding report: "done", "refused" (by name), or "cut" when the run ended first (the stream is closed).

    The flood is one REST client that sends no session hash, so each call has a session
    of its own (one session's calls would read each other's messages over REST), and the
    app knows the client by its host: FLOOD_HOST, a loopback address of its own.
    """
    for event, _ in events(url, "report", post(url, "report", data, None, FLOOD_HOST), FLOOD_HOST):
        if event == "error":
            return "refused"
        if event == "complete":
            return "done"
        if stop.is_set():
            return "cut"
    return "cut"


def run(app_dir: Path) -> dict:
    """The flood and the timed generations against a fresh app; their figures."""
    port = free_port()
    app = start_app(port, cwd=app_dir)
    url = f"http://127.0.0.1:{port}"
    model = offline_models()[0]
    stop, tally = threading.Event(), {}
    try:
        timed_generation(url, model, 0)  # warm up: the model loaded, its first decode done
        floods = [
            threading.Thread(target=flood, args=(url, model, stop, tally), daemon=True) for _ in range(FLOOD_REPORTS)
        ]
        for thread in floods:
            thread.start()
        time.sleep(FLOOD_HEAD_START_S)
        asked = []
        until = time.monotonic() + ASKING_S
        for k in range(1, ASKS + 1):
            if time.monotonic() > until:
                break
            started = time.monotonic()
            asked.append(timed_generation(url, model, k))
            time.sleep(max(0.0, EVERY_S - (time.monotonic() - started)))
    finally:
        stop.set()
        app.terminate()
        app.wait(timeout=30)
    return {"app_dir": str(app_dir), "model": model, "generations": asked, "flood": tally}


def summary(result: dict) -> dict:
    """Medians and maxima of the served generations, and how many were refused."""
    served = [g for g in result["generations"] if "first_s" in g]
    firsts, totals = [g["first_s"] for g in served], [g["total_s"] for g in served]
    return {
        "served": len(served),
        "refused": len(result["generations"]) - len(served),
        "first_text_s": {"median": statistics.median(firsts), "max": max(firsts)} if firsts else None,
        "whole_s": {"median": statistics.median(totals), "max": max(totals)} if totals else None,
    }


def lone_report(repeats: int = 3) -> dict:
    """A report alone (4 columns x 8 seeds x 60 tokens, review checkpoint, unguided) decoded as
    bulk work (a sample at a time, 2 sequences of each step kept for others) and in whole
    parts of 8, interleaved in one process; seconds each way, medians. The texts must agree."""
    from autowrite.backends.compute import one_openmp_team
    from autowrite.catalog import load_catalog
    from autowrite.decode import Options, last
    from autowrite.scheduling import Share
    from autowrite.service import Service
    from autowrite.settings import PRESET_NAMES, preset

    one_openmp_team()  # as app.py does
    service = Service(load_catalog(), read_hub_cards=False)
    loaded = service.load(service.default_name)
    card = loaded.entry.defaults.replace(rating_guidance=1.0)
    variants = [preset(n, card, 60, 42 + k) for n in PRESET_NAMES[:4] for k in range(8)]
    prompt = loaded.backend.encode(service.prompt(loaded.entry, _review_request(service)))
    timings: dict[str, list[float]] = {"bulk": [], "whole parts": []}
    texts = {}
    for _ in range(repeats):
        for name, bulk in (("bulk", True), ("whole parts", False)):
            start = time.perf_counter()
            samples = last(loaded.model.batcher.stream(prompt, variants, options=Options(share=Share("a", bulk))))
            timings[name].append(time.perf_counter() - start)
            texts[name] = [sample.text for sample in samples]
    if texts["bulk"] != texts["whole parts"]:
        raise RuntimeError("FAILED: the report's texts differ between the two ways of taking turns")
    medians = {name: statistics.median(values) for name, values in timings.items()}
    return {"seconds": medians, "ratio": medians["bulk"] / medians["whole parts"], "runs": timings}


def _review_request(service):
    from autowrite.formats import Task
    from autowrite.service import Request

    return Request(model=service.default_name, task=Task.REVIEW, text="", rating=1, category="Electronics")


def main(args: argparse.Namespace) -> dict:
    """Run against the app in args.app_dir and write fairness.json; fail when nothing was served."""
    if args.lone_report:
        result = lone_report()
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "lone_report.json").write_text(json.dumps(result, indent=2))
        return {"summary": result}
    result = run(args.app_dir)
    result["summary"] = summary(result)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fairness.json").write_text(json.dumps(result, indent=2))
    if not result["summary"]["served"]:
        raise RuntimeError(f"FAILED: no generation was served: {result['generations'][:2]}")
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Flags: --app-dir, --out, --lone-report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app-dir", type=Path, default=ROOT, help="the checkout whose app.py runs (this one)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--lone-report", action="store_true", help="in process: a report alone, bulk or whole parts")
    return parser.parse_args(argv)


if __name__ == "__main__":
    print(json.dumps(main(parse_args())["summary"], indent=2))
