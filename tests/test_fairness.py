"""One caller cannot starve the rest: reports share the steps, jobs are bounded by caller, dropped calls stop.

These run the embedded model on llama.cpp, whose generations share decode steps
(autowrite.batcher.StepBatcher) as in the app.
"""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest

from autowrite.decode import Options
from autowrite.scheduling import Share
from autowrite.service import Busy, Request, Service, Variant
from autowrite.settings import SamplingSettings
from tests.conftest import launched
from tests.decoding import CountedSteps, count_steps

pytest.importorskip("llama_cpp")

from autowrite.catalog import load_catalog  # noqa: E402

REPORT_COLUMNS = 4
REPORT_SEEDS = 32
LONG = 200  # a maximal report's length


@pytest.fixture(scope="module")
def service():
    entries = [e for e in load_catalog() if e.source == "embedded" and not e.adapter]
    service = Service(entries, read_hub_cards=False)
    service.load(entries[0].name)
    return service


def _batcher(service: Service):
    return service.load(service.default_name).model.batcher


def _steps(service: Service) -> CountedSteps:
    """The model's batcher's step counter (tests.decoding.count_steps)."""
    return count_steps(_batcher(service))


def _start(outputs, ready: threading.Event | None = None):
    """Read a stream in a thread until it ends or is closed; the thread."""

    def read():
        for _ in outputs:
            if ready is not None:
                ready.set()

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def _report(service: Service, caller: str, stop: threading.Event):
    settings = service.settings(None, max_new_tokens=LONG, seed=1)
    columns = [Variant(service.default_name, settings.replace(temperature=0.5 + c / 4)) for c in range(REPORT_COLUMNS)]
    request = Request(model=service.default_name, text="This blender", caller=caller)
    return service.report(request, columns, REPORT_SEEDS, stop)[1]


def test_another_callers_generation_starts_at_the_next_step_while_one_caller_floods_reports(service):
    """Ten maximal reports from one session: two run, eight are refused by name, and another
    session's generation gets its first token within two decode steps, its text as alone."""
    batcher, counted = _batcher(service), _steps(service)
    request = Request(model=service.default_name, text="The battery", caller="someone")
    settings = service.settings(None, max_new_tokens=12, seed=5)
    alone = service.generate(request, settings).texts[0]
    stop = threading.Event()
    running = threading.Event()
    refused = []
    threads = []
    for _ in range(10):
        outputs = _report(service, "flood", stop)
        try:
            first = next(outputs)  # admission is asked here
        except Busy as error:
            refused.append(str(error))
            continue
        assert len(first.samples) == REPORT_COLUMNS * REPORT_SEEDS
        threads.append(_start(outputs, running))
    try:
        assert len(threads) == 2 and len(refused) == 8
        assert all(r.startswith("You already have 2 generations running or waiting") for r in refused)
        assert running.wait(30)
        stream = service.stream(request, settings)
        next(stream)  # the empty texts before the first step
        asked_at = counted.steps
        first = next(stream)
        assert counted.steps - asked_at <= 2, "the generation waited behind the reports"
        assert first.texts[0]
        assert [*stream][-1].texts[0] == alone
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert batcher.wait_idle(10)


def test_a_report_decodes_the_same_texts_when_others_share_its_steps(service):
    """Fair turns change when a text runs, never what it writes."""
    settings = service.settings(None, max_new_tokens=16, seed=11)
    columns = [Variant(service.default_name, settings), Variant(service.default_name, settings.replace(top_k=3))]
    request = Request(model=service.default_name, text="Great sound", caller="a")
    alone = [s.text for s in [*service.report(request, columns, 4)[1]][-1].samples]
    other = service.stream(Request(model=service.default_name, text="It broke", caller="b"), settings, samples=3)
    reader = _start(other)
    shared = [s.text for s in [*service.report(request, columns, 4)[1]][-1].samples]
    reader.join(30)
    assert shared == alone


def test_bulk_work_leaves_two_sequences_of_each_step_to_others(service):
    batcher = _batcher(service)
    prompt = service.load(None).backend.encode("Ad: ")
    variants = [SamplingSettings(seed=s, max_new_tokens=6) for s in range(12)]
    seen = []
    logits_many = batcher.backend.logits_many

    def recorded(sequences):
        seen.append(len(sequences))
        return logits_many(sequences)

    batcher.backend.logits_many = recorded
    try:
        [*batcher.stream(prompt, variants, options=Options(share=Share("a", bulk=True)))]
    finally:
        del batcher.backend.logits_many
    assert max(seen) == batcher.backend.batch_sequences - 2


def test_a_dropped_report_stops_its_steps(service):
    """A REST client asks for a maximal report and leaves after its first message."""
    batcher, counted = _batcher(service), _steps(service)
    with launched(service, max_size=16) as (root, _):
        url = f"{root}gradio_api/call/report"
        body = {"data": ["This blender", None, ["Greedy", "Card defaults", "Creative", "Precise"], 1, LONG]}
        body["data"] += [None] * 5 + [REPORT_SEEDS]  # mode ... columns, then seeds
        call = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
        event_id = json.loads(urllib.request.urlopen(call, timeout=30).read())["event_id"]
        stream = urllib.request.urlopen(f"{url}/{event_id}", timeout=60)
        for line in stream:
            if line.startswith(b"event: generating"):
                break
        started = counted.steps
        stream.close()  # the client leaves
        assert batcher.wait_idle(5), "the report went on after its client left"
        assert counted.steps - started < REPORT_COLUMNS * REPORT_SEEDS * LONG // 8 // 4
        assert service.admission.jobs() == 0
