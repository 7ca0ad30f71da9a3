"""Share links: the page state as URL query parameters, named like the settings, and back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from autowrite.formats import CATEGORIES, RATINGS, Task
from autowrite.service import MAX_PROMPT_CHARS, MAX_SAMPLES, Service, UserError
from autowrite.settings import FIELDS, SamplingSettings

# Parameters besides the sampling settings, in the order they appear in a link.
PAGE_FIELDS = ("model", "mode", "prompt", "rating", "category", "headline", "samples")


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
    notices: list[str] = field(default_factory=list)


def to_query(state: PageState) -> str:
    """The query string ("?model=...&temperature=...") for a page state."""
    values = {
        "model": state.model,
        "mode": state.mode.value,
        "prompt": state.prompt,
    }
    if state.mode is Task.REVIEW:
        values.update(rating=state.rating, category=state.category, headline=state.headline)
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
    unknown = set(params) - set(PAGE_FIELDS) - set(FIELDS) - {"__theme", "view"}
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
        notices=notices,
    )


def _choice(params: Mapping[str, str], name: str, allowed: list[str], default: str, notices: list[str]) -> str:
    value = params.get(name)
    if value is None or value == "":
        return default
    if value not in allowed:
        notices.append(f"{name} must be one of {', '.join(allowed)}, got {value!r}; using {default}.")
        return default
    return value
