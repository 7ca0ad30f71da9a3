"""The arena's store on SQLite and on a real PostgreSQL: pairs kept, one vote each, every refusal by its reason."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import inspect, text

from autowrite.arena import schema
from autowrite.arena.contenders import Contender
from autowrite.arena.votes import PairRecord, Refused, Store
from tests.postgres import throwaway_server

NOW = 1_700_000_000.0
TTL = 1800.0


@pytest.fixture(scope="module")
def postgres_url():
    with throwaway_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """A migrated store: a SQLite file in tmp_path, or a fresh database on the throwaway server."""
    if request.param == "sqlite":
        url = schema.database_url(tmp_path)
    else:
        server = request.getfixturevalue("postgres_url")
        name = f"t{abs(hash(request.node.name)) % 10**9}"
        admin = schema.engine_for(server)
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            connection.execute(text(f"CREATE DATABASE {name}"))
        admin.dispose()
        url = server.rsplit("/", 1)[0] + f"/{name}"
    opened = Store(url)
    assert opened.migrate() == schema.LATEST
    yield opened
    opened.close()


def record(pair_id: str, session: str, issued: float = NOW, a=("m1", "Greedy"), b=("m2", "Creative")) -> PairRecord:
    """A written pair as the arena keeps it."""
    return PairRecord(
        pair_id, issued, issued + TTL, session, "drawn", "review", 4, "Books", "", "I bought this for", 7, 40,
        a[0], a[1], '{"seed": 7}', "text a", b[0], b[1], '{"seed": 7}', "text b",
    )  # fmt: skip


def refusal(call) -> str:
    with pytest.raises(Refused) as caught:
        call()
    return caught.value.reason


def test_a_vote_is_kept_once_with_its_pair(store):
    me = store.session_key("me")
    store.record_pair(record("p1", me))
    kept = store.cast("p1", "a", me, NOW + 5, per_minute=30)
    assert (kept.a, kept.b, kept.text_a) == (Contender("m1", "Greedy"), Contender("m2", "Creative"), "text a")
    assert store.voted("p1") == "a" and store.vote_count() == 1
    assert store.battles()[0].choice == "a"
    assert store.counts() == {Contender("m1", "Greedy"): 1, Contender("m2", "Creative"): 1}
    assert me != "me" and len(me) == 32  # the session is kept as a salted hash only


def test_each_refusal_names_its_reason(store):
    me, other = store.session_key("me"), store.session_key("someone else")
    store.record_pair(record("p1", me))
    store.record_pair(record("p2", me))
    assert refusal(lambda: store.cast("forged-id", "a", me, NOW, 30)) == "unknown_pair"
    assert refusal(lambda: store.cast("p1", "a", other, NOW, 30)) == "other_session"
    assert refusal(lambda: store.cast("p1", "a", me, NOW + TTL + 1, 30)) == "expired"
    assert refusal(lambda: store.cast("p1", "maybe", me, NOW, 30)) == "choice"
    store.cast("p1", "tie", me, NOW, 30)
    assert refusal(lambda: store.cast("p1", "b", me, NOW, 30)) == "already_voted"
    assert store.voted("p1") == "tie" and store.vote_count() == 1


def test_the_rate_limit_counts_the_last_minute(store):
    me = store.session_key("me")
    for index in range(4):
        store.record_pair(record(f"p{index}", me))
    store.cast("p0", "a", me, NOW, per_minute=2)
    store.cast("p1", "b", me, NOW + 10, per_minute=2)
    with pytest.raises(Refused, match="at most 2 votes a minute per session; try again in 50 s") as caught:
        store.cast("p2", "a", me, NOW + 10, per_minute=2)
    assert caught.value.reason == "rate_limit"
    store.cast("p2", "a", me, NOW + 61, per_minute=2)  # the first vote has left the window
    assert store.vote_count() == 3


def test_two_votes_racing_for_one_pair_count_once(store):
    me = store.session_key("me")
    store.record_pair(record("p1", me))
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def vote(choice: str) -> None:
        start.wait()
        try:
            store.cast("p1", choice, me, NOW, 30)
            outcomes.append("counted")
        except Refused as refused:
            outcomes.append(refused.reason)

    threads = [threading.Thread(target=vote, args=("ab"[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["already_voted"] * 7 + ["counted"]
    assert store.vote_count() == 1


def test_expired_pairs_without_a_vote_are_forgotten(store):
    me = store.session_key("me")
    store.record_pair(record("voted", me))
    store.cast("voted", "a", me, NOW, 30)
    store.record_pair(record("left", me))
    store.record_pair(record("later", me, issued=NOW + TTL + 1000))  # a sweep runs as this one is kept
    assert store.pair("left") is None
    assert store.pair("voted") is not None and store.pair("later") is not None


def test_a_newer_schema_is_refused_and_an_older_one_is_brought_up(store):
    add_weight = {2: lambda c: c.execute(text("ALTER TABLE arena_votes ADD COLUMN weight INTEGER DEFAULT 1"))}
    me = store.session_key("me")
    store.record_pair(record("p1", me))
    store.cast("p1", "a", me, NOW, 30)
    assert schema.migrate(store.engine, add_weight) == 2
    columns = {c["name"] for c in inspect(store.engine).get_columns("arena_votes")}
    assert "weight" in columns and store.vote_count() == 1  # the step ran and the votes stayed
    with pytest.raises(schema.SchemaError, match="schema version 2, written by a newer Autowrite"):
        schema.migrate(store.engine)


def test_sqlite_keeps_its_journal_ahead_of_the_file(tmp_path):
    store = Store(schema.database_url(tmp_path / "data"))
    store.migrate()
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL: synced at each commit
    assert (tmp_path / "data" / schema.SQLITE_FILE).is_file()
    store.close()
