"""Steps shared by generations: every generation running on one model decodes together.

Per-request decoding (a generation's texts, their sampling, their parts) is autowrite.decode's;
whose texts a step takes next is autowrite.scheduling's (FairQueue); this module runs the
steps on a worker thread and hands each generation its samples.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from autowrite.backends.base import Backend, Sample
from autowrite.decode import Options, Texts, parts
from autowrite.scheduling import FairQueue, Share
from autowrite.settings import SamplingSettings

logger = logging.getLogger(__name__)

_DONE = object()  # ends a request's queue of texts
_ANY_SIZE = 1 << 30  # room in a step when nothing runs: the first request always fits alone


@dataclass(eq=False)
class _Request:
    """A part of a generation, waiting for or taking part in a StepBatcher's steps.

    Its results go onto the generation's queue as (part, item): the samples after a step,
    _DONE, or an error.
    """

    texts: Texts
    stop: threading.Event | None
    results: queue.SimpleQueue
    share: Share
    part: int = 0
    left: bool = False  # the reader went away (Stop, a closed tab): drop it at the next step

    @property
    def ended(self) -> bool:
        return self.left or (self.stop is not None and self.stop.is_set())

    def size(self) -> int:
        """Sequences it decodes in a step."""
        return len(self.texts.pending())

    def put(self, item: object) -> None:
        self.results.put((self.part, item))


class StepBatcher:
    """Decodes every generation running on one backend together: each step, one token for each.

    One person's generation costs a llama.cpp call per token that reads all the weights; a
    step of eight sequences took about four times one sequence's step (benchmarks/run.py:
    138.5 tokens/s in all for eight people, against 33.0 taking turns), so generations
    started by different people share steps instead of taking turns. A worker thread runs the steps
    while any request is running and stops when none is. Requests join and leave between
    steps; those that do not fit (more sequences than the backend decodes at once) wait
    their turn, caller by caller (autowrite.scheduling.FairQueue): one caller's report
    cannot hold the steps while someone else's generation waits.

    The results do not depend on what runs beside them: llama.cpp computes each sequence's
    logits the same, bit for bit, in any batch (tests/test_llamacpp.py), and each request has
    its own random streams. The memory starts empty whenever the worker starts, as a
    generation alone starts (see forget()).

    One batcher serves one model's generation backend (backend.for_generation()); the
    model's loader makes it, for backends that batch_generations.
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._lock = threading.Condition()  # notified when the worker stops: nothing runs or waits
        self._waiting: FairQueue[_Request] = FairQueue(backend.batch_sequences)
        self._running: list[_Request] = []
        self._working = False

    def stream(
        self,
        prompt_ids: Sequence[int],
        variants: Sequence[SamplingSettings],
        stop: threading.Event | None = None,
        options: Options = Options(),  # noqa: B008 - frozen, never changed
    ) -> Iterator[list[Sample]]:
        """The samples so far after each step this generation took part in (later ones, if it lags).

        A generation larger than a step holds runs in parts, each waiting its turn as other
        requests do; parts not yet started read as empty texts.
        """
        results: queue.SimpleQueue = queue.SimpleQueue()
        # Bulk work takes its turn a text at a time, so it fills the room others leave.
        size = 1 if options.share.bulk else self.backend.batch_sequences
        requests = [
            _Request(Texts(self.backend, prompt_ids, piece, options), stop, results, options.share, part)
            for part, piece in enumerate(parts(variants, size, options.contrast_ids is not None))
        ]
        latest = [request.texts.samples() for request in requests]
        running = {request.part for request in requests if request.texts.active}
        if not running:
            return
        self._enqueue([request for request in requests if request.part in running])
        try:
            while running:
                items = [results.get()]
                while True:  # a reader that fell behind skips to the newest samples
                    try:
                        items.append(results.get_nowait())
                    except queue.Empty:
                        break
                error = None
                for part, item in items:
                    if item is _DONE:
                        running.discard(part)
                    elif isinstance(item, BaseException):
                        error = error or item
                    else:
                        latest[part] = item
                if any(item is not _DONE and not isinstance(item, BaseException) for _, item in items):
                    yield [sample for part in latest for sample in part]
                if error is not None:
                    raise error
        finally:
            for request in requests:
                request.left = True

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no generation runs or waits here (every stopped one dropped); False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._working, timeout)

    def _enqueue(self, requests: list[_Request]) -> None:
        """Queue a generation's parts, starting the worker if none runs."""
        with self._lock:
            self._waiting.push(requests)
            if not self._working:
                try:
                    threading.Thread(target=self._work, name="generation-steps", daemon=True).start()
                except BaseException:  # no thread (out of resources): no worker would ever serve
                    self._waiting.remove(lambda request: request in requests)
                    raise
                self._working = True  # still under the lock, which the worker takes first

    def _admit(self) -> None:
        """Move waiting requests into the steps while their sequences fit, fairly by caller.

        When nothing runs, the next request starts whatever its size.
        """
        for request in self._waiting.remove(lambda request: request.ended):
            request.put(_DONE)
        running: Counter[str] = Counter()
        for request in self._running:
            running[request.share.caller] += request.size()
        while True:
            free = self.backend.batch_sequences - running.total() if self._running else _ANY_SIZE
            request = self._waiting.take(running, free)
            if request is None:
                return
            self._running.append(request)
            running[request.share.caller] += request.size()

    def _work(self) -> None:
        try:
            self.backend.forget()
            while True:
                with self._lock:
                    for request in [r for r in self._running if r.ended]:
                        self._running.remove(request)
                        request.put(_DONE)
                    self._admit()
                    if not self._running:
                        self._working = False
                        self._lock.notify_all()
                        return
                    running = list(self._running)
                self._step(running)
        except Exception as error:  # noqa: BLE001 - readers block on their queues: none may be left waiting
            logger.exception("generation steps stopped")
            with self._lock:
                for request in [*self._running, *self._waiting.remove(lambda _: True)]:
                    request.put(error)
                self._running.clear()
                self._working = False
                self._lock.notify_all()

    def _step(self, running: list[_Request]) -> None:
        self.backend.yield_to_keystrokes()
        wanted = [r.texts.pending() for r in running]
        try:
            logits = self.backend.logits_many([ids for sequences in wanted for ids in sequences])
        except Exception as error:  # noqa: BLE001 - handed to every reader of this step, then the next step runs
            with self._lock:
                for request in running:
                    self._running.remove(request)
                    request.put(error)
            return
        start = 0
        for request, sequences in zip(running, wanted, strict=True):
            try:
                request.texts.advance(logits[start : start + len(sequences)])
            except Exception as error:  # noqa: BLE001 - one request's sampling error ends that request only
                with self._lock:
                    self._running.remove(request)
                request.put(error)
                continue
            finally:
                start += len(sequences)
            request.put(request.texts.samples())
            if not request.texts.active:
                with self._lock:
                    self._running.remove(request)
                request.put(_DONE)
