"""A sweep: one sampling setting stepped over a range, every point written over the same seeds.

A point's figures are the report card's (autowrite.report) over that point's samples, so a
sweep's point and a report column with the same settings read the same. Each figure's band
is its value plus or minus 1.96 jackknife standard errors over the seeds: the figure is
recomputed leaving out one seed at a time, and the spread of those says how much the seeds,
not the setting, decide it. Why the jackknife and not a bootstrap: a bootstrap draws seeds
twice, and a text counted twice lowers distinct-2 by itself, so its bands sat below the line.

A sweep is written as SETTING:LOW:HIGH:POINTS in links and the API (temperature:0.2:1.6:8).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from autowrite.backends.base import Sample
from autowrite.formats import Task
from autowrite.probe import ToneProbe
from autowrite.report import HEADLINE_CHARS, REPETITION_N, Asked, as_asked, ngrams, reads_positive, report_words
from autowrite.settings import BOUNDS, SamplingSettings, SettingsError, shown

MIN_POINTS = 2
# Why 12: a line of 12 points shows a trade-off's shape; more only multiplies the samples.
MAX_POINTS = 12
# Why 128: as many samples as the largest report card (4 columns x 32 seeds), so a sweep
# holds the machine no longer than a report may.
MAX_SAMPLES = 128
SEEDS = 8  # per point, unless a person or a link asks for others
MAX_SEEDS = MAX_SAMPLES // MIN_POINTS
# The seed and the length set what every point shares, and mirostat is a switch between
# samplers: stepping them is not a sampler's trade-off.
NOT_SWEPT = ("seed", "max_new_tokens", "mirostat")
# Settings that act only while another is on: sweeping them with it off would draw flat lines.
NEEDS = {
    "mirostat_tau": "mirostat", "mirostat_eta": "mirostat", "xtc_threshold": "xtc_probability",
    "dry_base": "dry_multiplier", "dry_allowed_length": "dry_multiplier", "dry_penalty_last_n": "dry_multiplier",
}  # fmt: skip
SWEEPABLE: tuple[str, ...] = tuple(name for name in BOUNDS if name not in NOT_SWEPT)
Z_95 = 1.96  # a normal 95% band: the figure plus or minus this many standard errors


class SweepError(SettingsError):
    """A sweep's setting, range or size is not one the app runs."""


@dataclass(frozen=True)
class Sweep:
    """The setting stepped, its first and last value, and how many evenly spaced points."""

    setting: str
    low: float
    high: float
    points: int

    def __post_init__(self) -> None:
        if self.setting not in SWEEPABLE:
            raise SweepError(f"a sweep steps one of {', '.join(SWEEPABLE)}; got {shown(self.setting)}")
        bound = BOUNDS[self.setting]
        for name in ("low", "high"):
            value = getattr(self, name)
            if not bound.low <= value <= bound.high:
                raise SweepError(
                    f"the sweep's {name} end for {self.setting} must be between {bound.low:g} and "
                    f"{bound.high:g}, got {value:g}"
                )
        if not self.low < self.high:
            raise SweepError(f"the sweep's low end must be below its high end, got {self.low:g} and {self.high:g}")
        if not MIN_POINTS <= self.points <= MAX_POINTS:
            raise SweepError(f"a sweep has {MIN_POINTS} to {MAX_POINTS} points, got {self.points}")

    @classmethod
    def parse(cls, text: str) -> Sweep:
        """A sweep from SETTING:LOW:HIGH:POINTS, as links and the API write it."""
        parts = str(text).strip().split(":")
        if len(parts) != 4:
            raise SweepError(f"a sweep is SETTING:LOW:HIGH:POINTS, e.g. temperature:0.2:1.6:8; got {shown(text)}")
        name, low, high, points = (p.strip() for p in parts)
        try:
            low_value, high_value, count = float(low), float(high), float(points)
        except ValueError:
            raise SweepError(f"a sweep's ends and points are numbers, got {shown(text)}") from None
        if count != int(count):
            raise SweepError(f"a sweep's points are a whole number, got {points}")
        return cls(name, low_value, high_value, int(count))

    def text(self) -> str:
        """The sweep as links write it."""
        return f"{self.setting}:{self.low:g}:{self.high:g}:{self.points}"

    def values(self) -> list[float | int]:
        """The points, evenly spaced from low to high; a whole-number setting keeps each whole value once."""
        step = (self.high - self.low) / (self.points - 1)
        raw = [self.low + i * step for i in range(self.points)]
        if BOUNDS[self.setting].kind is int:
            return sorted({round(v) for v in raw})
        return [round(v, 6) for v in raw]

    def settings(self, base: SamplingSettings) -> list[SamplingSettings]:
        """The base settings at each point, sampled: the seeds, and so the bands, mean nothing greedy."""
        switch = NEEDS.get(self.setting)
        if switch and not getattr(base, switch):
            raise SweepError(f"{self.setting} acts only while {switch} is on: turn {switch} on in column 1 first")
        return [base.replace(**{self.setting: value}, do_sample=True) for value in self.values()]

    def check_size(self, seeds: int) -> None:
        """Refuse a sweep of more samples than MAX_SAMPLES."""
        total = len(self.values()) * seeds
        if total > MAX_SAMPLES:
            raise SweepError(
                f"a sweep writes at most {MAX_SAMPLES} samples: {len(self.values())} points x {seeds} seeds "
                f"is {total}; use fewer points or seeds"
            )


