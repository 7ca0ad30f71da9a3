"""The arena: issues blind pairs, takes one vote for each, and keeps the leaderboard.

A pair is two contenders drawn by the server (autowrite.arena.contenders) writing one
prompt with one seed, side by side through the compare path, so two contenders on one
model decode in one batch. Which contender is A is random, and nothing the pair sends
before its vote names them. A written pair gets an unguessable id and is kept
(autowrite.arena.votes); a vote counts only for such a pair, from the session it was
issued to, within PAIR_TTL_S, once, and within the session's rate. Every refusal is an
ArenaRefused that names its reason, and the app goes on serving.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from autowrite import hub
from autowrite.arena import leaderboard, prompts
from autowrite.arena.contenders import Contender, Restriction, draw_two, pool
from autowrite.arena.leaderboard import Board
from autowrite.arena.prompts import Prompt
from autowrite.arena.votes import PairRecord, Refused, Store, settings_json
from autowrite.catalog import Entry
from autowrite.service import Output, Request, Service, UserError, Variant
from autowrite.settings import PRESET_NAMES, SamplingSettings

logger = logging.getLogger(__name__)

# Why 30 minutes: time to read two samples, wander off and come back; a pair id found
# later is worth nothing.
PAIR_TTL_S = 30 * 60
# Why 30 a minute: reading two samples takes a person several seconds; a session voting
# faster than one every two seconds is not reading.
VOTES_PER_MINUTE = 30
ARENA_TOKENS = 60  # as the compare tab: enough to judge a review's voice, quick to write
MIN_TOKENS, MAX_TOKENS = 16, 120  # the lengths a client may ask for: every pair stays quick to read and write
# A leaderboard that took longer than this to fit is refitted at most once per BOARD_SHARE of
# its own fitting time: under a stream of votes a large board then takes at most a quarter of a core.
CHEAP_FIT_S = 0.1
BOARD_SHARE = 4
COUNTS_S = 5.0  # how long the draw's vote counts are reused; a few votes' lag moves no weight much


class ArenaRefused(Refused, UserError):
    """A pair or vote the arena refuses, as the person asking is told: reason is a short code, the message says why."""


@dataclass(frozen=True)
class Asked:
    """What a person asks for: the arena's restriction, a typed prompt (None: draw one), the length."""

    restriction: Restriction = Restriction()
    prompt: Prompt | None = None
    max_new_tokens: int = ARENA_TOKENS


@dataclass(frozen=True)
class Drawn:
    """A pair before its vote: its id, its contenders (kept from the page until then), prompt, seed, length."""

    id: str
    a: Contender
    b: Contender
    prompt: Prompt
    seed: int
    max_new_tokens: int


@dataclass(frozen=True)
class Written:
    """The pair's two texts so far, A then B; done once they are finished and the pair takes its vote."""

    texts: list[str]
    done: bool = False


@dataclass
class _Fitted:
    board: Board
    votes: int
    at: float
    took: float

    def current(self, votes: int, now: float) -> bool:
        """Still to be shown: no vote since, or a costly fit made too recently to refit."""
        return self.votes == votes or (self.took > CHEAP_FIT_S and now - self.at < BOARD_SHARE * self.took)


@dataclass
class _Cache:
    boards: dict[Restriction, _Fitted] = field(default_factory=dict)
    counts: Counter[Contender] = field(default_factory=Counter)
    counted_at: float = -float("inf")


