"""Share links: the page state as URL query parameters, named like the settings, and back.

A link names the tab it opens (tab=generate, tab=compare, tab=changes) and reproduces it:
the generate tab, with any branch taken in its token inspector (branch=12:345); the
fine-tune tab's view of its text (prompt); or the compare tab: its presets
(presets=Greedy,Creative) and each column's settings (c1_temperature=..., c2_top_k=...),
from the same prompt, seed and length. An arena link opens the arena on its restriction
(tab=arena&arena_model=..., or arena_preset=...).
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode

from autowrite import inputs
from autowrite.formats import Task
from autowrite.inputs import COLUMN_FIELDS, COMPARE_MAX_TOKENS, InputError
from autowrite.report import HEADLINE_CHARS
from autowrite.service import MAX_COLUMNS, MAX_PROMPT_CHARS, MAX_REPORT_SEEDS, Service, UserError
from autowrite.settings import FIELDS, PRESET_NAMES, SamplingSettings, SettingsError, preset, shown
from autowrite.sweep import MAX_SEEDS as MAX_SWEEP_SEEDS
from autowrite.sweep import SEEDS as SWEEP_SEEDS
from autowrite.sweep import Sweep

# An arena link's restriction (autowrite.ui.arena reads them): one model, or one preset.
ARENA_FIELDS = ("arena_model", "arena_preset")
# Parameters besides the sampling settings, in the order they appear in a link. A request's
# task is published as `mode`, the name links and the API have always used.
PAGE_FIELDS = (
    "tab", "model", "mode", "prompt", "prompt_z", "rating", "category", "headline", "samples", "presets", "report",
    "headline_chars", "branch", "sweep", "sweep_seeds", *ARENA_FIELDS,
)  # fmt: skip
TABS = ("generate", "compare", "changes", "arena")
# The tab a link that names none and carries nothing for one opens: the page's first.
FIRST_TAB = "live"
# The generate tab's values: a link without tab= that carries one is for that tab (links the
# app made without tab=, still shared, and links written by hand). The fields every tab reads
# (model, mode, rating, ...) name no tab.
GENERATE_VALUES = frozenset({"prompt", "prompt_z", "samples", "branch", *FIELDS})
# The samplers added after rating guidance: a link leaves out each one at its default (off), so
# links stay short, and a link that carries settings but not one of them means its default.
SAMPLER_FIELDS = FIELDS[FIELDS.index("typical_p") :]
_DEFAULTS = SamplingSettings()
# Why 2,000: a link this short survives mail clients, chat apps and proxies as it is; a
# longer prompt goes into the link compressed (prompt_z), which keeps an 8,000-character
# prompt of any script within MAX_LINK_CHARS.
PLAIN_LINK_CHARS = 2_000
# Why 32,000: Gradio's page handler refuses a URL over 65,536 characters (httpx's limit),
# and a Space's proxy adds its own; half of that leaves room for both.
MAX_LINK_CHARS = 32_000
# Why 64 KB: the largest prompt (8,000 characters of 4 bytes) is 32 KB; more than twice
# that from a link is a compression bomb, not a prompt.
MAX_INFLATED_BYTES = 64 * 1024

T = TypeVar("T")


@dataclass
class Column:
    """One compare column: the preset it started from, its settings (seed and length shared) and model.

    model: a catalog name, or "" for the page's model.
    """

    preset: str
    settings: SamplingSettings
    model: str = ""


def column_parameters(index: int) -> list[str]:
    """A column's settings' names in a link (c1_temperature, ...), counting from 1 as the page does."""
    return [f"c{index}_{name}" for name in COLUMN_FIELDS]


def column_model_parameter(index: int) -> str:
    """A column's model in a link (c2_model), there only when it is not the page's model."""
    return f"c{index}_model"


@dataclass
class PageState:
    """Everything a share link restores."""

    model: str
    task: Task
    prompt: str
    settings: SamplingSettings
    rating: int = 5
    category: str = ""  # "": none chosen (a review's default category; an ad's any)
    headline: str = ""
    samples: int = 1
    tab: str = "generate"  # one of TABS, or FIRST_TAB for a link that asks for no tab
    columns: list[Column] = field(default_factory=list)  # the compare tab's, when tab is "compare"
    report: int = 0  # the seeds of a report the compare tab runs on opening (0: none)
    headline_chars: int = HEADLINE_CHARS  # the report's length limit for ads
    branch: str = ""  # the generate tab's tokens chosen by hand ("12:345,..."; inputs.parse_branch)
    sweep: str = ""  # a sweep the compare tab runs on opening (SETTING:LOW:HIGH:POINTS; "": none)
    sweep_seeds: int = SWEEP_SEEDS
    notices: list[str] = field(default_factory=list)


def to_query(state: PageState) -> str:
    """The query string ("?model=...&temperature=...") for a page state.

    A long prompt goes in compressed (prompt_z), so the link stays within what a server
    accepts; a link that would still be too long is a UserError, never a link that fails.
    """
    values = _values(state)
    query = "?" + urlencode(values)
    if len(query) > PLAIN_LINK_CHARS and state.prompt:
        values = {("prompt_z" if k == "prompt" else k): (pack(v) if k == "prompt" else v) for k, v in values.items()}
        query = "?" + urlencode(values)
    if len(query) > MAX_LINK_CHARS:
        raise UserError(
            f"This page is too long to share as a link ({len(query):,} characters, at most {MAX_LINK_CHARS:,}); "
            "shorten the prompt or the headline."
        )
    return query


def _values(state: PageState) -> dict[str, object]:
    """A page state's link parameters, in link order, without empty ones."""
    values: dict[str, object] = {"tab": state.tab}  # always: a generate link may carry no other value of its own
    values.update(model=state.model, mode=state.task.value, prompt=state.prompt)
    if state.task is Task.REVIEW:
        values.update(rating=state.rating, category=state.category, headline=state.headline)
    elif state.task is Task.AD:
        values["category"] = state.category
    if state.tab == "changes":  # the prompt is the text to score
        return {k: v for k, v in values.items() if v not in ("", None)}
    if state.tab == "compare":
        values.update(seed=state.settings.seed, max_new_tokens=state.settings.max_new_tokens)
        values["presets"] = ",".join(column.preset for column in state.columns)
        if state.report:
            values["report"] = state.report
        if (state.report or state.sweep) and state.headline_chars != HEADLINE_CHARS:
            values["headline_chars"] = state.headline_chars
        if state.sweep:
            values["sweep"] = state.sweep
            if state.sweep_seeds != SWEEP_SEEDS:
                values["sweep_seeds"] = state.sweep_seeds
        for index, column in enumerate(state.columns, 1):
            if column.model and column.model != state.model:
                values[column_model_parameter(index)] = column.model
            for name, parameter in zip(COLUMN_FIELDS, column_parameters(index)):
                if not _at_default(name, getattr(column.settings, name)):
                    values[parameter] = _text(getattr(column.settings, name))
    else:
        values.update({name: _text(v) for name, v in state.settings.as_dict().items() if not _at_default(name, v)})
        if state.samples != 1:
            values["samples"] = state.samples
        values["branch"] = state.branch
    return {k: v for k, v in values.items() if v not in ("", None)}


