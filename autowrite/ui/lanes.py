"""Queue lanes: typing and generating are queued apart, so a long generation never delays a keystroke.

The lanes' sizes, the queue's and the worker threads' are autowrite.scheduling's Capacity,
where the why of each number and the rules between them live; this is Gradio's side.
Every model computation takes its backend's lock one step at a time (one token for every
running generation, or one batch of suggestion branches), so events in different lanes
interleave between tokens rather than waiting for a whole generation to finish.
"""

from __future__ import annotations

import os

import gradio as gr

from autowrite.scheduling import CAPACITY


def _lane(name: str) -> dict:
    """A lane's Gradio arguments: its id and how many of its events run at once (Capacity.lanes)."""
    return {"concurrency_id": name, "concurrency_limit": getattr(CAPACITY.lanes, name)}


SUGGEST = _lane("suggest")
GHOST = _lane("ghost")
GENERATE = _lane("generate")
LOAD = _lane("load")
VOTE = _lane("vote")
QUEUE_SIZE = CAPACITY.queue_size
MAX_THREADS = CAPACITY.worker_threads  # Capacity checks that every lane's events find a thread

# Why 1,000: Gradio keeps each browser session's page state, and every API call made without
# a session hash starts a session of its own. A session holds a copy of every component's
# config, about a quarter of a megabyte for this page, so Gradio's default of 10,000 would
# let sessions alone take 2.5 GB (benchmarks/results/memory.md). A session dropped while
# its tab is still open loses only its small state (the words and ghost offered, which
# tab is open), and the page keeps working.
SESSIONS = 1000

# Gradio summarises its event analytics with pandas after every event, over up to 10,000
# past events; under the load test (16 typists) that took ~6% of the server's CPU, for a
# summary only its monitoring page reads. Every 500 events over the last 2,000 is plenty.
ANALYTICS_ENV = {"GRADIO_ANALYTICS_CACHE_FREQUENCY": "500", "GRADIO_ANALYTICS_MAX_EVENTS": "2000"}


def enable_queue(demo: gr.Blocks) -> None:
    """The app's queue: bounded, the default lane's events at once, analytics summarised rarely."""
    for name, value in ANALYTICS_ENV.items():
        os.environ.setdefault(name, value)  # read when the queue is made; a value set outside wins
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=CAPACITY.lanes.default)
