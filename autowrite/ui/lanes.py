"""Queue lanes: typing and generating are queued apart, so a long generation never delays a keystroke.

Every model computation takes its backend's lock one step at a time (one token for every
running generation, or one batch of suggestion branches), so events in different lanes
interleave between tokens rather than waiting for a whole generation to finish.
"""

from __future__ import annotations

import os

import gradio as gr

# Why 16: a suggestion takes tens of milliseconds, and calls in flight together share
# decodes (backends/llamacpp.py combines them), so sixteen typists are served at once rather than
# queued; an API call's ghost (up to 32 tokens, each yielding to waiting keystrokes) can
# hold a slot for a second under load, and with fewer slots words wait behind ghosts
# (benchmarks/load.py).
SUGGEST = {"concurrency_id": "suggest", "concurrency_limit": 16}
# The live tab's ghost text: its own lane, so a tab's ghost never holds a slot that the
# next keystroke's words need.
GHOST = {"concurrency_id": "ghost", "concurrency_limit": 8}
# Why 16: generations on the fast backend share decode steps (decode.StepBatcher) and wait
# their turn inside it, while the service admits at most scheduling.MAX_JOBS (8) at once and
# refuses the next by name. The lane is wider than that, so a generation past the limit
# reaches the service and is refused at once, instead of waiting in the page's shared
# queue, where a backlog of generations would fill it and turn keystrokes away.
GENERATE = {"concurrency_id": "generate", "concurrency_limit": 16}
# Loading a model: a Hub download can take minutes, so loads have a lane of their own and
# never hold the default lane that every page's restore (share links) goes through.
LOAD = {"concurrency_id": "load", "concurrency_limit": 2}
# Why 64: beyond this many waiting events a newcomer gets "the queue is full, try again"
# at once instead of a minute's wait.
QUEUE_SIZE = 64

# Why 48: Gradio runs each step of a handler on a worker thread, and a generation waiting
# for its turn in the decode steps holds one; the lanes together (16 + 8 + 16 + 2 + 2)
# need 44, more than Gradio's default of 40, or keystrokes would wait for a thread.
MAX_THREADS = 48

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
    """The app's queue: bounded, two concurrent events by default, analytics summarised rarely."""
    for name, value in ANALYTICS_ENV.items():
        os.environ.setdefault(name, value)  # read when the queue is made; a value set outside wins
    # Everything else (a page's restore, switching models, the share link) is quick: two at once.
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=2)