class Arena:
    """Pairs, votes and the leaderboard over a service's catalog models and a store."""

    def __init__(
        self,
        service: Service,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        votes_per_minute: int = VOTES_PER_MINUTE,
        pair_ttl_s: float = PAIR_TTL_S,
    ) -> None:
        self.service = service
        self.store = store
        # The catalog's models as the app started: a model typed into the page later never competes.
        self.models = list(service.names)
        self.clock = clock
        self.rng = rng or random.SystemRandom()  # sides and draws a client cannot predict
        self.votes_per_minute = votes_per_minute
        self.pair_ttl_s = pair_ttl_s
        self._writing: set[str] = set()
        self._cache = _Cache()
        self._fitting = threading.Lock()

    # --- who competes -------------------------------------------------------------------

    def checked(self, restriction: Restriction) -> Restriction:
        """The restriction, if it names only a model and a preset the arena offers; else ArenaRefused."""
        if restriction.model and restriction.model not in self.models:
            raise ArenaRefused(
                "not_offered", f"The arena has no model {restriction.model!r}; it offers {', '.join(self.models)}."
            )
        if restriction.preset and restriction.preset not in PRESET_NAMES:
            raise ArenaRefused(
                "not_offered", f"The arena has no preset {restriction.preset!r}; it offers {', '.join(PRESET_NAMES)}."
            )
        return restriction

    def entries(self, restriction: Restriction = Restriction()) -> dict[str, Entry]:
        """The models that compete now: offered, their weights here, and held without pushing another out.

        A Hub model competes once it is in the local cache. While the model cache is full, only
        the models it holds compete (a restriction's own model always does): a pair never drops
        a model that someone's generation may be using, and pairs do not reload models in turn.
        """
        raw = self.service.entries
        here = [n for n in self.models if raw[n].source != "hub" or hub.is_cached(raw[n].repo, raw[n].revision)]
        held, room = set(self.service.cache.names), self.service.cache.max_models - len(self.service.cache.names)
        if room <= 0:
            here = [n for n in here if n in held or n == restriction.model]
        return {name: self.service.entry(name) for name in here}

    def contenders(self, restriction: Restriction = Restriction()) -> list[Contender]:
        """Everyone who competes under the restriction now."""
        return pool(list(self.entries(restriction).values()), self.checked(restriction))

    # --- pairs --------------------------------------------------------------------------

    def draw(self, asked: Asked) -> Drawn:
        """Two contenders, the prompt, the seed and a fresh id; ArenaRefused if no two can write it."""
        entries = self.entries(asked.restriction)
        contenders = pool(list(entries.values()), self.checked(asked.restriction))
        where = asked.restriction.describe()
        if len(contenders) < 2:
            raise ArenaRefused(
                "too_few", f"The arena of {where} has {len(contenders)} contender(s) here; it needs two. "
                "Open the model or the preset."
            )  # fmt: skip
        task = asked.prompt.task if asked.prompt else None
        chosen = draw_two(self.rng, contenders, entries, self._counts(), task)
        if chosen is None:
            what = f"{task.value} prompts" if task else "one prompt"
            raise ArenaRefused("no_pair", f"No two contenders in the arena of {where} write {what}.")
        a, b, task = chosen
        prompt = asked.prompt or prompts.drawn(self.rng, task, [entries[a.model], entries[b.model]])
        seed = self.rng.randrange(2**31)
        return Drawn(secrets.token_urlsafe(24), a, b, prompt, seed, asked.max_new_tokens)

    def pair(self, asked: Asked, caller: str, stop: threading.Event | None = None) -> tuple[Drawn, Iterator[Written]]:
        """A new pair: what was drawn, and its texts as they are written; the last Written is done."""
        drawn = self.draw(asked)
        p = drawn.prompt
        request = Request(drawn.a.model, p.task, p.text, p.rating, p.category, p.headline, caller=caller)
        settings = [self._settings(c, drawn) for c in (drawn.a, drawn.b)]
        columns = [Variant(c.model, s) for c, s in zip((drawn.a, drawn.b), settings, strict=True)]
        outputs = self.service.side_by_side(request, columns, stop)
        return drawn, self._written(drawn, settings, caller, outputs)

    def _settings(self, contender: Contender, drawn: Drawn) -> SamplingSettings:
        return contender.settings(self.service.entry(contender.model).defaults, drawn.seed, drawn.max_new_tokens)

    def _written(
        self, drawn: Drawn, settings: list[SamplingSettings], caller: str, outputs: Iterator[Output]
    ) -> Iterator[Written]:
        """The texts as they come; once both are finished (not stopped), the pair is kept and done."""
        self._writing.add(drawn.id)
        try:
            texts = ["", ""]
            with closing(outputs):
                for output in outputs:
                    texts = output.texts
                    yield Written(texts)
            self._keep(self._record(drawn, settings, texts, caller))
            yield Written(texts, done=True)
        finally:
            self._writing.discard(drawn.id)

    def _record(self, drawn: Drawn, settings: list[SamplingSettings], texts: list[str], caller: str) -> PairRecord:
        now, p = self.clock(), drawn.prompt
        return PairRecord(
            drawn.id, now, now + self.pair_ttl_s, self.store.session_key(caller), p.origin, p.task.value, p.rating,
            p.category, p.headline, p.text, drawn.seed, drawn.max_new_tokens,
            drawn.a.model, drawn.a.preset, settings_json(settings[0]), texts[0],
            drawn.b.model, drawn.b.preset, settings_json(settings[1]), texts[1],
        )  # fmt: skip

    def _keep(self, record: PairRecord) -> None:
        try:
            self.store.record_pair(record)
        except SQLAlchemyError as error:
            logger.error("The arena could not keep a pair: %s", error)
            raise ArenaRefused("store", "The votes database cannot be written now; this pair takes no vote.") from None

    # --- votes --------------------------------------------------------------------------

    def vote(self, pair_id: str, choice: str, caller: str) -> PairRecord:
        """Count the caller's vote for a pair it was issued; the pair, with its contenders, to reveal."""
        if pair_id in self._writing:
            raise ArenaRefused("writing", "Vote refused: this pair is still being written; vote once both are done.")
        try:
            return self.store.cast(pair_id, choice, self.store.session_key(caller), self.clock(), self.votes_per_minute)
        except Refused as refusal:
            raise ArenaRefused(refusal.reason, f"Vote refused: {refusal}.") from None
        except SQLAlchemyError as error:
            logger.error("The arena could not store a vote: %s", error)
            raise ArenaRefused("store", "The votes database cannot be written now; the vote was not counted.") from None

    def _counts(self) -> Counter[Contender]:
        """Votes per contender for the draw's weights, reused for COUNTS_S."""
        now = time.monotonic()
        if now - self._cache.counted_at >= COUNTS_S:
            self._cache.counts, self._cache.counted_at = self.store.counts(), now
        return self._cache.counts

    # --- the leaderboard ----------------------------------------------------------------

    def board(self, restriction: Restriction = Restriction()) -> Board:
        """The leaderboard over the votes between contenders the restriction admits.

        It is refitted when votes came in, at once while a fit is cheap; a large one at most
        once per BOARD_SHARE times its fitting time. One fit runs at a time.
        """
        self.checked(restriction)
        with self._fitting:
            votes, now = self.store.vote_count(), time.monotonic()
            fitted = self._cache.boards.get(restriction)
            if fitted and fitted.current(votes, now):
                return fitted.board
            battles = [b for b in self.store.battles() if restriction.admits(b.a) and restriction.admits(b.b)]
            board = leaderboard.standings(battles)
            self._cache.boards[restriction] = _Fitted(board, votes, now, time.monotonic() - now)
            return board
