"""Faults: broken checkpoints, memory bounds under model switches, clients that leave mid-stream."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import urllib.request

import pytest

from autowrite.catalog import Entry
from autowrite.formats import Task
from autowrite.loading import ModelCache, load_entry
from autowrite.service import Request, Service, UserError
from autowrite.settings import SamplingSettings


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("damage", ["truncate", "garbage", "config"])
def test_broken_checkpoint_is_a_clear_error_and_others_keep_working(tmp_path, tiny_gpt2_dir, damage):
    broken = _copy(tiny_gpt2_dir, tmp_path / "broken")
    weights = broken / "model.safetensors"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "garbage":
        weights.write_bytes(b"\x00" * 4096)
    else:
        (broken / "config.json").write_text("{not json")
    service = Service(
        [
            Entry(name="good", source="local", path=str(tiny_gpt2_dir), task=Task.FREE),
            Entry(name="broken", source="local", path=str(broken), task=Task.FREE),
        ]
    )
    with pytest.raises(UserError, match="cannot load the model in"):
        service.load("broken")
    assert service.generate(Request(model="good", text="Still"), SamplingSettings(max_new_tokens=4)).texts[0]
    assert "broken" not in service.cache


def test_model_cache_stays_within_count_and_bytes(tmp_path, tiny_gpt2_dir, tiny_gptneo_dir):
    entries = [
        Entry(name=f"m{i}", source="local", path=str(folder), task=Task.FREE)
        for i, folder in enumerate([tiny_gpt2_dir, tiny_gptneo_dir, _copy(tiny_gpt2_dir, tmp_path / "third")])
    ]
    cache = ModelCache(load_entry, max_models=2, max_bytes=10**9)
    for entry in entries + entries:
        cache.get(entry)
        assert len(cache.names) <= 2
    assert cache.names == ["m1", "m2"]
    one = cache.get(entries[0]).backend.nbytes
    tight = ModelCache(load_entry, max_models=5, max_bytes=int(one * 1.5))
    for entry in entries:
        tight.get(entry)
        assert tight.nbytes <= one * 1.5 or len(tight.names) == 1


def test_switching_models_while_generating_is_safe(tiny_gpt2_dir, tiny_gptneo_dir, tmp_path):
    entries = [
        Entry(name="a", source="local", path=str(tiny_gpt2_dir), task=Task.FREE),
        Entry(name="b", source="local", path=str(tiny_gptneo_dir), task=Task.FREE),
        Entry(name="c", source="local", path=str(_copy(tiny_gpt2_dir, tmp_path / "c")), task=Task.FREE),
    ]
    service = Service(entries, cache=ModelCache(load_entry, max_models=1))
    settings = SamplingSettings(max_new_tokens=120, do_sample=False, repetition_penalty=1.0)
    expected = service.generate(Request(model="a", text="Hello"), settings).texts[0]
    results = {}

    def generate():
        results["a"] = service.generate(Request(model="a", text="Hello"), settings).texts[0]

    worker = threading.Thread(target=generate)
    worker.start()
    for name in ["b", "c", "b", "c"]:  # each load evicts the model the worker is using
        service.generate(Request(model=name, text="Hi"), SamplingSettings(max_new_tokens=3))
    worker.join(timeout=120)
    assert results["a"] == expected
    assert len(service.cache.names) == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Watched:
    """A service's streams and its model's forward passes, seen from the test (wrappers, not counters in the app).

    ended: how each stream ended, "finished" or "closed" (its consumer stopped reading);
    passes: each logits_many call's sequences, and whether a stream had been closed by then.
    A stream waits after its pause_after-th output until resume is set, so the test decides
    what happens while it waits.
    """

    def __init__(self, service: Service, monkeypatch, pause_after: int) -> None:
        from autowrite.backends.transformers import TransformersBackend

        self.ended: list[str] = []
        self.closed, self.resume = threading.Event(), threading.Event()
        self.passes: list[tuple[bool, list[list[int]]]] = []
        stream, logits_many = service.stream, TransformersBackend.logits_many

        def watched_stream(*args, **kwargs):
            how = "closed"
            try:
                for count, output in enumerate(stream(*args, **kwargs), 1):
                    yield output
                    if count == pause_after:
                        self.resume.wait(timeout=60)  # a safety net: the test sets it at once
                how = "finished"
            finally:
                self.ended.append(how)
                self.closed.set()

        def watched_logits(backend, sequences):
            self.passes.append((self.closed.is_set(), [list(s) for s in sequences]))
            return logits_many(backend, sequences)

        monkeypatch.setattr(service, "stream", watched_stream)
        monkeypatch.setattr(TransformersBackend, "logits_many", watched_logits)

    def passes_of(self, prefix: list[int], after_close: bool) -> int:
        """The forward passes of texts that start with prefix, before or after a stream was closed."""
        return sum(
            1
            for closed, sequences in self.passes
            if closed == after_close and any(s[: len(prefix)] == prefix for s in sequences)
        )


def _call(url: str, data: list) -> str:
    """A generate call by name: its event id."""
    request = urllib.request.Request(url, json.dumps({"data": data}).encode(), {"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request, timeout=30).read())["event_id"]


def test_client_that_disconnects_mid_stream_stops_the_generation(tiny_gpt2_dir, tiny_gptneo_dir, monkeypatch):
    from autowrite.ui.app import build_demo, launch_options
    from tests.conftest import make_tiny_service

    service = make_tiny_service(tiny_gpt2_dir, tiny_gptneo_dir)
    backend = service.load("tiny-gpt2").backend
    prefix = backend.encode(service.prompt(service.entry("tiny-gpt2"), Request(model="tiny-gpt2", text="The battery")))
    # The stream waits after its third text until the client has left, so the rest of it
    # (about 95 tokens) can only be written after; the server must close it instead.
    watched = Watched(service, monkeypatch, pause_after=3)
    demo = build_demo(service)
    demo.queue(max_size=8)
    port = _free_port()
    # As app.py launches it: the boundary lets a call leave its last values out (here min_p...).
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_options(demo))
    try:
        url = f"http://127.0.0.1:{port}/gradio_api/call/generate"
        # 100 tokens: within the tiny model's 128 positions, prompt included.
        event_id = _call(url, ["The battery", "tiny-gpt2", 1.0, 0, 1.0, 1.0, 100, True, 1, "", 5, "Electronics", ""])
        stream = urllib.request.urlopen(f"{url}/{event_id}", timeout=30)
        events = []
        for raw in stream:
            if raw.startswith(b"event:"):
                events.append(raw[len(b"event:") :].strip().decode())
            if len(events) == 3:
                break
        stream.close()  # the person closed the tab
        watched.resume.set()
        assert events == ["generating"] * 3, events  # texts were streaming, not an error: else this proves nothing
        assert watched.closed.wait(timeout=60)  # a safety net: the stream ends, closed or finished
        assert watched.ended == ["closed"], "the generation went on to its end after the client left"
        assert watched.passes_of(prefix, after_close=False) > 0  # the text's passes are seen
        # The slot is free: a new request completes, and the closed text took no pass beside it.
        event_id = _call(url, ["Next", "tiny-gpt2", None, None, None, None, 4, False, 1, "", 5, "Electronics", ""])
        body = urllib.request.urlopen(f"{url}/{event_id}", timeout=30).read().decode()
        assert "event: complete" in body
        assert watched.passes_of(prefix, after_close=True) == 0
    finally:
        demo.close()


def test_two_threads_preparing_the_same_cache_entry_both_get_it(tmp_path, monkeypatch):
    """Two first requests at once (--no-preload) both convert; one copy lands, neither fails."""
    from autowrite.loading import embedded_tokenizer

    monkeypatch.setenv("AUTOWRITE_CACHE", str(tmp_path))
    start = threading.Barrier(2)
    results, errors = [], []

    def prepare():
        start.wait()
        try:
            results.append(embedded_tokenizer().encode("Great sound"))
        except Exception as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=prepare) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and len(results) == 2 and results[0] == results[1]
    entries = [p.name for p in (tmp_path / "embedded").iterdir()]
    assert len(entries) == 1 and "partial" not in entries[0]
