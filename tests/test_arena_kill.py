"""Killed mid-write: python app.py is SIGKILLed while 8 clients vote; after a restart every vote it
acknowledged is stored exactly once, and the app serves the leaderboard and new votes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select, text

from autowrite.arena.schema import database_url, votes
from autowrite.arena.votes import Store
from benchmarks.load import Api, read_parameters
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = 8
ACKNOWLEDGED_BEFORE_KILL = 24


def catalog(folder: Path, gpt2: Path, gptneo: Path) -> Path:
    """A catalog of the two tiny models, as app.py reads one."""
    models = [
        {"name": "tiny-gpt2", "source": "local", "path": str(gpt2), "task": "free", "examples": ["The battery"]},
        {"name": "tiny-gptneo", "source": "local", "path": str(gptneo), "task": "review", "prompt_format": "autowrite"},
    ]
    path = folder / "catalog.yaml"
    path.write_text(yaml.safe_dump({"models": models}))
    return path


def started(catalog_path: Path, data: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """python app.py on the tiny catalog and the data folder; returns once it publishes its API."""
    port = free_port()
    command = [sys.executable, "app.py", "--catalog", str(catalog_path), "--data-dir", str(data), "--port", str(port),
               "--no-preload"]  # fmt: skip
    with log.open("ab") as out:
        app = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:  # waits for the app to answer, however long its start takes
        try:
            with urllib.request.urlopen(f"{url}/gradio_api/info", timeout=10):
                return app, url
        except OSError:
            if app.poll() is not None:
                raise RuntimeError(f"the app exited: {log.read_text()[-2000:]}") from None
            time.sleep(0.2)
    app.kill()
    raise RuntimeError("the app did not answer within 180 s")


def voter(api: Api, index: int, acknowledged: list[str], changed: threading.Condition, stop: threading.Event) -> None:
    """Pairs and votes until the app is gone; each vote it answered is acknowledged."""
    session = f"kill-test-{index}"
    while not stop.is_set():
        try:
            got = api.call("arena_pair", {"model": "tiny-gpt2", "max_new_tokens": 16}, session=session)
            api.call("arena_vote", {"pair_id": got["pair_id"], "vote": "AB"[index % 2]}, session=session)
        except Exception:  # the app was killed under this call: what it acknowledged is all that counts
            return
        with changed:
            acknowledged.append(got["pair_id"])
            changed.notify_all()


@pytest.mark.slow
def test_every_acknowledged_vote_survives_a_sigkill_exactly_once(tiny_gpt2_dir, tiny_gptneo_dir, tmp_path):
    catalog_path, data, log = catalog(tmp_path, tiny_gpt2_dir, tiny_gptneo_dir), tmp_path / "data", tmp_path / "app.log"
    app, url = started(catalog_path, data, log)
    acknowledged: list[str] = []
    changed, stop = threading.Condition(), threading.Event()
    try:
        api = Api(url, read_parameters(url, ["arena_pair", "arena_vote", "leaderboard"]))
        clients = [threading.Thread(target=voter, args=(api, i, acknowledged, changed, stop)) for i in range(CLIENTS)]
        for client in clients:
            client.start()
        with changed:
            assert changed.wait_for(lambda: len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL, timeout=300), log.read_text()
            os.kill(app.pid, signal.SIGKILL)  # while the other clients' pairs and votes are under way
        app.wait(timeout=30)
    finally:
        stop.set()
        if app.poll() is None:
            app.kill()
    for client in clients:
        client.join(timeout=120)
    kept = list(acknowledged)

    store = Store(database_url(data))
    with store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        counted = dict(connection.execute(select(votes.c.pair_id, func.count()).group_by(votes.c.pair_id)).all())
    assert all(counted.get(pair_id) == 1 for pair_id in kept), [p for p in kept if counted.get(p) != 1]
    assert set(counted) >= set(kept)  # a vote written as the kill landed may be there unacknowledged

    app, url = started(catalog_path, data, log)
    try:
        api = Api(url, read_parameters(url, ["arena_pair", "arena_vote", "leaderboard"]))
        assert api.call("leaderboard", {"model": "tiny-gpt2"})["votes"] == len(counted)
        got = api.call("arena_pair", {"model": "tiny-gpt2", "max_new_tokens": 16}, session="after-restart")
        api.call("arena_vote", {"pair_id": got["pair_id"], "vote": "tie"}, session="after-restart")
        assert store.vote_count() == len(counted) + 1
    finally:
        app.terminate()
        app.wait(timeout=30)
        store.close()
