"""Where the arena's votes live: the database URL, the engine, the tables and their schema version.

SQLite is the embedded default: one file under the data folder, in WAL mode with full
syncs, so a vote acknowledged is on disk even if the process is killed the next instant.
A postgresql:// URL puts the same tables on PostgreSQL (psycopg 3), for several replicas
of the app sharing one store.

The schema is versioned in the arena_meta table. A new database is created at the latest
version; an older one is brought up step by step (STEPS: the step to each version), each
step and its version bump in one transaction; a database written by a newer app is
refused, not guessed at.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

# The choices a vote can be: A better, B better, a tie, or both bad.
CHOICES = ("a", "b", "tie", "both_bad")
SQLITE_FILE = "arena.sqlite3"
# Why 30 s: a writer waits this long for another's commit (replicas, the vote and record
# paths) before SQLite says "database is locked"; a commit takes milliseconds.
SQLITE_BUSY_S = 30
LATEST = 1

metadata = MetaData()

# Key-value facts about the store: its schema version and the salt sessions are hashed with.
meta = Table(
    "arena_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# A pair written and offered for a vote: what was asked, who wrote each side, what they wrote.
# Times are seconds since the epoch (UTC); settings are the JSON of each side's SamplingSettings.
pairs = Table(
    "arena_pairs",
    metadata,
    Column("id", String(64), primary_key=True),  # secrets.token_urlsafe: unguessable
    Column("issued_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("session", String(64), nullable=False),  # the salted hash of the caller's key
    Column("origin", String(8), nullable=False),  # "drawn" by the server or "typed" by the person
    Column("task", String(16), nullable=False),
    Column("rating", Integer, nullable=False),
    Column("category", Text, nullable=False),
    Column("headline", Text, nullable=False),
    Column("prompt", Text, nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("max_new_tokens", Integer, nullable=False),
    Column("model_a", Text, nullable=False),
    Column("preset_a", Text, nullable=False),
    Column("settings_a", Text, nullable=False),
    Column("text_a", Text, nullable=False),
    Column("model_b", Text, nullable=False),
    Column("preset_b", Text, nullable=False),
    Column("settings_b", Text, nullable=False),
    Column("text_b", Text, nullable=False),
    Index("arena_pairs_expiry", "expires_at"),
)

# One vote per pair: the primary key is the pair's id, so a second insert fails in the database.
votes = Table(
    "arena_votes",
    metadata,
    Column("pair_id", String(64), ForeignKey("arena_pairs.id"), primary_key=True),
    Column("choice", String(16), CheckConstraint(f"choice IN ({', '.join(repr(c) for c in CHOICES)})"), nullable=False),
    Column("voted_at", Float, nullable=False),
    Column("session", String(64), nullable=False),
    Index("arena_votes_by_session", "session", "voted_at"),  # the rate limit's count
)

# The step to each version after the first, run in order on a database that has an older one.
Step = Callable[[Connection], None]
STEPS: Mapping[int, Step] = {}


class SchemaError(RuntimeError):
    """The database holds a schema this app cannot use."""


def database_url(data_dir: Path | str | None, url: str | None = None) -> str:
    """The store's URL: the one given (postgresql://...), else the SQLite file in the data folder."""
    if url:
        return url
    if data_dir is None:
        raise ValueError("the arena needs a data folder or a database URL")
    folder = Path(data_dir).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder.resolve() / SQLITE_FILE}"


def default_data_dir() -> Path:
    """Where votes are kept when no folder is named: $XDG_DATA_HOME/autowrite, else ~/.local/share/autowrite."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "autowrite"


def engine_for(url: str) -> Engine:
    """An engine for the URL; SQLite in WAL mode with full syncs, PostgreSQL through psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    if parsed.database in (None, "", ":memory:"):  # one shared connection, or each thread sees its own empty database
        engine = create_engine(parsed, connect_args={"check_same_thread": False}, poolclass=StaticPool)
    else:
        engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_S})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    # WAL: readers (the leaderboard) never wait for a writer. FULL: each commit is synced to
    # disk before it returns, so an acknowledged vote survives a kill or a power cut.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def migrate(engine: Engine, steps: Mapping[int, Step] = STEPS) -> int:
    """Create the tables, or bring an older schema up to date; the version the database is at."""
    latest = max([LATEST, *steps])
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":  # replicas starting together migrate one at a time
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('autowrite arena schema'))"))
        version = schema_version(connection)
        if version is None:
            metadata.create_all(connection)
            facts = {"schema_version": str(latest), "session_salt": secrets.token_hex(16)}
            connection.execute(meta.insert(), [{"key": k, "value": v} for k, v in facts.items()])
            return latest
        if version > latest:
            raise SchemaError(
                f"the votes database is at schema version {version}, written by a newer Autowrite; "
                f"this one reads up to version {latest}"
            )
        for number in range(version + 1, latest + 1):
            steps[number](connection)
        connection.execute(meta.update().where(meta.c.key == "schema_version").values(value=str(latest)))
    return latest


def schema_version(connection: Connection) -> int | None:
    """The database's schema version; None for a database with no arena tables yet."""
    if not inspect(connection).has_table(meta.name):
        return None
    value = connection.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar_one_or_none()
    if value is None or not value.isdigit():
        raise SchemaError(f"the votes database's {meta.name} table has no valid schema_version ({value!r})")
    return int(value)
