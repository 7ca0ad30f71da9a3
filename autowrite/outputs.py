"""What the actions stream back: Outputs, and several models' streams merged into columns.

A model streams its samples and warnings; here they become Outputs, a model's failure a
UserError, and the streams of the models in a compare, a report or an arena pair one
stream with each sample in its column's place.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field

from autowrite.backends.base import Candidate, Sample
from autowrite.changes import Changes
from autowrite.errors import UserError, model_errors
from autowrite.settings import SamplingSettings


@dataclass
class Output:
    """Generated samples so far, plus warnings about the request."""

    samples: list[Sample]
    warnings: list[str] = field(default_factory=list)

    @property
    def texts(self) -> list[str]:
        """Each sample's text."""
        return [sample.text for sample in self.samples]


@dataclass(frozen=True)
class Variant:
    """One compare column as asked: the model that writes it and its settings."""

    model: str
    settings: SamplingSettings


@dataclass
class CompareColumn:
    """One compare column: its model and settings, and its next-token view or, where there is none, why.

    failed: its model could not write (it did not load, or its server refused); the note says why.
    """

    model: str
    settings: SamplingSettings
    distribution: list[Candidate] | None
    note: str = ""
    failed: bool = False


def over_seeds(columns: Sequence[Variant], seeds: int) -> list[Variant]:
    """Each column once per seed (its seed, seed + 1, ...): column c's seed k is the c * seeds + k-th."""
    return [
        Variant(c.model, c.settings.replace(seed=(c.settings.seed + k) % 2**31)) for c in columns for k in range(seeds)
    ]


def outputs(streamed: Iterator[tuple[list[Sample], list[str]]], notes: Sequence[str] = ()) -> Iterator[Output]:
    """Outputs from a model's stream, its failures as UserErrors; closing them closes the stream."""
    with model_errors(), closing(streamed):
        for samples, warnings in streamed:
            yield Output(samples, [*notes, *warnings])


def by_model(columns: Sequence[Variant]) -> dict[str, list[int]]:
    """The columns' indexes under each model, in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for index, column in enumerate(columns):
        groups.setdefault(column.model, []).append(index)
    return groups


def merged(streams: list[tuple[list[int], Iterator[Output]]], total: int) -> Iterator[Output]:
    """Several models' streams as one Output per step, each sample in its column's place.

    The models advance in turn, a step each. One that fails part-way ends with a warning
    naming its columns; the others go on.
    """
    if len(streams) == 1 and len(streams[0][0]) == total:
        yield from streams[0][1]
        return
    samples = [Sample("")] * total
    warnings: dict[int, list[str]] = {}
    live = list(enumerate(streams))
    try:
        while live:
            for entry in list(live):
                key, (indexes, stream) = entry
                try:
                    output = next(stream)
                except StopIteration:
                    live.remove(entry)
                    continue
                except UserError as error:
                    live.remove(entry)
                    named = f"Column{'s' if len(indexes) > 1 else ''} {', '.join(str(i + 1) for i in indexes)}"
                    warnings[key] = [*warnings.get(key, []), f"{named} stopped: {error}"]
                else:
                    for i, sample in zip(indexes, output.samples, strict=True):
                        samples[i] = sample
                    warnings[key] = output.warnings
                yield Output(list(samples), list(dict.fromkeys(w for ws in warnings.values() for w in ws)))
    finally:
        for _, stream in streams:
            stream.close()


def scored(parts: Iterator[float | Changes]) -> Iterator[float | Changes]:
    """A scoring's parts, its refusals (an empty text, two vocabularies) as UserErrors."""
    with closing(parts):
        try:
            yield from parts
        except ValueError as error:
            raise UserError(str(error)) from None