@dataclass(frozen=True)
class Seen:
    """What one sample contributes to each figure, so a resample of seeds needs no new reading."""

    pairs: tuple[tuple[str, ...], ...]
    repeated: int
    runs: int
    logprob: float | None
    tokens: int
    ended: bool
    as_asked: bool | None
    within_headline: bool | None


def seen(sample: Sample, asked: Asked, probe: ToneProbe | None) -> Seen:
    """A sample's part of each figure, as autowrite.report counts it."""
    words = report_words(sample.text)
    grams = ngrams(words, REPETITION_N)
    verdict = headline = None
    if asked.task is Task.REVIEW and probe is not None and asked.rating != 3:
        verdict = bool(as_asked(reads_positive(probe, sample.text, asked.category), asked.rating))
    if asked.task is Task.AD:
        headline = len(sample.text.strip()) <= asked.headline_chars
    scored = sample.logprob is not None and sample.tokens > 0
    return Seen(
        tuple(ngrams(words, 2)), len(grams) - len(set(grams)), len(grams),
        sample.logprob if scored else None, sample.tokens if scored else 0, sample.ended, verdict, headline,
    )  # fmt: skip


def _distinct_2(rows: Sequence[Seen]) -> float | None:
    pairs = [pair for row in rows for pair in row.pairs]
    return len(set(pairs)) / len(pairs) if pairs else None


def _repeats(rows: Sequence[Seen]) -> float | None:
    runs = sum(r.runs for r in rows)
    return sum(r.repeated for r in rows) / runs if runs else None


def _fit(rows: Sequence[Seen]) -> float | None:
    tokens = sum(r.tokens for r in rows if r.logprob is not None)
    return sum(r.logprob for r in rows if r.logprob is not None) / tokens if tokens else None


def _share(attribute: str) -> Callable[[Sequence[Seen]], float | None]:
    def share(rows: Sequence[Seen]) -> float | None:
        values = [getattr(r, attribute) for r in rows if getattr(r, attribute) is not None]
        return sum(values) / len(values) if values else None

    return share


@dataclass(frozen=True)
class Figure:
    """A figure a sweep plots: its key, its label, and how it is read from the samples."""

    key: str
    label: str
    of: Callable[[Sequence[Seen]], float | None]
    share: bool = True  # between 0 and 1, so it shares the plot's share axis


FIGURES = (
    Figure("distinct_2", "distinct-2", _distinct_2),
    Figure("repetition", "repeated 4-grams", _repeats),
    Figure("fit", "fit (log-prob/token)", _fit, share=False),
    Figure("read_as_asked", "stars read as asked", _share("as_asked")),
    Figure("ended", "ended by the model", _share("ended")),
    Figure("within_headline", f"within {HEADLINE_CHARS} chars", _share("within_headline")),
)


@dataclass
class Point:
    """One point of a sweep: its value, settings, samples, and each figure with its band."""

    value: float | int
    settings: SamplingSettings
    samples: list[Sample]
    figures: dict[str, float | None]
    bands: dict[str, tuple[float, float] | None]
    notes: list[str]  # per sample: how it reads
    # Per sample: which of the point's seeds wrote it (0: the first); a sweep stopped
    # part-way keeps only the finished samples, so the k-th sample need not be the k-th seed's.
    offsets: list[int]


def point(value: float | int, settings: SamplingSettings, samples: Sequence[Sample], asked: Asked,
          probe: ToneProbe | None, offsets: Sequence[int] | None = None) -> Point:  # fmt: skip
    """A point's figures over its samples, each with its jackknife band over the seeds."""
    rows = [seen(s, asked, probe) for s in samples]
    left_out = [rows[:i] + rows[i + 1 :] for i in range(len(rows))]
    figures, bands = {}, {}
    for figure in FIGURES:
        figures[figure.key] = figure.of(rows)
        bands[figure.key] = _band(figures[figure.key], [figure.of(rest) for rest in left_out], figure.share)
    kept = list(offsets) if offsets is not None else list(range(len(rows)))
    return Point(value, settings, list(samples), figures, bands, [_note(r) for r in rows], kept)


def _band(value: float | None, left_out: Sequence[float | None], share: bool) -> tuple[float, float] | None:
    """value plus or minus Z_95 jackknife standard errors; a share's band stays within 0 and 1."""
    kept = [v for v in left_out if v is not None]
    if value is None or len(kept) < 2:
        return None
    mean = sum(kept) / len(kept)
    error = math.sqrt((len(kept) - 1) / len(kept) * sum((v - mean) ** 2 for v in kept))
    low, high = value - Z_95 * error, value + Z_95 * error
    return (max(0.0, low), min(1.0, high)) if share else (low, high)


def _note(row: Seen) -> str:
    parts = []
    if row.as_asked is not None:
        parts.append("reads as the stars asked" if row.as_asked else "reads against the stars")
    if row.within_headline is not None:
        parts.append("within the headline length" if row.within_headline else "longer than a headline")
    parts.append("ended itself" if row.ended else "hit the length limit")
    return "; ".join(parts)


def plotted(points: Sequence[Point]) -> list[Figure]:
    """The figures some point has a value for (stars only for reviews with a probe, length only for ads)."""
    return [f for f in FIGURES if any(p.figures[f.key] is not None for p in points)]
