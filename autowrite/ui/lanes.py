"""Queue lanes: typing and generating are queued apart, so a long generation never delays a keystroke.

Every model computation takes its backend's lock one step at a time (one token, or one
batch of suggestion branches), so events in different lanes interleave between tokens
rather than waiting for a whole generation to finish.
"""

from __future__ import annotations

# Why 8: a suggestion takes tens of milliseconds; eight in flight keep the CPU busy
# without letting a crowd of typists pile up work that is stale by the time it runs.
SUGGEST = {"concurrency_id": "suggest", "concurrency_limit": 8}
# Why 2: two generations interleave token by token on 2 cores; more only slows each one.
GENERATE = {"concurrency_id": "generate", "concurrency_limit": 2}
# Why 64: beyond this many waiting events a newcomer gets "the queue is full, try again"
# at once instead of a minute's wait.
QUEUE_SIZE = 64