def pack(text: str) -> str:
    """Text compressed for a link: raw deflate of its UTF-8, in URL-safe base64."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = deflate.compress(text.encode("utf-8")) + deflate.flush()
    return base64.urlsafe_b64encode(packed).decode("ascii").rstrip("=")


def unpack(value: str) -> str:
    """The text a pack()ed link value holds; InputError when it holds none."""
    problem = "the compressed prompt in the link (prompt_z) cannot be read"
    try:
        packed = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        inflate = zlib.decompressobj(-15)
        data = inflate.decompress(packed, MAX_INFLATED_BYTES)
        if inflate.unconsumed_tail or not inflate.eof:
            raise InputError(f"{problem}: it is cut short or larger than a prompt")
        return data.decode("utf-8")
    except (binascii.Error, zlib.error, UnicodeDecodeError, ValueError) as error:
        if isinstance(error, InputError):
            raise
        raise InputError(problem) from None


def _at_default(name: str, value: object) -> bool:
    """Whether a link leaves the setting out: a sampler of SAMPLER_FIELDS at its default."""
    return name in SAMPLER_FIELDS and value == getattr(_DEFAULTS, name)


def _text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _lenient(notices: list[str], parse: Callable[[], T], fallback: T, instead: str) -> T:
    """A link value parsed, or the fallback with a notice: one bad value never loses the rest."""
    try:
        return parse()
    except (UserError, SettingsError) as error:
        notices.append(f"{str(error).rstrip('.')}; {instead}.")
        return fallback


def from_query(service: Service, params: Mapping[str, str]) -> PageState:
    """The page state a link asks for; unknown or out-of-range values fall back, with notices."""
    notices: list[str] = []
    default = service.entry(service.default_name)
    entry = _lenient(
        notices, lambda: service.entry(inputs.parse_model(params.get("model")) or None), default,
        f"showing {service.default_name} instead",
    )  # fmt: skip
    task = _lenient(
        notices, lambda: inputs.parse_task(params.get("mode"), entry.task), entry.task, "using " + entry.task
    )
    given = {k: v for k, v in params.items() if k in FIELDS}
    settings, setting_notices = SamplingSettings.lenient(
        _unguided_if_older(given), base=_left_out(given, entry.defaults)
    )
    notices += setting_notices
    tab = _tab(params, notices)
    columns: list[Column] = []
    report, headline_chars, sweep, sweep_seeds = 0, HEADLINE_CHARS, "", SWEEP_SEEDS
    branch = _branch(params, settings, notices) if tab == "generate" else ""
    if tab == "compare":
        settings = _compare_length(settings, notices)
        columns = _columns(service, params, entry.name, settings, notices)
        report, headline_chars = _report(params, notices)
        sweep, sweep_seeds = _sweep(params, notices)
    unknown = set(params) - known_parameters()
    if unknown:
        notices.append(f"Ignored unknown parameter(s): {', '.join(shown(name) for name in sorted(unknown)[:5])}.")
    return PageState(
        model=entry.name,
        task=task,
        prompt=_prompt(params, notices),
        settings=settings,
        rating=_lenient(notices, lambda: inputs.parse_rating(params.get("rating")), 5, "using 5"),
        category=_category(params.get("category"), task, notices),
        headline=_lenient(notices, lambda: _headline(params.get("headline")), "", "leaving it empty"),
        samples=_lenient(notices, lambda: inputs.parse_samples(params.get("samples")), 1, "using 1"),
        tab=tab,
        columns=columns,
        report=report,
        headline_chars=headline_chars,
        branch=branch,
        sweep=sweep,
        sweep_seeds=sweep_seeds,
        notices=notices,
    )


def _tab(params: Mapping[str, str], notices: list[str]) -> str:
    """The tab a link opens: the one it names, else generate for a link with a generate-only value, else the first."""
    if "tab" not in params:
        return "generate" if GENERATE_VALUES & set(params) else FIRST_TAB
    return _lenient(
        notices, lambda: inputs.parse_choice("tab", params.get("tab"), TABS, "generate"), "generate", "using generate"
    )


def known_parameters() -> set[str]:
    """Every parameter name a link may carry."""
    columns = {
        p for index in range(1, MAX_COLUMNS + 1) for p in [*column_parameters(index), column_model_parameter(index)]
    }
    return set(PAGE_FIELDS) | set(FIELDS) | columns | {"__theme", "view"}


def _prompt(params: Mapping[str, str], notices: list[str]) -> str:
    """The link's prompt, plain or compressed; one too long is cut, with a notice."""
    packed = params.get("prompt_z")
    raw = _lenient(notices, lambda: unpack(packed), "", "leaving the prompt empty") if packed else params.get("prompt")
    try:
        return inputs.parse_text("prompt", raw)
    except InputError as error:
        text = raw if isinstance(raw, str) and len(raw) > MAX_PROMPT_CHARS else ""
        notices.append(f"{error}; {'cut to the limit' if text else 'leaving it empty'}.")
        return inputs.parse_text("prompt", text[:MAX_PROMPT_CHARS]) if text else ""


