"""Share links: the page state as URL query parameters, named like the settings, and back.

A link reproduces the generate tab, or with tab=compare the compare tab: its presets
(presets=Greedy,Creative) and each column's settings (c1_temperature=..., c2_top_k=...),
from the same prompt, seed and length.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from autowrite.formats import CATEGORIES, RATINGS, Task
from autowrite.service import MAX_COLUMNS, MAX_PROMPT_CHARS, MAX_SAMPLES, Service, UserError
from autowrite.settings import FIELDS, PRESET_NAMES, SamplingSettings, preset

# Parameters besides the sampling settings, in the order they appear in a link.
PAGE_FIELDS = ("tab", "model", "mode", "prompt", "rating", "category", "headline", "samples", "presets")
TABS = ("generate", "compare")
# A compare column's own settings; the seed and the length are the same for every column.
COLUMN_FIELDS = ("temperature", "top_k", "top_p", "repetition_penalty", "do_sample")
MIN_COLUMNS = 2
COMPARE_MAX_TOKENS = 200  # the compare tab's length slider


@dataclass
class Column:
    """One compare column: the preset it started from and its settings (seed and length shared)."""

    preset: str
    settings: SamplingSettings


def column_parameters(index: int) -> list[str]:
    """A column's parameter names in a link (c1_temperature, ...), counting from 1 as the page does."""
    return [f"c{index}_{name}" for name in COLUMN_FIELDS]


@dataclass
class PageState:
    """Everything a share link restores."""

    model: str
    mode: Task
    prompt: str
    settings: SamplingSettings
    rating: int = 5
    category: str = "Electronics"
    headline: str = ""
    samples: int = 1
    tab: str = "generate"
    columns: list[Column] = field(default_factory=list)  # the compare tab's, when tab is "compare"
    notices: list[str] = field(default_factory=list)


def to_query(state: PageState) -> str:
    """The query string ("?model=...&temperature=...") for a page state."""
    values: dict[str, object] = {}
    if state.tab == "compare":
        values["tab"] = "compare"
    values.update(model=state.model, mode=state.mode.value, prompt=state.prompt)
    if state.mode is Task.REVIEW:
        values.update(rating=state.rating, category=state.category, headline=state.headline)
    if state.tab == "compare":
        values.update(seed=state.settings.seed, max_new_tokens=state.settings.max_new_tokens)
        values["presets"] = ",".join(column.preset for column in state.columns)
        for index, column in enumerate(state.columns, 1):
            for name, parameter in zip(COLUMN_FIELDS, column_parameters(index)):
                values[parameter] = _text(getattr(column.settings, name))
    else:
        values.update({name: _text(value) for name, value in state.settings.as_dict().items()})
        if state.samples != 1:
            values["samples"] = state.samples
    return "?" + urlencode({k: v for k, v in values.items() if v not in ("", None)})


def _text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def from_query(service: Service, params: Mapping[str, str]) -> PageState:
    """The page state a link asks for; unknown or out-of-range values fall back, with notices."""
    notices: list[str] = []
    model = params.get("model") or service.default_name
    try:
        entry = service.entry(model)
    except UserError:
        notices.append(f"Unknown model {model!r}; showing {service.default_name} instead.")
        entry = service.entry(service.default_name)
    mode = entry.task
    if params.get("mode"):
        try:
            mode = Task(params["mode"])
        except ValueError:
            notices.append(f"Unknown mode {params['mode']!r}; using {mode.value}.")
    prompt = params.get("prompt", "")
    if len(prompt) > MAX_PROMPT_CHARS:
        notices.append(f"The prompt in the link was cut to {MAX_PROMPT_CHARS:,} characters.")
        prompt = prompt[:MAX_PROMPT_CHARS]
    settings, setting_notices = SamplingSettings.lenient(
        {k: v for k, v in params.items() if k in FIELDS}, base=entry.defaults
    )
    notices += setting_notices
    rating = _choice(params, "rating", [str(r) for r in RATINGS], "5", notices)
    category = _choice(params, "category", list(CATEGORIES), "Electronics", notices)
    samples = _choice(params, "samples", [str(n) for n in range(1, MAX_SAMPLES + 1)], "1", notices)
    tab = _choice(params, "tab", list(TABS), "generate", notices)
    columns: list[Column] = []
    if tab == "compare":
        if settings.max_new_tokens > COMPARE_MAX_TOKENS:
            notices.append(
                f"The compare tab writes at most {COMPARE_MAX_TOKENS} tokens per column; using {COMPARE_MAX_TOKENS}."
            )
            settings = settings.replace(max_new_tokens=COMPARE_MAX_TOKENS)
        columns = _columns(params, entry.defaults, settings, notices)
    column_names = {p for index in range(1, MAX_COLUMNS + 1) for p in column_parameters(index)}
    unknown = set(params) - set(PAGE_FIELDS) - set(FIELDS) - column_names - {"__theme", "view"}
    if unknown:
        notices.append(f"Ignored unknown parameter(s): {', '.join(sorted(unknown))}.")
    return PageState(
        model=entry.name,
        mode=mode,
        prompt=prompt,
        settings=settings,
        rating=int(rating),
        category=category,
        headline=params.get("headline", "")[:200],
        samples=int(samples),
        tab=tab,
        columns=columns,
        notices=notices,
    )


def _columns(
    params: Mapping[str, str], card: SamplingSettings, shared: SamplingSettings, notices: list[str]
) -> list[Column]:
    """The compare columns a link asks for: each preset, then the column's own values over it."""
    names = [name.strip() for name in params.get("presets", "").split(",") if name.strip()]
    if not names:
        names = list(PRESET_NAMES[:MAX_COLUMNS])
    if not MIN_COLUMNS <= len(names) <= MAX_COLUMNS:
        kept = (names + list(PRESET_NAMES))[: min(max(len(names), MIN_COLUMNS), MAX_COLUMNS)]
        notices.append(
            f"The compare tab shows {MIN_COLUMNS} to {MAX_COLUMNS} columns, got {len(names)}; showing {len(kept)}."
        )
        names = kept
    columns = []
    for index, name in enumerate(names, 1):
        if name not in PRESET_NAMES:
            fallback = PRESET_NAMES[(index - 1) % len(PRESET_NAMES)]
            notices.append(f"Column {index}: unknown preset {name!r}; using {fallback}.")
            name = fallback
        base = preset(name, card, shared.max_new_tokens, shared.seed)
        own = {field: params.get(parameter) for field, parameter in zip(COLUMN_FIELDS, column_parameters(index))}
        settings, column_notices = SamplingSettings.lenient(own, base=base)
        notices += [f"Column {index}: {notice}" for notice in column_notices]
        columns.append(Column(name, settings))
    return columns


def _choice(params: Mapping[str, str], name: str, allowed: list[str], default: str, notices: list[str]) -> str:
    value = params.get(name)
    if value is None or value == "":
        return default
    if value not in allowed:
        notices.append(f"{name} must be one of {', '.join(allowed)}, got {value!r}; using {default}.")
        return default
    return value
