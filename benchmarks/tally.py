"""What the load test counts while its people call the app: latencies, errors, and load shed by name."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class Tally:
    """Latencies and errors per endpoint, shared by all users."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    # Generations the app refused by name as busy (autowrite.scheduling.BUSY): load shed by
    # design past capacity, counted and shown apart from errors.
    busy: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    coalesced: int = 0
    # One abusive caller's maximal reports (benchmarks.fairness.flood): done, refused by name, cut at the end.
    flood: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, name: str, seconds: float) -> None:
        """One served call's latency, in milliseconds under its endpoint's name."""
        with self.lock:
            self.latencies[name].append(seconds * 1000)

    def error(self, message: str) -> None:
        """One failed call, its message cut to a line."""
        with self.lock:
            self.errors.append(message[:300])