def _unguided_if_older(values: dict[str, Any]) -> dict[str, Any]:
    """Settings from a link, with rating guidance off when the link carries settings but not it.

    Links write every setting; one without rating_guidance was made before the setting
    existed, when nothing was guided, and must still give its text.
    """
    if values and "rating_guidance" not in values:
        return {**values, "rating_guidance": "1"}
    return values


def _left_out(given: Mapping[str, Any], base: SamplingSettings) -> SamplingSettings:
    """The base for a link's settings: a link that carries settings leaves out a sampler at its default (off)."""
    if not given:
        return base
    return base.replace(**{name: getattr(_DEFAULTS, name) for name in SAMPLER_FIELDS if name not in given})


def _branch(params: Mapping[str, str], settings: SamplingSettings, notices: list[str]) -> str:
    """The generate tab's tokens chosen by hand, within its length; one that cannot be read is left out."""
    return _lenient(
        notices, lambda: inputs.branch_text(inputs.parse_branch(params.get("branch"), settings.max_new_tokens)),
        "", "writing the text without it",
    )  # fmt: skip


def _category(value: Any, task: Task, notices: list[str]) -> str:
    """The link's category, in any spelling a data file uses; an unknown one falls back to the task's default."""
    fallback = inputs.parse_category(None, task)
    instead = f"using {fallback}" if fallback else "writing the ad for any category"
    return _lenient(notices, lambda: inputs.parse_category(value, task), fallback, instead)


