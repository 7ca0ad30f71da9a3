"""The Hub drops the connection in the middle of a weights download: resume, or a clear error, never a half file.

A fake Hub on loopback serves the tiny GPT-2 the way huggingface_hub asks for it: the repo and
tree API, then a HEAD and a GET per file. It can cut the weights download off half-way, refuse
the weights afterwards, or answer everything with 503, as the Hub does during an outage.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from huggingface_hub import constants

from autowrite import hub
from autowrite.backends.transformers import TransformersBackend
from autowrite.catalog import Entry
from autowrite.formats import Task
from autowrite.loading import LoadError, hub_folder, load_entry, load_pretrained

REPO = "someone/tiny-reviews"
COMMIT = "89abcdef0123456789abcdef0123456789abcdef"
WEIGHTS = "model.safetensors"
# huggingface_hub writes a download in chunks of 10 MB and resumes from the last whole chunk. A
# real checkpoint is many chunks; the tiny one (about 200 kB) is less than one, so the chunk is
# scaled down with it and the cut falls on a chunk boundary.
CHUNK = 4096


def _etag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FakeHub(ThreadingHTTPServer):
    """A Hub with one model repo at one commit, with switches for the faults."""

    def __init__(self, folder: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files = {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}
        self.half = len(self.files[WEIGHTS]) // 2 // CHUNK * CHUNK
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self.cut_next = False  # send the next weights GET's headers and half its bytes, then hang up
        self.weights_down = False  # answer weights GETs with 503
        self.down = False  # answer everything with 503: the Hub cannot be reached

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def weights_gets(self) -> list[str | None]:
        """The Range header of each GET of the weights so far (None: from the first byte)."""
        return [rng for method, path, rng in self.requests if method == "GET" and path.endswith(WEIGHTS)]


class _Handler(BaseHTTPRequestHandler):
    server: FakeHub

    def log_message(self, format, *args):
        pass  # the server's request list is the log; stderr stays quiet

    def do_HEAD(self):
        self._answer(head=True)

    def do_GET(self):
        self._answer(head=False)

    def _answer(self, head: bool) -> None:
        hub = self.server
        path = self.path.split("?")[0]
        hub.requests.append((self.command, path, self.headers.get("Range")))
        if hub.down:
            return self._send(503, b"Service Unavailable")
        if re.fullmatch(rf"/api/models/{REPO}/tree/{COMMIT}", path):  # snapshot_download's file list
            tree = [{"type": "file", "path": n, "size": len(d), "oid": _etag(d)} for n, d in hub.files.items()]
            return self._send(200, json.dumps(tree).encode())
        if re.fullmatch(rf"/api/models/{REPO}(/revision/main)?", path):  # model_info, repo_info
            siblings = [{"rfilename": n, "size": len(d)} for n, d in hub.files.items()]
            return self._send(200, json.dumps({"id": REPO, "sha": COMMIT, "siblings": siblings}).encode())
        resolve = re.fullmatch(rf"/{REPO}/resolve/{COMMIT}/(.+)", path)
        if not resolve or resolve[1] not in hub.files:
            return self._send(404, b"Entry not found")  # also huggingface_hub's telemetry look-ups
        name, data = resolve[1], hub.files[resolve[1]]
        # What get_hf_file_metadata needs from the HEAD: the commit, the ETag (the blob's name in
        # the cache) and the size.
        headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{_etag(data)}"', "Accept-Ranges": "bytes"}
        if head:
            return self._send(200, b"", headers, length=len(data))
        if name == WEIGHTS and hub.cut_next:
            hub.cut_next = False
            # The full Content-Length announced, half the bytes sent: the body ends early.
            return self._send(200, data[: hub.half], headers, length=len(data))
        if name == WEIGHTS and hub.weights_down:
            return self._send(503, b"Service Unavailable")
        start = int(re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", "bytes=0-"))[1])
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        self._send(206 if start else 200, data[start:], headers)

    def _send(self, status: int, body: bytes, headers: dict | None = None, length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def fake_hub(tiny_gpt2_dir, tmp_path, monkeypatch):
    """The fake Hub running, and huggingface_hub pointed at it with an empty cache."""
    hub = FakeHub(tiny_gpt2_dir)
    thread = threading.Thread(target=hub.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", CHUNK)
    yield hub
    hub.shutdown()
    hub.server_close()
    thread.join()


def test_a_dropped_connection_resumes_where_it_stopped(fake_hub):
    fake_hub.cut_next = True
    folder = hub_folder(REPO)
    assert (folder / WEIGHTS).read_bytes() == fake_hub.files[WEIGHTS]
    # huggingface_hub retries at once (after a fixed 1 s pause that no setting shortens), asking
    # only for the bytes it lacks; the fake Hub answers 206 with the rest.
    assert fake_hub.weights_gets() == [None, f"bytes={fake_hub.half}-"]


def test_a_hub_that_stays_down_is_a_clear_error_and_the_next_download_is_whole(fake_hub, tiny_gpt2_dir):
    fake_hub.cut_next = fake_hub.weights_down = True
    with pytest.raises(LoadError, match=f"downloading {REPO} failed: .*503"):
        hub_folder(REPO)
    assert fake_hub.weights_gets() == [None, f"bytes={fake_hub.half}-"]  # one try to resume, refused
    cached = Path(constants.HF_HUB_CACHE) / f"models--{REPO.replace('/', '--')}"
    assert (cached / "snapshots" / COMMIT / "config.json").exists()
    assert not (cached / "snapshots" / COMMIT / WEIGHTS).exists()
    # A blob is named by its content's sha256, so a half-written one would not match its name.
    # A partial download may lie beside them, named *.incomplete, which nothing loads.
    blobs = [blob for blob in (cached / "blobs").iterdir() if not blob.name.endswith(".incomplete")]
    assert blobs and all(blob.name == _etag(blob.read_bytes()) for blob in blobs)
    assert _etag(fake_hub.files[WEIGHTS]) not in {blob.name for blob in blobs}

    # The Hub now unreachable: loading falls back to the cache, which knows its snapshot lacks the weights.
    fake_hub.down = True
    entry = Entry(name="tiny", source="hub", repo=REPO, task=Task.FREE)
    with pytest.raises(LoadError, match=f"{REPO} is not in the local Hugging Face cache, or only in part, and the Hub"):
        load_entry(entry)

    fake_hub.down = fake_hub.weights_down = False
    fake_hub.requests.clear()
    folder = hub_folder(REPO)
    assert (folder / WEIGHTS).read_bytes() == fake_hub.files[WEIGHTS]
    # Not a resume: huggingface_hub 2.4.0 writes each download to a temporary file of its own and
    # deletes it when the download fails, so the download after an outage starts from byte 0.
    assert fake_hub.weights_gets() == [None]

    loaded = load_entry(entry)
    original = TransformersBackend(*load_pretrained(tiny_gpt2_dir))
    ids = loaded.backend.encode("This speaker sounds great")
    assert ids and ids == original.encode("This speaker sounds great")
    assert torch.equal(loaded.backend.next_logits(ids), original.next_logits(ids))


def test_the_download_bound_counts_every_file_the_download_fetches(fake_hub):
    # Beside the tiny model: a card, a tokenizer file only "tokenizer*" names, and files a
    # download must skip (an export, .bin weights beside the safetensors).
    extras = {"README.md": 3_000, "tokenizer.model.v3": 50_000, "onnx/model.onnx": 70_000, "pytorch_model.bin": 90_000}
    fake_hub.files |= {name: bytes(size) for name, size in extras.items()}
    size = hub.download_size(REPO)
    folder = hub_folder(REPO)
    fetched = {path.relative_to(folder).as_posix(): path.stat().st_size for path in folder.rglob("*") if path.is_file()}
    skipped = {"onnx/model.onnx", "pytorch_model.bin"}
    assert set(fetched) == set(fake_hub.files) - skipped
    assert size == sum(fetched.values())
