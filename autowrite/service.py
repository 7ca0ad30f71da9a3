"""What the app does, independent of Gradio: resolve a model, build the prompt, run it.

The UI tabs and the named API endpoints both call these methods, so a request through
gradio_client, the REST protocol or the browser gets the same validation and results.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from autowrite import decode, formats, hub
from autowrite.backends.base import MIN_PROBABILITY, Backend, BackendError, Candidate, NotSupported, Sample, Suggestions
from autowrite.cards import Cards
from autowrite.catalog import Entry
from autowrite.changes import Changes, scoring
from autowrite.formats import Task
from autowrite.loading import Loaded, LoadError, ModelCache, folder_under, load_entry
from autowrite.probe import PROBE_FILE, ToneProbe
from autowrite.scheduling import MAX_JOBS, PER_CALLER, Admission, Crowded, Share
from autowrite.settings import FIELDS, SamplingSettings, SettingsError, preset, shown

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Why these caps: one request must not be able to hold the CPU or memory for long.
MAX_PROMPT_CHARS = 8_000
MAX_SAMPLES = 4
MAX_COLUMNS = 4
GUIDANCE_OFF = "Rating guidance {why}; this text is written without it."
# Why 32: a share over 32 samples moves about 3 points per sample, fine enough to tell
# columns apart; 4 columns of 32 is 128 samples, four times the report the benchmark times.
MAX_REPORT_SEEDS = 32
MAX_GHOST_TOKENS = 32  # a ghost is a line's worth of text; each token is a sequential decode
# A review's prompt names a category: one asked without one names this, the page's default.
DEFAULT_CATEGORY = "Electronics"
# Why 1 GB: GPT-2 and GPT-Neo 125M are about 0.5 GB; this keeps a typed repo id from
# pulling a multi-GB model onto a small Space.
DEFAULT_MAX_DOWNLOAD_BYTES = 1_000_000_000

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class UserError(ValueError):
    """A request the app cannot serve, with a message meant for the person who sent it."""


class Unavailable(UserError):
    """Something this model's server does not offer, said plainly; everything else still works."""


class Busy(UserError):
    """The app is decoding as many generations as it takes; this one is refused, to be tried again."""


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


@contextmanager
def model_errors() -> Iterator[None]:
    """A model's failure (a server's, or a prompt it cannot read) becomes a UserError for this request only."""
    try:
        yield
    except NotSupported as error:
        raise Unavailable(str(error)) from None
    except BackendError as error:
        raise UserError(str(error)) from None


def clean_text(text: str | None, what: str = "text") -> str:
    """Text with control characters removed (newlines and tabs kept), bounded in length."""
    text = _CONTROL.sub("", text or "").replace("\r", "")
    if len(text) > MAX_PROMPT_CHARS:
        raise UserError(f"The {what} is {len(text):,} characters; the limit is {MAX_PROMPT_CHARS:,}.")
    return text


@dataclass
class Request:
    """One generation request in the app's own terms."""

    model: str
    task: Task = Task.FREE
    text: str = ""
    rating: int = 5
    category: str = ""  # "": none chosen; an ad then has no category line, a review DEFAULT_CATEGORY
    headline: str = ""
    caller: str = ""  # who asked: the key fair admission shares the machine by (autowrite.scheduling)


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


