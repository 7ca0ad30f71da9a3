"""The arena's records: pairs written and the one vote each, kept in a SQL database (autowrite.arena.schema).

A vote is checked and stored in one transaction: its pair exists, was issued to the same
session, has not expired, has no vote yet (the primary key says so even when two votes
race), and the session has not voted too often in the last minute. Anything else is
Refused, with the reason. Sessions are kept only as salted hashes.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, and_, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from autowrite.arena import schema
from autowrite.arena.contenders import Contender
from autowrite.arena.schema import pairs, votes

# Why every 10 minutes: pairs never voted on are of no use once expired; a sweep that often
# keeps the table to about an hour of pairs without a write on every pair.
PRUNE_EVERY_S = 600


class Refused(Exception):
    """A vote the store does not count: reason is a short code, the message says it to a person."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class PairRecord:
    """A pair as it is kept: the prompt asked, the seed and length, each side's contender, settings and text."""

    id: str
    issued_at: float
    expires_at: float
    session: str
    origin: str
    task: str
    rating: int
    category: str
    headline: str
    prompt: str
    seed: int
    max_new_tokens: int
    model_a: str
    preset_a: str
    settings_a: str
    text_a: str
    model_b: str
    preset_b: str
    settings_b: str
    text_b: str

    @property
    def a(self) -> Contender:
        return Contender(self.model_a, self.preset_a)

    @property
    def b(self) -> Contender:
        return Contender(self.model_b, self.preset_b)


@dataclass(frozen=True)
class Battle:
    """Votes as the leaderboard reads them: the two contenders, the choice, and how many votes said so."""

    a: Contender
    b: Contender
    choice: str
    count: int = 1


def settings_json(settings: Any) -> str:
    """A side's settings as stored: its SamplingSettings' fields as JSON."""
    return json.dumps(settings.as_dict(), sort_keys=True)


class Store:
    """Pairs and votes in one database; safe to share between threads (each call takes its own connection)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = schema.engine_for(url)
        self._ready = threading.Lock()
        self._salt: str | None = None
        self._pruned = 0.0

    def describe(self) -> str:
        """The URL as logs may show it: no password."""
        return self.engine.url.render_as_string(hide_password=True)

    def migrate(self) -> int:
        """Create or upgrade the tables now (the app does this at start, so a bad URL fails there)."""
        with self._ready:
            version = schema.migrate(self.engine)
            with self.engine.connect() as connection:
                salt = schema.meta.c.value
                where = schema.meta.c.key == "session_salt"
                self._salt = connection.execute(select(salt).where(where)).scalar_one()
        return version

    def _ensure(self) -> None:
        if self._salt is None:
            self.migrate()

    def session_key(self, caller: str) -> str:
        """The caller's key as the store keeps it: a salted hash, so no address is written down."""
        self._ensure()
        return hashlib.sha256(f"{self._salt}\0{caller}".encode()).hexdigest()[:32]

    def record_pair(self, record: PairRecord) -> None:
        """Keep a written pair, open for its vote until it expires; now and then forget expired pairs no one voted on."""
        self._ensure()
        with self.engine.begin() as connection:
            connection.execute(insert(pairs).values(**asdict(record)))
            if record.issued_at - self._pruned >= PRUNE_EVERY_S:
                self._pruned = record.issued_at
                voted = select(votes.c.pair_id)
                connection.execute(delete(pairs).where(pairs.c.expires_at < record.issued_at, pairs.c.id.not_in(voted)))

    def pair(self, pair_id: str) -> PairRecord | None:
        """The pair with this id, if the store has it."""
        self._ensure()
        with self.engine.connect() as connection:
            row = connection.execute(select(pairs).where(pairs.c.id == pair_id)).mappings().first()
        return PairRecord(**row) if row else None

    def cast(self, pair_id: str, choice: str, session: str, now: float, per_minute: int) -> PairRecord:
        """Store the vote for a pair and return the pair, or Refused with the reason."""
        if choice not in schema.CHOICES:
            raise Refused("choice", f"a vote is one of {', '.join(schema.CHOICES)}, got {choice!r}")
        self._ensure()
        with self.engine.begin() as connection:
            row = connection.execute(select(pairs).where(pairs.c.id == pair_id)).mappings().first()
            record = _open_for(row, session, now)
            if connection.execute(select(votes.c.pair_id).where(votes.c.pair_id == pair_id)).first():
                raise Refused("already_voted", "this pair already has its vote; each pair takes one")
            _within_rate(connection, session, now, per_minute)
            try:
                connection.execute(insert(votes).values(pair_id=pair_id, choice=choice, voted_at=now, session=session))
            except IntegrityError:  # another vote for the pair committed between the check and this insert
                raise Refused("already_voted", "this pair already has its vote; each pair takes one") from None
        return record

    def voted(self, pair_id: str) -> str | None:
        """The choice stored for a pair, if it has a vote."""
        self._ensure()
        with self.engine.connect() as connection:
            return connection.execute(select(votes.c.choice).where(votes.c.pair_id == pair_id)).scalar_one_or_none()

    def battles(self) -> list[Battle]:
        """Every vote, counted by its contenders (A, then B) and choice: at most a few rows per pair of contenders."""
        self._ensure()
        sides = (pairs.c.model_a, pairs.c.preset_a, pairs.c.model_b, pairs.c.preset_b, votes.c.choice)
        query = select(*sides, func.count()).join(votes, votes.c.pair_id == pairs.c.id).group_by(*sides)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [Battle(Contender(ma, pa), Contender(mb, pb), choice, n) for ma, pa, mb, pb, choice, n in rows]

    def vote_count(self) -> int:
        """How many votes the store holds."""
        self._ensure()
        with self.engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(votes)).scalar_one()

    def counts(self) -> Counter[Contender]:
        """Votes per contender: each vote counts once for each of its two sides."""
        self._ensure()
        tally: Counter[Contender] = Counter()
        with self.engine.connect() as connection:
            for model, preset in ((pairs.c.model_a, pairs.c.preset_a), (pairs.c.model_b, pairs.c.preset_b)):
                query = select(model, preset, func.count()).join(votes, votes.c.pair_id == pairs.c.id)
                for m, p, n in connection.execute(query.group_by(model, preset)):
                    tally[Contender(m, p)] += n
        return tally

    def close(self) -> None:
        """Close the pool's connections."""
        self.engine.dispose()


def _open_for(row: Any, session: str, now: float) -> PairRecord:
    """The pair, if a vote from this session may count for it now; else Refused, with the reason."""
    if row is None:
        raise Refused("unknown_pair", "no pair has this id; votes count only for pairs the arena wrote and issued")
    record = PairRecord(**row)
    if record.session != session:
        raise Refused("other_session", "this pair was issued to another session; vote on pairs you were given")
    if now > record.expires_at:
        minutes = round((record.expires_at - record.issued_at) / 60)
        raise Refused("expired", f"this pair expired: pairs take a vote for {minutes} minutes; ask for a new pair")
    return record


def _within_rate(connection: Any, session: str, now: float, per_minute: int) -> None:
    """Refused if the session has cast per_minute votes in the last 60 seconds, saying when it may vote again."""
    recent = and_(votes.c.session == session, votes.c.voted_at > now - 60)
    count, oldest = connection.execute(select(func.count(), func.min(votes.c.voted_at)).where(recent)).one()
    if count >= per_minute:
        wait = max(1, round(oldest + 60 - now))
        raise Refused("rate_limit", f"at most {per_minute} votes a minute per session; try again in {wait} s")
