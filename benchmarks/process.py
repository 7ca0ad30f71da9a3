"""A process's memory and CPU time, read from /proc: what the benchmarks report of the app they start."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


def _status_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb(pid: int) -> float:
    """Resident memory (MB) of a process now."""
    return _status_mb(pid, "VmRSS")


def peak_rss_mb(pid: int) -> float:
    """The most resident memory (MB) a process has held so far."""
    return _status_mb(pid, "VmHWM")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU time (user + system) this process has used so far."""
    times = os.times()
    return times.user + times.system


class MemorySampler:
    """A process's resident memory every few seconds, as [seconds since start, MB] pairs; every_s=0 samples nothing."""

    def __init__(self, pid: int, every_s: float) -> None:
        self.pid, self.every_s = pid, every_s
        self.series: list[list[float]] | None = [] if every_s else None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start = time.monotonic()
        while True:
            self.series.append([round(time.monotonic() - start, 1), round(rss_mb(self.pid), 1)])
            if self._stop.wait(self.every_s):
                return

    def __enter__(self) -> MemorySampler:
        if self.every_s:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