class Service:
    """The models on offer and every action the app performs with them."""

    def __init__(
        self,
        entries: Sequence[Entry],
        *,
        cache: ModelCache | None = None,
        allow_custom: bool = False,
        models_dir: Path | None = None,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        read_hub_cards: bool = True,
        min_probability: float = MIN_PROBABILITY,
        max_generations: int = MAX_JOBS,
        per_caller: int = PER_CALLER,
    ) -> None:
        self.entries = {e.name: e for e in entries}
        self.default_name = entries[0].name
        self.cache = cache or ModelCache(load_entry)
        self._probes: dict[str, ToneProbe | None] = {}
        self.allow_custom = allow_custom
        # The one folder whose sub-folders a typed name may load; None: typed names are Hub ids only.
        self.models_dir = Path(models_dir).resolve() if models_dir else None
        if self.models_dir and not self.models_dir.is_dir():
            raise ValueError(f"the models folder {models_dir} is not a folder")
        self.max_download_bytes = max_download_bytes
        self.cards = Cards(read_hub_cards)
        self.admission = Admission(max_generations, per_caller)
        self.min_probability = min_probability

    # --- models -----------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """Model names in catalog order, for the dropdown."""
        return list(self.entries)

    def entry(self, name: str | None) -> Entry:
        """The catalog entry for a name (with its card's defaults); custom ones if allowed."""
        name = (name or self.default_name).strip()
        if name in self.entries:
            return self.cards.applied(self.entries[name])
        if not self.allow_custom:
            raise UserError(f"Unknown model {shown(name)}. Choose one of: {', '.join(self.entries)}.")
        return self._custom_entry(name)

    def notes(self, name: str | None) -> list[str]:
        """What the app learned about a model's card (origin, skipped values)."""
        entry = self.entry(name)
        return self.cards.notes(entry.name)

    def _custom_entry(self, name: str) -> Entry:
        """A typed name as a folder under the models folder, else a Hub repo id within the download bound.

        "owner/name" could be either: a folder under the models folder wins (the operator put it
        there), else it is a Hub id. A refusal reads the same whether or not a path exists
        outside the models folder, and echoes only the name as typed.
        """
        folder = folder_under(self.models_dir, name) if self.models_dir else None
        if folder is not None:
            entry = Entry(name=name, source="local", path=str(folder), task=Task.FREE)
        elif hub.is_repo_id(name):
            try:
                size = hub.download_size(name)
            except hub.HubNotFound:
                raise UserError(f"{name} is not a model repo on the Hub (or it is gated).") from None
            except hub.HubUnreachable:
                if not hub.is_cached(name):
                    raise UserError(f"The Hub cannot be reached and {name} is not in the local cache.") from None
                size = 0
            if size > self.max_download_bytes:
                raise UserError(
                    f"{name} is {size / 1e9:.1f} GB; this app downloads at most {self.max_download_bytes / 1e9:.1f} GB."
                )
            entry = Entry(name=name, source="hub", repo=name, task=Task.FREE)
        else:
            folders = ", a folder under the models folder," if self.models_dir else ""
            raise UserError(f"{name!r} is neither a catalog model{folders} nor a Hub repo id (owner/name).")
        self.entries[name] = entry
        return entry

    def load(self, name: str | None) -> Loaded:
        """The loaded model for a name; a load failure becomes a UserError for this request only."""
        entry = self.entry(name)
        try:
            return self.cache.get(entry)
        except LoadError as error:
            raise UserError(str(error)) from None

    # --- settings and prompts ---------------------------------------------------------

    def settings(self, name: str | None, **values) -> SamplingSettings:
        """The model's default settings with the given ones on top, validated strictly."""
        given = {k: v for k, v in values.items() if k in FIELDS and v is not None}
        try:
            return SamplingSettings.from_mapping(given, base=self.entry(name).defaults)
        except SettingsError as error:
            raise UserError(str(error)) from None

    def prompt(self, entry: Entry, request: Request, typing: bool = False) -> str:
        """The text the model continues: field markers for checkpoints trained here, else the text.

        typing: the header for text being typed, whose first line is the review's title
        while the headline field is empty (formats.prompt_for's title_next).
        """
        text = clean_text(request.text, "prompt")  # the limit is the whole text's, title line included
        if entry.prompt_format == "plain":
            return text
        request = _title_from_first_line(replace(request, text=text))
        text = request.text
        category = clean_text(request.category, "category") or (DEFAULT_CATEGORY if request.task == Task.REVIEW else "")
        try:
            rating = int(request.rating) if request.task == Task.REVIEW else 5
        except (TypeError, ValueError):
            raise UserError(f"rating must be a whole number of stars from 1 to 5, got {request.rating!r}") from None
        try:
            return formats.prompt_for(
                request.task,
                text=text,
                category=category,
                rating=rating,
                headline=clean_text(request.headline, "headline"),
                title_next=typing,
            )
        except (formats.FormatError, ValueError) as error:
            raise UserError(str(error)) from None

    # --- actions ----------------------------------------------------------------------

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
        return self._admitted(self._stream(request, variants, stop, inspect, branch), request.caller)

    def _stream(
        self,
        request: Request,
        variants: Sequence[SamplingSettings],
        stop: threading.Event | None,
        inspect: bool = False,
        branch: Mapping[int, int] | None = None,
        bulk: bool = False,
    ) -> Iterator[Output]:
        """One model's texts, not yet admitted (the public actions admit the whole job once)."""
        loaded = self.load(request.model)
        prompt = self.prompt(loaded.entry, request)
        if not prompt.strip():
            raise UserError("The prompt is empty: type a few words for the model to continue.")
        contrast, notes = self._contrast(loaded.entry, request, variants)
        with model_errors():
            streamed = loaded.model.stream_many(
                prompt, variants, stop, inspect=inspect, forced=branch, contrast=contrast,
                share=Share(request.caller, bulk),
            )  # fmt: skip
        return _outputs(streamed, notes)

    def _admitted(self, outputs: Iterator[T], caller: str) -> Iterator[T]:
        """A job's outputs, once it is admitted for its caller.

        Admission is asked on the first output, not before: a stream that is never read
        holds no place. Closing the outputs (a Stop, a client that left) gives the place
        back and closes the streams, and so a remote server's requests.
        """
        with closing(outputs), admitted(self.admission, caller):
            yield from outputs

    def _contrast(
        self, entry: Entry, request: Request, variants: Sequence[SamplingSettings]
    ) -> tuple[str | None, list[str]]:
        """The prompt rating guidance steers away from (None: no variant is guided here), and why not if not.

        Guidance applies to reviews by a model that reads the stars, at 1, 2, 4 and 5 stars.
        Where it cannot apply, a note says so only if someone asked for it: a value other
        than the model card's, which is on for every task and rating the card's model writes.
        """
        if all(v.rating_guidance == 1.0 for v in variants):
            return None, []
        asked = any(v.rating_guidance not in (1.0, entry.defaults.rating_guidance) for v in variants)
        if request.task != Task.REVIEW or entry.prompt_format == "plain":
            why = "applies to reviews written by a model that reads the stars"
            return None, [GUIDANCE_OFF.format(why=why)] if asked else []
        opposite = contrast_rating(int(request.rating))
        if opposite is None:
            return None, [GUIDANCE_OFF.format(why="has no opposite to steer away from at 3 stars")] if asked else []
        return self.prompt(entry, replace(request, rating=opposite)), []

    def generate(self, request: Request, settings: SamplingSettings, samples: int = 1) -> Output:
        """The finished samples at once."""
        return decode.last(self.stream(request, settings, samples))

    def columns(
        self, model: str, presets: Sequence[str], own: Sequence[dict], seed: int | None, max_new_tokens: int
    ) -> list[Variant]:
        """Each compare column's model and settings: its preset, then its own values over it.

        A column's "model" (none: the page's) reads the preset's card defaults from that
        model; the seed and the length are the page model's, shared by every column.
        """
        shared = self.settings(model, seed=seed, max_new_tokens=max_new_tokens)
        columns = []
        for index, (name, values) in enumerate(zip(presets, own, strict=True)):
            values = dict(values)
            try:
                chosen = self.entry(values.pop("model", None) or model).name
            except UserError as error:
                raise UserError(f"columns[{index}].model: {error}") from None
            try:
                base = preset(name, self.entry(chosen).defaults, shared.max_new_tokens, shared.seed)
                columns.append(Variant(chosen, SamplingSettings.from_mapping(values, base=base)))
            except SettingsError as error:
                raise UserError(f"columns[{index}]: {error}") from None
        return columns

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
        if not 1 <= len(columns) <= MAX_COLUMNS:
            raise UserError(f"between 1 and {MAX_COLUMNS} columns, got {len(columns)}")
        failures, outputs = self._columns_stream(request, columns, stop, inspect)
        outputs = self._admitted(outputs, request.caller)
        shown = [
            CompareColumn(c.model, c.settings, None, failures[i], failed=True)
            if i in failures
            else self._column_view(replace(request, model=c.model), c.settings)
            for i, c in enumerate(columns)
        ]
        return shown, outputs

    def side_by_side(
        self, request: Request, columns: Sequence[Variant], stop: threading.Event | None = None
    ) -> Iterator[Output]:
        """Columns written as compare writes them, without the next-token views: the arena's pairs.

        A column whose model cannot write fails the whole request: a pair half written is
        no pair.
        """
        if not 1 <= len(columns) <= MAX_COLUMNS:
            raise UserError(f"between 1 and {MAX_COLUMNS} columns, got {len(columns)}")
        failures, outputs = self._columns_stream(request, columns, stop)
        if failures:
            outputs.close()
            raise UserError(next(iter(failures.values())))
        return self._admitted(outputs, request.caller)

    def report(
        self, request: Request, columns: Sequence[Variant], seeds: int, stop: threading.Event | None = None
    ) -> tuple[dict[int, str], Iterator[Output]]:
        """Every column over the same seeds (its seed, seed + 1, ...), for the report card.

        The samples come column by column, seeds within: column c's seed k is sample
        c * seeds + k. Columns on one model decode together, in parts as large as the
        backend's steps (autowrite.decode). Returns why each column that cannot write cannot.
        """
        if not 1 <= len(columns) <= MAX_COLUMNS:
            raise UserError(f"between 1 and {MAX_COLUMNS} columns, got {len(columns)}")
        if not 1 <= seeds <= MAX_REPORT_SEEDS:
            raise UserError(f"seeds must be between 1 and {MAX_REPORT_SEEDS}, got {seeds}")
        expanded = [
            Variant(c.model, c.settings.replace(seed=(c.settings.seed + k) % 2**31))
            for c in columns
            for k in range(seeds)
        ]
        failures, outputs = self._columns_stream(request, expanded, stop, bulk=True)
        return {index // seeds: note for index, note in failures.items()}, self._admitted(outputs, request.caller)

    def probe(self, name: str) -> ToneProbe | None:
        """The tone probe a review checkpoint ships beside its weights (autowrite.probe), or None."""
        entry = self.entry(name)
        if entry.name not in self._probes:
            path = entry.folder / PROBE_FILE if entry.folder else None
            try:
                self._probes[entry.name] = ToneProbe.load(path) if path and path.is_file() else None
            except ValueError as error:
                logger.warning("%s: %s", entry.name, error)
                self._probes[entry.name] = None
        return self._probes[entry.name]

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
        if not tuned.entry.adapter:
            tuned_names = ", ".join(name for name, e in self.entries.items() if e.adapter) or "none here"
            raise UserError(f"{tuned.entry.name} has no adapter to compare with its base; fine-tuned: {tuned_names}.")
        base_entry = self.base_of(tuned.entry)
        try:
            base = self.cache.get(base_entry)
        except LoadError as error:
            raise UserError(str(error)) from None
        if not isinstance(base.backend, Backend) or not isinstance(tuned.backend, Backend):
            raise UserError("Scoring a text needs both models running here, not on a remote server.")
        context = self.prompt(tuned.entry, replace(request, text=""))
        text = clean_text(request.text, "text")
        return base_entry.name, self._admitted(
            _scored(scoring(base.backend, tuned.backend, context, text)), request.caller
        )

    def base_of(self, entry: Entry) -> Entry:
        """The catalog's entry for a fine-tuned entry's weights without its adapter, or one made for them."""
        for candidate in self.entries.values():
            same = (candidate.source, candidate.repo, candidate.path, candidate.revision)
            if not candidate.adapter and same == (entry.source, entry.repo, entry.path, entry.revision):
                return self.entry(candidate.name)
        return replace(entry, name=f"{entry.name} without its adapter", adapter="")

    def _columns_stream(
        self,
        request: Request,
        columns: Sequence[Variant],
        stop: threading.Event | None,
        inspect: bool = False,
        bulk: bool = False,
    ) -> tuple[dict[int, str], Iterator[Output]]:
        """One stream over several columns, those on one model decoding together; and why any cannot write."""
        failures: dict[int, str] = {}
        streams = []
        for model, indexes in _by_model(columns).items():
            try:
                settings = [columns[i].settings for i in indexes]
                stream = self._stream(replace(request, model=model), settings, stop, inspect, bulk=bulk)
            except UserError as error:
                failures.update(dict.fromkeys(indexes, str(error)))
                continue
            streams.append((indexes, stream))
        if not streams:  # nothing can be written: the page hears why, as for a single model
            raise UserError(failures[0])
        return failures, _merged(streams, len(columns))

    def _column_view(self, request: Request, settings: SamplingSettings) -> CompareColumn:
        try:
            return CompareColumn(request.model, settings, self.distribution(request, settings))
        except Unavailable as error:
            return CompareColumn(request.model, settings, None, str(error))

    def distribution(self, request: Request, settings: SamplingSettings, top: int = 10) -> list[Candidate]:
        """The next-token candidates after the prompt, before and after the settings."""
        loaded = self.load(request.model)
        prompt = self.prompt(loaded.entry, request)
        with model_errors():
            return loaded.model.distribution(prompt, settings, top)

    def suggest(self, request: Request, count: int = 5, ghost_tokens: int = 8, finish: bool = True) -> Suggestions:
        """Live suggestions for text typed after the prompt's fields.

        finish=False: the words from one model call; the best is extended to its word's end
        only through positions already computed (autowrite.suggest.suggest_words).
        """
        if (
            isinstance(ghost_tokens, bool)
            or not isinstance(ghost_tokens, int)
            or not 0 <= ghost_tokens <= MAX_GHOST_TOKENS
        ):
            raise UserError(f"ghost_tokens must be a whole number from 0 to {MAX_GHOST_TOKENS}, got {ghost_tokens!r}")
        loaded = self.load(request.model)
        if loaded.entry.prompt_format != "plain":
            request = _title_from_first_line(request)  # the typed body; its title joins the header
        text = clean_text(request.text, "text")
        context = self.prompt(loaded.entry, replace(request, text=""), typing=True)
        if loaded.entry.prompt_format == "autowrite" and context:
            # The typed text is the body; the field header ends right before its first word.
            text = " " + text.lstrip() if text.strip() else " "
        with model_errors():
            return loaded.model.suggest(
                text,
                context=context,
                count=count,
                ghost_tokens=ghost_tokens,
                min_probability=self.min_probability,
                finish=finish,
            )


def _title_from_first_line(request: Request) -> Request:
    """A review typed with no headline field: its first line is the title, the rest the body.

    While typing with no headline, the prompt ends at "Title:", so typed text is the title;
    once the text goes past a line break, that line becomes the headline and the rest
    follows "Review:", as the checkpoints were trained. A generation's prompt is the same
    once it has a line break; before that it is the body, under an empty title.
    """
    text = (request.text or "").lstrip()  # a trailing line break counts: the body starts there
    if request.task != Task.REVIEW or (request.headline or "").strip() or "\n" not in text:
        return request
    title, _, body = text.partition("\n")
    return replace(request, headline=title.strip(), text=body.lstrip("\n"))


def _by_model(columns: Sequence[Variant]) -> dict[str, list[int]]:
    """The columns' indexes under each model, in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for index, column in enumerate(columns):
        groups.setdefault(column.model, []).append(index)
    return groups


def _merged(streams: list[tuple[list[int], Iterator[Output]]], total: int) -> Iterator[Output]:
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


def contrast_rating(rating: int) -> int | None:
    """The stars rating guidance steers away from: the far end of the scale; none at 3 (docs/guidance.md)."""
    return {1: 5, 2: 5, 4: 1, 5: 1}.get(rating)


def _scored(parts: Iterator[float | Changes]) -> Iterator[float | Changes]:
    """A scoring's parts, its refusals (an empty text, two vocabularies) as UserErrors."""
    with closing(parts):
        try:
            yield from parts
        except ValueError as error:
            raise UserError(str(error)) from None


def _outputs(streamed: Iterator[tuple[list[Sample], list[str]]], notes: Sequence[str] = ()) -> Iterator[Output]:
    """Outputs from a model's stream, its failures as UserErrors; closing them closes the stream."""
    with model_errors(), closing(streamed):
        for samples, warnings in streamed:
            yield Output(samples, [*notes, *warnings])
