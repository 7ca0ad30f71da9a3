"""Generation jobs: an opened model's texts as Outputs, several models' as columns, each job admitted once.

An action opens each model it uses once (its entry resolved, loaded, its prompt built) and
hands the opened models here; nothing here looks a model up again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import replace
from typing import TypeVar

from autowrite.errors import Busy, UserError, model_errors
from autowrite.loading import Loaded
from autowrite.outputs import Output, Variant, by_model, merged, outputs
from autowrite.prompting import Request
from autowrite.scheduling import Admission, Crowded, Share
from autowrite.settings import SamplingSettings

T = TypeVar("T")

# A model opened for a request: loaded, with the prompt it continues.
Opened = tuple[Loaded, str]
# One model's columns of a request: (the request on that model, its variants) -> the model opened, its texts.
Writer = Callable[[Request, Sequence[SamplingSettings]], tuple[Opened, Iterator[Output]]]


@contextmanager
def admitted(admission: Admission, caller: str) -> Iterator[None]:
    """Hold a job's place for the caller while the body runs; a refusal is Busy, by name."""
    try:
        admission.enter(caller)
    except Crowded as error:
        raise Busy(str(error)) from None
    try:
        yield
    finally:
        admission.leave(caller)


def admitted_outputs(outputs: Iterator[T], admission: Admission, caller: str) -> Iterator[T]:
    """A job's outputs, once it is admitted for its caller.

    Admission is asked on the first output, not before: a stream that is never read
    holds no place. Closing the outputs (a Stop, a client that left) gives the place
    back and closes the streams, and so a remote server's requests.
    """
    with closing(outputs), admitted(admission, caller):
        yield from outputs


def texts(
    opened: Opened,
    variants: Sequence[SamplingSettings],
    stop: threading.Event | None,
    contrast: str | None,
    notes: Sequence[str],
    share: Share,
    *,
    inspect: bool = False,
    branch: Mapping[int, int] | None = None,
) -> Iterator[Output]:
    """One text per variant from the opened model's prompt, as Outputs carrying the notes.

    contrast: the prompt rating guidance steers away from (autowrite.prompting.guidance);
    share: whose texts they are, for a model whose steps several callers share.
    """
    loaded, prompt = opened
    with model_errors():
        streamed = loaded.model.stream_many(
            prompt, variants, stop, inspect=inspect, forced=branch, contrast=contrast, share=share
        )
    return outputs(streamed, notes)


def columns_stream(
    write: Writer, request: Request, columns: Sequence[Variant]
) -> tuple[dict[int, str], Iterator[Output], dict[str, Opened]]:
    """One stream over several columns, those on one model decoding together; why any cannot write;
    and each model that can, opened."""
    failures: dict[int, str] = {}
    streams, opened = [], {}
    for model, indexes in by_model(columns).items():
        try:
            opened[model], stream = write(replace(request, model=model), [columns[i].settings for i in indexes])
        except UserError as error:
            failures.update(dict.fromkeys(indexes, str(error)))
            continue
        streams.append((indexes, stream))
    if not streams:  # nothing can be written: the page hears why, as for a single model
        raise UserError(failures[0])
    return failures, merged(streams, len(columns)), opened
