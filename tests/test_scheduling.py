"""Scheduling: one Capacity and its rules, admission by caller, whose texts a step takes next, who goes first."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest

from autowrite.scheduling import (
    BUSY,
    CAPACITY,
    MAX_JOBS,
    OWN,
    Admission,
    Capacity,
    CapacityError,
    Crowded,
    FairQueue,
    Lanes,
    Share,
    Traffic,
    Turns,
    UrgentFirst,
)


@dataclass(eq=False)
class _Part:
    name: str
    share: Share
    sequences: int = 1
    log: list = field(default_factory=list)

    def size(self) -> int:
        return self.sequences


def _bulk(caller: str, count: int) -> list[_Part]:
    return [_Part(f"{caller}{i}", Share(caller, bulk=True)) for i in range(count)]


def _fill(queue: FairQueue, width: int) -> list[str]:
    """Take parts into an empty step until none fits; their names."""
    running: dict[str, int] = {}
    taken = []
    while (part := queue.take(running, width - sum(running.values()))) is not None:
        running[part.share.caller] = running.get(part.share.caller, 0) + part.size()
        taken.append(part.name)
    return taken


def test_bulk_work_leaves_room_that_a_newcomer_takes_at_once():
    queue = FairQueue(width=8, reserve=2)
    queue.push(_bulk("a", 100))
    assert _fill(queue, 8) == [f"a{i}" for i in range(6)]  # two sequences kept from the report
    queue.push([_Part("b", Share("b"), sequences=2)])  # someone's guided sample
    assert queue.take({"a": 6}, 2).name == "b"
    assert queue.take({"a": 6, "b": 2}, 0) is None


def test_the_caller_running_least_goes_first_and_a_part_that_does_not_fit_is_not_overtaken():
    queue = FairQueue(width=8, reserve=2)
    queue.push(_bulk("a", 10))
    queue.push([_Part("b", Share("b"), sequences=4)])
    queue.push([_Part("c", Share("c"), sequences=1)])
    # a runs 5, b none, c none: b first (came before c), and b's 4 do not fit in 3.
    assert queue.take({"a": 5}, 3) is None
    assert queue.take({"a": 2}, 6).name == "b"
    assert queue.take({"a": 2, "b": 4}, 2).name == "c"
    assert queue.take({"a": 2, "b": 4, "c": 1}, 1).name == "a0"


def test_work_that_is_not_bulk_starts_whole_and_a_lone_report_keeps_going():
    queue = FairQueue(width=8, reserve=2)
    queue.push([_Part("compare", Share("a"), sequences=8)])
    assert _fill(queue, 8) == ["compare"]
    queue.push(_bulk("a", 3))
    assert queue.take({}, 8).name == "a0"  # a caller holding nothing always starts


def test_ended_parts_leave_the_queue_wherever_they_wait():
    queue = FairQueue(width=4)
    parts = _bulk("a", 3) + _bulk("b", 2)
    queue.push(parts)
    gone = queue.remove(lambda part: part.name in {"a1", "b0", "b1"})
    assert [p.name for p in gone] == ["a1", "b0", "b1"] and len(queue) == 2
    assert _fill(queue, 4) == ["a0", "a2"]


def test_admission_bounds_each_caller_and_the_whole_app():
    admission = Admission(limit=3, per_caller=2)
    admission.enter("a")
    admission.enter("a")
    with pytest.raises(Crowded, match="You already have 2 generations running or waiting"):
        admission.enter("a")
    admission.enter("b")
    with pytest.raises(Crowded) as refused:
        admission.enter("c")
    assert str(refused.value) == BUSY.format(limit=3)
    admission.leave("a")
    admission.enter("c")
    assert admission.jobs() == 3 and admission.jobs("a") == 1 and admission.jobs("c") == 1
    assert OWN.format(limit=2) != BUSY.format(limit=3)


def test_the_apps_own_work_is_bounded_only_by_the_total():
    admission = Admission(limit=4, per_caller=1)
    for _ in range(4):
        admission.enter("")
    with pytest.raises(Crowded, match="The app is busy"):
        admission.enter("")


def test_admission_is_safe_across_threads():
    admission = Admission(limit=50, per_caller=50)
    barrier = threading.Barrier(8)

    def churn():
        barrier.wait()
        for _ in range(500):
            admission.enter("x")
            admission.leave("x")

    threads = [threading.Thread(target=churn) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert admission.jobs() == 0


def test_a_held_place_is_given_back_however_the_job_ends():
    admission = Admission(limit=1, per_caller=1)
    with pytest.raises(ValueError), admission.held("a"):
        assert admission.jobs("a") == 1
        raise ValueError("the job failed")
    with admission.held("a"), pytest.raises(Crowded):
        admission.enter("b")
    assert admission.jobs() == 0


def test_every_bound_is_derived_from_the_one_capacity():
    from autowrite.backends.llamacpp import GENERATION_SEQUENCES, LlamaCppBackend
    from autowrite.ui import lanes

    # Eight admitted generations: eight sequences in every llama.cpp generation step.
    assert MAX_JOBS == CAPACITY.max_jobs == CAPACITY.step_sequences == GENERATION_SEQUENCES
    assert LlamaCppBackend.batch_sequences == CAPACITY.step_sequences
    assert Admission().limit == CAPACITY.max_jobs and Admission().per_caller == CAPACITY.per_caller
    lane_sizes = [
        lane["concurrency_limit"] for lane in (lanes.SUGGEST, lanes.GHOST, lanes.GENERATE, lanes.LOAD, lanes.VOTE)
    ]
    assert lane_sizes == [16, 8, 16, 2, 4]
    assert lanes.MAX_THREADS == CAPACITY.worker_threads >= CAPACITY.lanes.total() == sum(lane_sizes) + 2
    assert CAPACITY.queue_size == lanes.QUEUE_SIZE


@pytest.mark.parametrize(
    ("changed", "rule"),
    [
        ({"worker_threads": 40}, "40 worker threads cannot run the lanes' 48 events"),
        ({"lanes": Lanes(generate=8)}, "generate lane \\(8\\) must be wider than the 8 jobs"),
        ({"step_sequences": 16}, "generate lane \\(16\\) must be wider than the 16 jobs"),
        ({"per_caller": 9}, "per_caller must be between 1 and the 8 jobs"),
        ({"reserve": 8}, "reserve must leave bulk work room"),
        ({"lanes": Lanes(suggest=0)}, "suggest must be at least 1"),
    ],
)
def test_a_capacity_that_breaks_a_rule_cannot_be_made(changed, rule):
    with pytest.raises(CapacityError, match=rule):
        Capacity(**changed)


def test_compute_threads_drop_to_one_while_people_type_beside_other_requests(monkeypatch):
    capacity = Capacity(cores=4)
    traffic = Traffic()
    assert capacity.compute_threads(traffic) == 4
    with traffic.serving(keystroke=True):
        assert capacity.compute_threads(traffic) == 4  # a keystroke alone keeps every core
        with traffic.serving():
            assert capacity.compute_threads(traffic, most=2) == 1
    monkeypatch.setattr(traffic, "last_keystroke", -float("inf"))
    with traffic.serving(), traffic.serving():
        assert capacity.compute_threads(traffic, most=2) == 2


def test_a_keystroke_in_progress_holds_back_generation_steps_until_it_ends():
    turns = Turns()
    released = []
    with turns.keystroke():
        waiter = threading.Thread(target=lambda: (turns.let_keystrokes_go(limit_s=30), released.append(True)))
        waiter.start()
        turns.let_keystrokes_go(limit_s=0)  # a limit: a generation step never waits longer
        assert released == []
    waiter.join(timeout=30)
    assert released == [True]


def test_an_urgent_call_runs_before_the_calls_queued_earlier():
    worker = UrgentFirst("test-worker")
    started, busy, order = threading.Event(), threading.Event(), []

    def hold() -> None:
        started.set()
        busy.wait(30)

    first = threading.Thread(target=worker.run, args=(hold, ()))
    first.start()
    assert started.wait(30)  # the worker is busy: what comes next queues
    callers = []
    for name in ("step 1", "step 2", "keystroke"):
        callers.append(threading.Thread(target=worker.run, args=(order.append, (name,), name == "keystroke")))
        callers[-1].start()
        with worker._changed:
            assert worker._changed.wait_for(lambda count=len(callers): len(worker._queue) == count, 30)
    busy.set()
    for thread in [first, *callers]:
        thread.join(timeout=30)
    assert order == ["keystroke", "step 1", "step 2"]
    assert worker.run(lambda: worker.run(len, ("nested",)), ()) == 6  # a call from the worker runs at once
