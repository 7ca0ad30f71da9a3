"""A fresh app on loopback for the benchmarks that call it over HTTP, and the models it serves offline."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from autowrite.catalog import load_catalog

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(port: int, cwd: Path = ROOT) -> subprocess.Popen:
    """python app.py (of the checkout at cwd) on loopback, offline; returns once it publishes its API."""
    app = subprocess.Popen(
        [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)],
        cwd=cwd,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    start = time.monotonic()
    while time.monotonic() - start < 180:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/gradio_api/info", timeout=10):
                return app
        except OSError:
            if app.poll() is not None:
                raise RuntimeError("the app exited before answering") from None
            time.sleep(0.2)
    app.kill()
    raise RuntimeError("the app did not answer within 180 s")


def offline_models() -> list[str]:
    """Catalog models that load with no network (embedded and local), default first."""
    return [e.name for e in load_catalog() if e.source in ("embedded", "local")][:2]
