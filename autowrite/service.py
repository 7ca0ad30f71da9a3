"""What the app does, independent of Gradio: the actions the UI tabs and the named API endpoints share.

A request through gradio_client, the REST protocol or the browser gets the same validation
and results. Each action resolves its model once (autowrite.lookup), builds its prompt
(autowrite.prompting), and runs as one job admitted for its caller (autowrite.jobs).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from autowrite import decode, jobs, prompting
from autowrite.backends.base import MIN_PROBABILITY, Candidate, Suggestions
from autowrite.catalog import Entry
from autowrite.changes import Changes, scoring
from autowrite.errors import Busy, Unavailable, UserError, model_errors
from autowrite.jobs import Opened, admitted
from autowrite.lookup import DEFAULT_MAX_DOWNLOAD_BYTES, Lookup
from autowrite.outputs import CompareColumn, Output, Variant, over_seeds, scored
from autowrite.prompting import DEFAULT_CATEGORY, GUIDANCE_OFF, MAX_PROMPT_CHARS, Request, clean_text, contrast_rating
from autowrite.scheduling import MAX_JOBS, PER_CALLER, Admission, Share
from autowrite.settings import SamplingSettings
from autowrite.sweep import Sweep

__all__ = [  # what callers import from here, wherever it is defined
    "DEFAULT_CATEGORY", "DEFAULT_MAX_DOWNLOAD_BYTES", "GUIDANCE_OFF", "MAX_COLUMNS", "MAX_GHOST_TOKENS",
    "MAX_PROMPT_CHARS", "MAX_REPORT_SEEDS", "MAX_SAMPLES", "Busy", "CompareColumn", "Output", "Request",
    "Service", "Unavailable", "UserError", "Variant", "admitted", "clean_text", "contrast_rating", "model_errors",
]  # fmt: skip

# Why these caps: one request must not be able to hold the CPU or memory for long.
MAX_SAMPLES = 4
MAX_COLUMNS = 4
# Why 32: a share over 32 samples moves about 3 points per sample, fine enough to tell
# columns apart; 4 columns of 32 is 128 samples, four times the report the benchmark times.
MAX_REPORT_SEEDS = 32
MAX_GHOST_TOKENS = 32  # a ghost is a line's worth of text; each token is a sequential decode


class Service(Lookup):
    """The models on offer (autowrite.lookup) and every action the app performs with them."""

    def __init__(
        self,
        entries: Sequence[Entry],
        *,
        min_probability: float = MIN_PROBABILITY,
        max_generations: int = MAX_JOBS,
        per_caller: int = PER_CALLER,
        **lookup: Any,
    ) -> None:
        """lookup: how the models on offer are found (cache, allow_custom, models_dir, max_download_bytes,
        read_hub_cards), as autowrite.lookup.Lookup takes them."""
        super().__init__(entries, **lookup)
        self.admission = Admission(max_generations, per_caller)
        self.min_probability = min_probability

    def prompt(self, entry: Entry, request: Request, typing: bool = False) -> str:
        """The text the model continues (autowrite.prompting.prompt); every action builds its prompts here."""
        return prompting.prompt(entry, request, typing)

    def _open(self, request: Request) -> Opened:
        """The request's model, loaded, and its prompt: the entry resolved once for both."""
        loaded = self.load(request.model)
        return loaded, self.prompt(loaded.entry, request)

    # --- generation -----------------------------------------------------------------------

    def stream(
        self,
        request: Request,
        settings: SamplingSettings,
        samples: int = 1,
        stop: threading.Event | None = None,
        *,
        inspect: bool = False,
        branch: Mapping[int, int] | None = None,
    ) -> Iterator[Output]:
        """Stream several samples together, token by token; sample i uses seed + i.

        inspect: each sample carries its steps for the token inspector. branch: step -> token
        id written there in every sample instead of the one drawn (see Model.stream_many).
        """
        if not 1 <= samples <= MAX_SAMPLES:
            raise UserError(f"samples must be between 1 and {MAX_SAMPLES}, got {samples}")
        variants = [settings.replace(seed=(settings.seed + i) % 2**31) for i in range(samples)]
        return self.stream_each(request, variants, stop, inspect=inspect, branch=branch)

    def stream_each(
        self,
        request: Request,
        variants: Sequence[SamplingSettings],
        stop: threading.Event | None = None,
        *,
        inspect: bool = False,
        branch: Mapping[int, int] | None = None,
    ) -> Iterator[Output]:
        """Stream one text per settings variant from the same prompt, advancing them in turn."""
        if not 1 <= len(variants) <= max(MAX_SAMPLES, MAX_COLUMNS):
            raise UserError(f"between 1 and {max(MAX_SAMPLES, MAX_COLUMNS)} texts at once, got {len(variants)}")
        _, texts = self._write(request, variants, stop, inspect=inspect, branch=branch)
        return jobs.admitted_outputs(texts, self.admission, request.caller)

    def _write(
        self,
        request: Request,
        variants: Sequence[SamplingSettings],
        stop: threading.Event | None,
        *,
        inspect: bool = False,
        branch: Mapping[int, int] | None = None,
        bulk: bool = False,
    ) -> tuple[Opened, Iterator[Output]]:
        """The request's model opened, and its texts, not yet admitted (an action admits its whole job once)."""
        loaded, prompt = opened = self._open(request)
        if not prompt.strip():
            raise UserError("The prompt is empty: type a few words for the model to continue.")
        # contrast_rating is read here, at each call, so that a benchmark may swap the opposite stars.
        contrast, notes = prompting.guidance(loaded.entry, request, variants, contrast_rating, self.prompt)
        share = Share(request.caller, bulk)
        return opened, jobs.texts(opened, variants, stop, contrast, notes, share, inspect=inspect, branch=branch)

    def generate(self, request: Request, settings: SamplingSettings, samples: int = 1) -> Output:
        """The finished samples at once."""
        return decode.last(self.stream(request, settings, samples))

    def compare(
        self,
        request: Request,
        columns: Sequence[Variant],
        stop: threading.Event | None = None,
        *,
        inspect: bool = False,
    ) -> tuple[list[CompareColumn], Iterator[Output]]:
        """Columns side by side on one prompt and seed: each one's next-token view, and the texts as they stream.

        Columns on the same model decode as one batch; each model reads the request through
        its own prompt format. A column whose model cannot write says so in its CompareColumn
        and stays empty while the others run. A model without log-probabilities (TGI) still
        writes; its views say why they are empty.
        """
        _check_columns(columns)
        failures, texts, opened = jobs.columns_stream(
            partial(self._write, stop=stop, inspect=inspect), request, columns
        )
        shown = [_view(opened.get(c.model), c, failures.get(i)) for i, c in enumerate(columns)]
        return shown, jobs.admitted_outputs(texts, self.admission, request.caller)

    def side_by_side(
        self, request: Request, columns: Sequence[Variant], stop: threading.Event | None = None
    ) -> Iterator[Output]:
        """Columns written as compare writes them, without the next-token views: the arena's pairs.

        A column whose model cannot write fails the whole request: a pair half written is
        no pair.
        """
        _check_columns(columns)
        return self._whole(request, columns, stop)

    def report(
        self, request: Request, columns: Sequence[Variant], seeds: int, stop: threading.Event | None = None
    ) -> tuple[dict[int, str], Iterator[Output]]:
        """Every column over the same seeds (its seed, seed + 1, ...), for the report card.

        The samples come column by column, seeds within: column c's seed k is sample
        c * seeds + k. Columns on one model decode together, in parts as large as the
        backend's steps (autowrite.decode). Returns why each column that cannot write cannot.
        """
        _check_columns(columns, seeds)
        write = partial(self._write, stop=stop, bulk=True)
        failures, texts, _ = jobs.columns_stream(write, request, over_seeds(columns, seeds))
        shown = {index // seeds: note for index, note in failures.items()}
        return shown, jobs.admitted_outputs(texts, self.admission, request.caller)

    def _whole(
        self, request: Request, columns: Sequence[Variant], stop: threading.Event | None, bulk: bool = False
    ) -> Iterator[Output]:
        """Every column written and admitted as one job; a column whose model cannot write fails them all."""
        failures, texts, _ = jobs.columns_stream(partial(self._write, stop=stop, bulk=bulk), request, columns)
        if failures:
            texts.close()
            raise UserError(next(iter(failures.values())))
        return jobs.admitted_outputs(texts, self.admission, request.caller)

    def sweep(
        self, request: Request, base: Variant, swept: Sweep, seeds: int, stop: threading.Event | None = None
    ) -> Iterator[Output]:
        """base's model and settings with one setting stepped (autowrite.sweep), every point over the same seeds.

        As the report's columns: point p's seed k is sample p * seeds + k, and every point
        decodes together on the one model. A model that cannot write raises.
        """
        swept.check_size(seeds)
        points = [Variant(base.model, settings) for settings in swept.settings(base.settings)]
        return self._whole(request, over_seeds(points, seeds), stop, bulk=True)

    # --- one model's other views: next tokens, suggestions, a fine-tune's changes ---------

    def distribution(self, request: Request, settings: SamplingSettings, top: int = 10) -> list[Candidate]:
        """The next-token candidates after the prompt, before and after the settings."""
        return _next_tokens(self._open(request), settings, top)

    def suggest(self, request: Request, count: int = 5, ghost_tokens: int = 8, finish: bool = True) -> Suggestions:
        """Live suggestions for text typed after the prompt's fields.

        finish=False: the words from one model call; the best is extended to its word's end
        only through positions already computed (autowrite.suggest.suggest_words).
        """
        _check_ghost(ghost_tokens)
        loaded = self.load(request.model)
        text, context = prompting.typed(loaded.entry, request, self.prompt)
        with model_errors():
            return loaded.model.suggest(
                text, context=context, count=count, ghost_tokens=ghost_tokens,
                min_probability=self.min_probability, finish=finish,
            )  # fmt: skip

    def changes(self, request: Request) -> tuple[str, Changes]:
        """request.text scored under its fine-tuned model and under that model's base, at once; the base's name too."""
        name, parts = self.scoring(request)
        return name, decode.last(parts)

    def scoring(self, request: Request) -> tuple[str, Iterator[float | Changes]]:
        """The base's name, and request.text scored under the fine-tuned model and its base, in parts:
        the share done after each part (a closed stream stops there), then the Changes.

        Both read the text after the fine-tuned model's prompt for the request's fields.
        """
        tuned = self.load(request.model)
        base = self.base_loaded(tuned)
        context = self.prompt(tuned.entry, replace(request, text=""))
        parts = scored(scoring(base.backend, tuned.backend, context, clean_text(request.text, "text")))
        return base.entry.name, jobs.admitted_outputs(parts, self.admission, request.caller)


def _check_columns(columns: Sequence[Variant], seeds: int = 1) -> None:
    if not 1 <= len(columns) <= MAX_COLUMNS:
        raise UserError(f"between 1 and {MAX_COLUMNS} columns, got {len(columns)}")
    if not 1 <= seeds <= MAX_REPORT_SEEDS:
        raise UserError(f"seeds must be between 1 and {MAX_REPORT_SEEDS}, got {seeds}")


def _next_tokens(opened: Opened, settings: SamplingSettings, top: int = 10) -> list[Candidate]:
    """The opened model's next-token candidates after its prompt, before and after the settings."""
    loaded, prompt = opened
    with model_errors():
        return loaded.model.distribution(prompt, settings, top)


def _check_ghost(ghost_tokens: int) -> None:
    if isinstance(ghost_tokens, bool) or not isinstance(ghost_tokens, int) or not 0 <= ghost_tokens <= MAX_GHOST_TOKENS:
        raise UserError(f"ghost_tokens must be a whole number from 0 to {MAX_GHOST_TOKENS}, got {ghost_tokens!r}")


def _view(opened: Opened | None, column: Variant, failure: str | None = None) -> CompareColumn:
    """A column's next-token view on its opened model, or why it has none; why it cannot write, if it cannot."""
    if failure is not None:
        return CompareColumn(column.model, column.settings, None, failure, failed=True)
    try:
        return CompareColumn(column.model, column.settings, _next_tokens(opened, column.settings))
    except Unavailable as error:
        return CompareColumn(column.model, column.settings, None, str(error))
