"""What the machine takes at once: one Capacity, from which every bound of the app is derived.

The queue lanes (autowrite.ui.lanes), the generation limit (Admission), the sequences of a
decode step (the llama.cpp generation context and its StepBatcher), Gradio's worker threads
and llama.cpp's compute threads all read their numbers here, and the rules that tie them
together are checked when a Capacity is made: a Capacity that breaks one cannot exist.
"""

from __future__ import annotations

import os
from dataclasses import astuple, dataclass, field

from autowrite.scheduling.traffic import Traffic


def cpu_count() -> int:
    """Cores this process may run on: llama.cpp's thread count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class CapacityError(ValueError):
    """A Capacity whose numbers break a rule that ties them together; the message names the rule."""


@dataclass(frozen=True)
class Lanes:
    """How many events of each kind Gradio runs at once; autowrite.ui.lanes gives them to the events."""

    # Why 16: a suggestion takes tens of milliseconds, and calls in flight together share
    # decodes (backends/combine.py), so sixteen typists are served at once rather than
    # queued; an API call's ghost (up to 32 tokens, each yielding to waiting keystrokes) can
    # hold a slot for a second under load, and with fewer slots words wait behind ghosts
    # (benchmarks/load.py).
    suggest: int = 16
    # The live tab's ghost text: a lane of its own, so a tab's ghost never holds a slot that
    # the next keystroke's words need.
    ghost: int = 8
    # Why 16: wider than the generation limit (see Capacity's rules), so a generation past
    # the limit reaches the service and is refused at once by name, instead of waiting in
    # the page's shared queue, where a backlog of generations would fill it and turn
    # keystrokes away.
    generate: int = 16
    # Loading a model: a Hub download can take minutes, so loads have a lane of their own and
    # never hold the default lane that every page's restore (share links) goes through.
    load: int = 2
    # An arena vote is one short transaction, and must not wait behind generations or page loads.
    vote: int = 4
    # Everything else (a page's restore, switching models, the share link) is quick: two at once.
    default: int = 2

    def total(self) -> int:
        """Events all lanes together run at once: a worker thread each."""
        return sum(astuple(self))


@dataclass(frozen=True)
class Capacity:
    """The app's bounds, chosen once; every other number of scheduling is derived from these."""

    # Why 8: generations share decode steps (decode and batcher); a step of eight
    # sequences costs about four of one (benchmarks/run.py), and eight buffers of the
    # llama.cpp generation context take about 190 MB for SmolLM2-135M.
    step_sequences: int = 8
    # Why 2: a person may run a report while generating on another tab; a third job from one
    # caller is refused, so one caller holds at most a quarter of the app's jobs.
    per_caller: int = 2
    # Why 2: one text with rating guidance decodes two sequences; two sequences of every step
    # kept from bulk work let another person's sample (guided or not) start at the next step.
    # A report alone runs 6 texts a step instead of 8, about 5% fewer tokens a second.
    reserve: int = 2
    lanes: Lanes = field(default_factory=Lanes)
    # Why 48: Gradio runs each step of a handler on a worker thread, and a generation waiting
    # for its turn in the decode steps holds one; every lane at once needs one each, more
    # than Gradio's default of 40, or keystrokes would wait for a thread.
    worker_threads: int = 48
    # Why 64: beyond this many waiting events a newcomer gets "the queue is full, try again"
    # at once instead of a minute's wait.
    queue_size: int = 64
    cores: int = field(default_factory=cpu_count)

    def __post_init__(self) -> None:
        for name, value in {**vars(self.lanes), "step_sequences": self.step_sequences, "cores": self.cores}.items():
            if value < 1:
                raise CapacityError(f"{name} must be at least 1, got {value}")
        if not 1 <= self.per_caller <= self.max_jobs:
            raise CapacityError(f"per_caller must be between 1 and the {self.max_jobs} jobs, got {self.per_caller}")
        if not 0 <= self.reserve < self.step_sequences:
            raise CapacityError(f"reserve must leave bulk work room in a step of {self.step_sequences}")
        if self.lanes.generate <= self.max_jobs:
            raise CapacityError(
                f"the generate lane ({self.lanes.generate}) must be wider than the {self.max_jobs} jobs admitted, "
                "so that a job past the limit is refused by name rather than queued"
            )
        if self.worker_threads < self.lanes.total():
            raise CapacityError(
                f"{self.worker_threads} worker threads cannot run the lanes' {self.lanes.total()} events at once"
            )

    @property
    def max_jobs(self) -> int:
        """Generations running or waiting in the whole app: as many as one decode step holds.

        Eight jobs keep the steps full while a newcomer waits about one batch. Past that,
        demand the machine cannot decode would queue without end, fill the page's shared
        queue and turn keystrokes away too, so a job past the limit is refused at once, by
        name, and typing keeps being served.
        """
        return self.step_sequences

    def compute_threads(self, traffic: Traffic, most: int | None = None) -> int:
        """llama.cpp's threads for the next decode: all `most` (the cores), or one while people type beside other requests.

        Each keystroke costs a little model time and much Python (HTTP, queue, suggestion
        logic), which takes turns on the cores with llama.cpp's OpenMP team; each time one
        of its threads is descheduled, the other spins at the next barrier, so under mixed
        load one thread serves keystrokes and generations sooner and spends less CPU
        (benchmarks/load.py; docs/performance.md). Generations alone keep every core:
        eight at once decode far faster on two threads than on one (benchmarks/run.py).
        """
        requests, typing = traffic.in_flight()
        return 1 if requests > 1 and typing else most or self.cores

    def remote_streams(self, texts: int) -> int:
        """Requests one job may keep open at once on a remote server: as many texts as a local step decodes."""
        return max(1, min(texts, self.step_sequences))


# The app's one Capacity; everything that bounds work reads it.
CAPACITY = Capacity()
