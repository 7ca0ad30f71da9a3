"""The report card: how each compare column's samples read, over the same many seeds.

One sample per column shows mostly the seed's luck; over N seeds the differences that
remain belong to the settings and the model. Each figure is computed from the samples
alone, here, so the tests can check it against hand-computed values:

- distinct-1 and distinct-2: distinct words (word pairs) over all of a column's words (pairs);
- repetition: the share of a sample's 4-word runs that already came earlier in that sample,
  over all of the column's runs;
- fit: the mean log-probability per token of what was chosen, under the column's own model
  before the settings reshaped it (none from a remote server);
- length in words, and the share of samples the model ended itself, before the length limit;
- reviews: the share that reads as the rating asked (a tone probe's verdict: 1-2 stars
  should read negative, 4-5 positive; 3 stars has no verdict) and the mean P(positive);
- ads: the share whose text fits within a headline's length (HEADLINE_CHARS).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from autowrite.backends.base import Sample
from autowrite.formats import Task
from autowrite.probe import ToneProbe

REPETITION_N = 4
# Why 80 characters: the ads these models learned are product titles, a median 152
# characters long; a title of 80 or fewer shows whole where a listing cuts long ones, and a
# setting that writes whole short titles more often shows here.
HEADLINE_CHARS = 80
_WORD = re.compile(r"[\w'’]+")


def report_words(text: str) -> list[str]:
    """Lower-cased words, apostrophes kept inside them."""
    return _WORD.findall(text.lower())


def ngrams(words: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """The word runs of length n, in order."""
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def distinct(texts: Sequence[str], n: int) -> float | None:
    """Distinct n-grams over all n-grams, across the texts together; None when there are none."""
    grams = [gram for text in texts for gram in ngrams(report_words(text), n)]
    return len(set(grams)) / len(grams) if grams else None


def repetition(texts: Sequence[str], n: int = REPETITION_N) -> float | None:
    """Of all the texts' n-grams, the share that already came earlier in the same text."""
    repeated = total = 0
    for text in texts:
        grams = ngrams(report_words(text), n)
        repeated += len(grams) - len(set(grams))
        total += len(grams)
    return repeated / total if total else None


def fit(samples: Sequence[Sample]) -> float | None:
    """Mean log-probability per chosen token under the model, over the samples that carry one."""
    scored = [s for s in samples if s.logprob is not None and s.tokens > 0]
    if not scored:
        return None
    return sum(s.logprob for s in scored) / sum(s.tokens for s in scored)


def reads_positive(probe: ToneProbe, text: str, category: str) -> float:
    """The probe's P(positive) for a sample."""
    return probe.positive_probability(text, category)


def as_asked(positive: float, rating: int) -> bool | None:
    """Whether a sample with this P(positive) reads as the rating asked; None for 3 stars."""
    if rating == 3:
        return None
    return (positive > 0.5) == (rating >= 4)


@dataclass
class ColumnReport:
    """One column's figures over its samples; None where a figure does not apply or cannot be had."""

    column: int  # counting from 1, as the page does
    model: str
    label: str  # the preset it started from
    samples: list[Sample]
    distinct_1: float | None
    distinct_2: float | None
    repetition: float | None
    fit: float | None
    words: float
    ended: float
    read_as_asked: float | None = None
    positive: float | None = None
    within_headline: float | None = None
    sample_notes: list[str] = field(default_factory=list)  # per sample: how it reads, or its length
    # Per sample: which of the column's seeds wrote it (0: the first); a report part-way keeps
    # only the finished samples, so the k-th sample need not be the k-th seed's.
    offsets: list[int] = field(default_factory=list)
    error: str = ""  # why the column has no samples: its model could not write

    def as_dict(self) -> dict:
        """The figures as the API returns them, with the samples' texts and notes."""
        return {
            "column": self.column,
            "model": self.model,
            "preset": self.label,
            "distinct_1": self.distinct_1,
            "distinct_2": self.distinct_2,
            "repetition_4": self.repetition,
            "fit_logprob_per_token": self.fit,
            "mean_words": self.words,
            "ended_on_its_own": self.ended,
            "read_as_asked": self.read_as_asked,
            "mean_positive": self.positive,
            "within_headline_chars": self.within_headline,
            **({"error": self.error} if self.error else {}),
            "samples": [
                {"text": s.text, "note": note} for s, note in zip(self.samples, self.sample_notes, strict=True)
            ],
        }


@dataclass(frozen=True)
class Asked:
    """What the samples were asked for, which decides the task's own figures."""

    task: Task
    rating: int = 5
    category: str = ""
    headline_chars: int = HEADLINE_CHARS


def score(
    column: int, model: str, label: str, samples: Sequence[Sample], asked: Asked, probe: ToneProbe | None
) -> ColumnReport:
    """A column's report from its samples; the rating figures need the model's probe, else they stay None."""
    texts = [s.text for s in samples]
    report = ColumnReport(
        column=column,
        model=model,
        label=label,
        samples=list(samples),
        distinct_1=distinct(texts, 1),
        distinct_2=distinct(texts, 2),
        repetition=repetition(texts),
        fit=fit(samples),
        words=sum(len(report_words(t)) for t in texts) / len(texts) if texts else 0.0,
        ended=sum(s.ended for s in samples) / len(samples) if samples else 0.0,
        sample_notes=[""] * len(samples),
        offsets=list(range(len(samples))),
    )
    if asked.task is Task.REVIEW and probe is not None and texts:
        positives = [reads_positive(probe, t, asked.category) for t in texts]
        report.positive = sum(positives) / len(positives)
        verdicts = [as_asked(p, asked.rating) for p in positives]
        report.read_as_asked = None if asked.rating == 3 else sum(bool(v) for v in verdicts) / len(verdicts)
        report.sample_notes = [f"reads {'positive' if p > 0.5 else 'negative'} (P {p:.2f})" for p in positives]
    elif asked.task is Task.AD and texts:
        fits = [len(t.strip()) <= asked.headline_chars for t in texts]
        report.within_headline = sum(fits) / len(fits)
        report.sample_notes = [f"{len(t.strip())} characters" for t in texts]
    return report


def failed(column: int, model: str, label: str, error: str) -> ColumnReport:
    """The report of a column whose model could not write: no samples, no figures, and why."""
    return ColumnReport(column, model, label, [], None, None, None, None, 0.0, 0.0, error=error)


def finished(sample: Sample, limit: int) -> bool:
    """Whether a sample is written to its end: the model ended it, or it reached the length limit."""
    return sample.ended or sample.tokens >= limit


def report_columns(
    columns: Sequence[tuple[str, str]],
    samples: Sequence[Sample],
    seeds: int,
    asked: Asked,
    probes: dict[str, ToneProbe | None],
    failures: dict[int, str],
    limit: int | None = None,
) -> list[ColumnReport]:
    """Each column's report: columns are (model, label) in order, and column c's samples are c * seeds onwards.

    With a length limit, the report is of a run part-way: only the samples finished by then count.
    """
    reports = []
    for index, (model, label) in enumerate(columns):
        if index in failures:
            reports.append(failed(index + 1, model, label, failures[index]))
            continue
        mine = samples[index * seeds : (index + 1) * seeds]
        kept = [k for k, sample in enumerate(mine) if limit is None or finished(sample, limit)]
        report = score(index + 1, model, label, [mine[k] for k in kept], asked, probes.get(model))
        report.offsets = kept
        reports.append(report)
    return reports
