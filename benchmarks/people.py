"""The load test's simulated people: each types a review, pauses, generates and compares.

Each types at 5 keystrokes per second as the live tab asks: a `suggest` call for the words
(ghost_tokens=0) per keystroke; like the browser's always_last trigger, a keystroke that
arrives while the call is out is folded into the next one. After a comma, a full stop and
the end of the text the person pauses for a second, and, as the tab does once typing pauses,
asks for the words and then the ghost text (timed as "ghost"). Each also starts a generation
every 10 s (every other one a compare, the first one included, for a quarter of the people),
and half-way through some switch to the catalog's second offline model.
"""

from __future__ import annotations

import os
import random
import threading
import time

from autowrite.scheduling import BUSY
from benchmarks import arena_voters
from benchmarks.rest import Api
from benchmarks.shapes import TEXTS, compare_values, generate_values, suggest_values
from benchmarks.tally import Tally

# How the app words a generation it refuses past capacity.
BUSY_MARK = BUSY.split(":")[0]

# A person pauses after punctuation and at the end of the text, for PAUSE_S;
# the live tab asks for the ghost once typing has paused for GHOST_PAUSE_S
# (autowrite.ui.live.GHOST_PAUSE_MS), so those pauses are when ghosts are computed.
PAUSE_S = 1.0
GHOST_PAUSE_S = 0.25


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
        """One keystroke's words; at a pause, the words again and then the ghost, as the tab asks."""
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
        """One call, its latency or its failure into the tally (a refusal as busy counted apart)."""
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
