"""Named API endpoints (suggest, generate, compare) for gradio_client and the REST protocol.

Parameters are spelled as in share links. A setting left out (None) takes the model's
default from its card (but compare's length is 60 tokens, as on the compare tab); every
value is validated like the UI's and a bad one is an error naming the parameter and its bounds.
"""

from __future__ import annotations

from collections.abc import Iterator

import gradio as gr

from autowrite.engine import last
from autowrite.formats import Task
from autowrite.service import MAX_COLUMNS, Request, Service, Unavailable, UserError
from autowrite.settings import PRESET_NAMES, SamplingSettings, SettingsError, preset
from autowrite.ui import lanes
from autowrite.ui.share import COLUMN_FIELDS


def _request(service: Service, model: str, mode: str, text: str, rating: int, category: str, headline: str) -> Request:
    entry = service.entry(model)
    try:
        task = Task(mode) if mode else entry.task
    except ValueError:
        raise UserError(f"mode must be one of review, ad, free; got {mode!r}") from None
    return Request(model=entry.name, mode=task, text=text, rating=rating, category=category, headline=headline)


def register(service: Service) -> None:
    """Add the endpoints to the Blocks being built."""

    def suggest(
        text: str,
        model: str = "",
        mode: str = "",
        rating: int = 5,
        category: str = "Electronics",
        headline: str = "",
        ghost_tokens: int = 8,
    ) -> dict:
        """Next words (or completions of the word being typed) with probabilities, and ghost text.

        ghost_tokens=0 returns the words alone, as the live tab shows them: from one model
        call, the best word finished to its end only where that position is already
        computed (a call with ghost text computes it, as the tab's second event does).
        """
        try:
            if isinstance(ghost_tokens, float) and ghost_tokens.is_integer():
                ghost_tokens = int(ghost_tokens)  # JSON numbers may arrive as floats
            result = service.suggest(
                _request(service, model, mode, text, rating, category, headline),
                ghost_tokens=ghost_tokens,
                finish=ghost_tokens != 0,  # a bad value is refused by service.suggest
            )
        except UserError as error:
            raise gr.Error(str(error)) from None
        return {
            "partial": result.partial,
            "words": [
                {"word": w.word, "append": w.append, "probability": round(w.probability, 4)} for w in result.words
            ],
            "ghost": result.ghost,
        }

    def generate(
        prompt: str,
        model: str = "",
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        repetition_penalty: float | None = None,
        max_new_tokens: int | None = None,
        do_sample: bool | None = None,
        seed: int | None = None,
        mode: str = "",
        rating: int = 5,
        category: str = "Electronics",
        headline: str = "",
    ) -> Iterator[str]:
        """Stream the generated text (the continuation only); the last message is the whole text."""
        try:
            request = _request(service, model, mode, prompt, rating, category, headline)
            settings = service.settings(
                request.model,
                temperature=temperature,
                top_k=top_k,
                top_p=top_p,
                repetition_penalty=repetition_penalty,
                max_new_tokens=max_new_tokens,
                do_sample=do_sample,
                seed=seed,
            )
            for output in service.stream(request, settings):
                yield output.texts[0]
        except UserError as error:
            raise gr.Error(str(error)) from None

    def compare(
        prompt: str,
        model: str = "",
        presets: list[str] | None = None,
        seed: int | None = None,
        max_new_tokens: int = 60,
        mode: str = "",
        rating: int = 5,
        category: str = "Electronics",
        headline: str = "",
        columns: list[dict] | None = None,
    ) -> list[dict]:
        """The same prompt and seed under several presets, with each one's next-token distribution.

        columns: each column's own settings over its preset, in the order of presets
        ({"temperature": 0.6, "top_k": 5}, ...), as a compare link's c1_temperature, c1_top_k...
        """
        names = list(presets or PRESET_NAMES)
        try:
            if not 1 <= len(names) <= MAX_COLUMNS:
                raise UserError(f"presets: between 1 and {MAX_COLUMNS}, got {len(names)}")
            own = list(columns or [])
            if len(own) > len(names):
                raise UserError(f"columns: at most one per preset ({len(names)}), got {len(own)}")
            request = _request(service, model, mode, prompt, rating, category, headline)
            base = service.settings(request.model, max_new_tokens=max_new_tokens, seed=seed)
            variants = []
            for index, name in enumerate(names):
                settings = preset(name, service.entry(request.model).defaults, base.max_new_tokens, base.seed)
                values = own[index] if index < len(own) else {}
                if not isinstance(values, dict) or set(values) - set(COLUMN_FIELDS):
                    raise UserError(
                        f"columns[{index}]: a column takes only {', '.join(COLUMN_FIELDS)} "
                        "(the seed and length are shared)"
                    )
                variants.append(SamplingSettings.from_mapping(values, base=settings))
            output = last(service.stream_each(request, variants))
            return [
                {"preset": name, "settings": settings.as_dict(), "text": text, **_distribution(request, settings)}
                for name, settings, text in zip(names, variants, output.texts)
            ]
        except (UserError, SettingsError) as error:
            raise gr.Error(str(error)) from None

    def _distribution(request: Request, settings: SamplingSettings) -> dict:
        """A column's next-token distribution, or null and why, where the server gives none (TGI)."""
        try:
            candidates = service.distribution(request, settings)
        except Unavailable as error:  # the texts are still worth having, as on the compare tab
            return {"distribution": None, "distribution_note": str(error)}
        return {
            "distribution": [
                {"token": c.token, "probability": round(c.raw, 4), "adjusted": round(c.adjusted, 4)} for c in candidates
            ]
        }

    gr.api(suggest, api_name="suggest", **lanes.SUGGEST)
    gr.api(generate, api_name="generate", **lanes.GENERATE)
    gr.api(compare, api_name="compare", **lanes.GENERATE)