def _headline(value: Any) -> str:
    return inputs.parse_text("headline", value, inputs.MAX_HEADLINE_CHARS)


def _compare_length(settings: SamplingSettings, notices: list[str]) -> SamplingSettings:
    """The shared length, within what the compare tab writes."""
    if settings.max_new_tokens <= COMPARE_MAX_TOKENS:
        return settings
    notices.append(
        f"The compare tab writes at most {COMPARE_MAX_TOKENS} tokens per column; using {COMPARE_MAX_TOKENS}."
    )
    return settings.replace(max_new_tokens=COMPARE_MAX_TOKENS)


def _columns(
    service: Service, params: Mapping[str, str], page_model: str, shared: SamplingSettings, notices: list[str]
) -> list[Column]:
    """The compare columns a link asks for: each one's model and preset, then its own values over it."""
    names = [name.strip() for name in params.get("presets", "").split(",") if name.strip()]
    if not names:
        names = list(PRESET_NAMES[:MAX_COLUMNS])
    if len(names) > MAX_COLUMNS:
        notices.append(f"The compare tab shows 1 to {MAX_COLUMNS} columns, got {len(names)}; showing {MAX_COLUMNS}.")
        names = names[:MAX_COLUMNS]
    columns = []
    for index, name in enumerate(names, 1):
        if name not in PRESET_NAMES:
            fallback = PRESET_NAMES[(index - 1) % len(PRESET_NAMES)]
            notices.append(f"Column {index}: unknown preset {shown(name)}; using {fallback}.")
            name = fallback
        model = _column_model(service, params.get(column_model_parameter(index)), page_model, index, notices)
        base = preset(name, service.entry(model).defaults, shared.max_new_tokens, shared.seed)
        own = {field: params.get(parameter) for field, parameter in zip(COLUMN_FIELDS, column_parameters(index))}
        own = {k: v for k, v in own.items() if v is not None}
        settings, column_notices = SamplingSettings.lenient(_unguided_if_older(own), base=_left_out(own, base))
        notices += [f"Column {index}: {notice}" for notice in column_notices]
        columns.append(Column(name, settings, "" if model == page_model else model))
    return columns


def _column_model(service: Service, value: Any, page_model: str, index: int, notices: list[str]) -> str:
    """A column's model from a link: a name the page offers, else the page's model, with a notice."""
    if value in (None, ""):
        return page_model
    return _lenient(
        notices,
        lambda: service.entry(inputs.parse_text(column_model_parameter(index), value, inputs.MAX_MODEL_CHARS)).name,
        page_model,
        f"column {index} uses {page_model}",
    )


def _sweep(params: Mapping[str, str], notices: list[str]) -> tuple[str, int]:
    """The sweep a compare link asks to run (SETTING:LOW:HIGH:POINTS; "": none) and its seeds per point."""
    seeds = _lenient(
        notices, lambda: inputs.parse_whole("sweep_seeds", params.get("sweep_seeds"), 1, MAX_SWEEP_SEEDS, SWEEP_SEEDS),
        SWEEP_SEEDS, f"using {SWEEP_SEEDS}",
    )  # fmt: skip
    if not params.get("sweep"):
        return "", seeds

    def checked() -> str:
        swept = Sweep.parse(params["sweep"])
        swept.check_size(seeds)
        return swept.text()

    return _lenient(notices, checked, "", "running none"), seeds


def _report(params: Mapping[str, str], notices: list[str]) -> tuple[int, int]:
    """The seeds of the report a compare link asks for (0: none) and its ad length limit."""
    seeds = _lenient(
        notices, lambda: inputs.parse_whole("report", params.get("report"), 0, MAX_REPORT_SEEDS, 0), 0, "running none"
    )
    limit = _lenient(
        notices, lambda: inputs.parse_headline_chars(params.get("headline_chars")), HEADLINE_CHARS,
        f"using {HEADLINE_CHARS}",
    )  # fmt: skip
    return seeds, limit
