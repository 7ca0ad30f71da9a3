"""Named API endpoints (suggest, generate, tokens, compare, report, changes) for gradio_client and the REST protocol.

Parameters are spelled as in share links, and every one may be left out or null, which
means its default: the model card's settings, and for compare 60 tokens, as on its tab.
Each raw value goes through autowrite.inputs (or the settings parser) before anything
else runs, so any JSON a client sends is answered with a result or an error that names
the parameter and the problem.

category is one of the app's categories (formats.CATEGORIES, listed as the parameter's
choices in /gradio_api/info); a data file's spelling (Pet_Supplies) reads too. Left out,
a review is about Electronics, and an ad names no category, as the ads whose source
names none.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any, Literal

import gradio as gr

from autowrite import inputs
from autowrite.backends.base import Step
from autowrite.changes import Changes
from autowrite.formats import CATEGORIES
from autowrite.report import Asked, report_columns
from autowrite.service import CompareColumn, Request, Service, UserError, Variant
from autowrite.settings import FIELDS, SamplingSettings, SettingsError
from autowrite.ui import lanes
from autowrite.ui.calls import caller_of, paced
from autowrite.ui.common import RequestFields
from autowrite.ui.inspector import NO_STEPS
from autowrite.ui.refusals import refused

GHOST_TOKENS = 8  # the ghost's length when a call does not say
# The category parameter's choices, as the API's description lists them; the value is
# still checked by autowrite.inputs, which also reads a data file's spelling.
Category = Literal[CATEGORIES]


def suggest(
    service: Service,
    caller: str,
    text: str | None = None,
    model: str | None = None,
    mode: str | None = None,
    rating: int | None = None,
    category: Category | None = None,
    headline: str | None = None,
    ghost_tokens: int | None = None,
) -> dict:
    """Next words (or completions of the word being typed) with probabilities, and ghost text.

    ghost_tokens=0 returns the words alone, as the live tab shows them: from one model
    call, the best word finished to its end only where that position is already
    computed (a call with ghost text computes it, as the tab's second event does).
    """
    request = RequestFields(model, mode, rating, category, headline).parse(
        service, text, text_name="text", caller=caller
    )
    tokens = inputs.parse_ghost_tokens(ghost_tokens, GHOST_TOKENS)
    result = service.suggest(request, ghost_tokens=tokens, finish=tokens != 0)
    return {
        "partial": result.partial,
        "words": [{"word": w.word, "append": w.append, "probability": round(w.probability, 4)} for w in result.words],
        "ghost": result.ghost,
    }


def generate(
    service: Service,
    caller: str,
    prompt: str | None = None,
    model: str | None = None,
    temperature: float | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
    repetition_penalty: float | None = None,
    max_new_tokens: int | None = None,
    do_sample: bool | None = None,
    seed: int | None = None,
    mode: str | None = None,
    rating: int | None = None,
    category: Category | None = None,
    headline: str | None = None,
    min_p: float | None = None,
    no_repeat_ngram_size: int | None = None,
    branch: str | None = None,
    rating_guidance: float | None = None,
    typical_p: float | None = None,
    epsilon_cutoff: float | None = None,
    eta_cutoff: float | None = None,
    top_n_sigma: float | None = None,
    xtc_probability: float | None = None,
    xtc_threshold: float | None = None,
    dry_multiplier: float | None = None,
    dry_base: float | None = None,
    dry_allowed_length: int | None = None,
    dry_penalty_last_n: int | None = None,
    dry_sequence_breakers: str | list[str] | None = None,
    mirostat: int | None = None,
    mirostat_tau: float | None = None,
    mirostat_eta: float | None = None,
    logit_bias: str | dict | list | None = None,
    banned_words: str | list[str] | None = None,
    samplers: str | list[str] | None = None,
) -> Iterator[str]:
    """Stream the generated text (the continuation only); the last message is the whole text.

    branch: tokens chosen by hand, "12:345,20:77" (step 12, counting from 0, writes token id
    345, ...), as a branch link's; the random stream goes on as drawn, so the text is the
    one the token inspector's branch showed. rating_guidance (reviews; 1 = off) steers
    the text toward the stars asked. category: a review's, or an ad's (left out, none).
    The samplers from typical_p on are named as llama.cpp's server names them
    (docs/samplers.md); logit_bias is text ("great: 2, awful: -5") or an object, banned_words,
    dry_sequence_breakers and samplers (the cuts' order) text ("word, other") or a list. Parameters come in the order
    they were added, so calls made before one existed keep their meaning.
    """
    request, chosen, forced = _generation(service, caller, locals())
    for output in service.stream(request, chosen, branch=forced):
        yield output.texts[0]


def tokens(service: Service, caller: str, *values: Any) -> Iterator[dict]:
    """generate's text token by token: each token's probability under the model and after the
    settings, and the 10 likeliest tokens at its place ("chosen" marks the one written).

    The parameters are generate's. A model whose server gives no probabilities answers the
    text with "tokens": null and a note. The answer streams: each message is the text so
    far, the last one the whole.
    """
    request, chosen, forced = _generation(service, caller, _GENERATE.bind(service, caller, *values).arguments)
    for output in paced(service.stream(request, chosen, inspect=True, branch=forced)):
        sample = output.samples[0]
        if sample.steps is None:
            yield {"text": sample.text, "tokens": None, "note": NO_STEPS}
        else:
            yield {"text": sample.text, "tokens": [_step(step) for step in sample.steps]}


# tokens takes generate's parameters: one list, the API's documentation for both.
_GENERATE = inspect.signature(generate)
tokens.__signature__ = _GENERATE.replace(return_annotation="Iterator[dict]")
tokens.__annotations__ = {**generate.__annotations__, "return": "Iterator[dict]"}


def _generation(service: Service, caller: str, given: dict[str, Any]) -> tuple[Request, SamplingSettings, dict]:
    """generate's and tokens' parameters, by name, checked: the request, its settings and its branch."""
    fields = RequestFields(*(given.get(name) for name in ("model", "mode", "rating", "category", "headline")))
    request = fields.parse(service, given.get("prompt"), caller=caller)
    chosen = service.settings(request.model, **{name: given.get(name) for name in FIELDS})
    return request, chosen, inputs.parse_branch(given.get("branch"), chosen.max_new_tokens)


def _step(step: Step) -> dict:
    return {
        "text": step.text,
        "token_id": step.token_id,
        "probability": round(step.raw, 5),
        "adjusted": round(step.adjusted, 5),
        "forced": step.forced,
        "alternatives": [
            {
                "token": a.text,
                "token_id": a.token_id,
                "probability": round(a.raw, 5),
                "adjusted": round(a.adjusted, 5),
                "chosen": step.wrote(a),
            }
            for a in step.alternatives
        ],
    }


def changes(
    service: Service,
    caller: str,
    text: str | None = None,
    model: str | None = None,
    mode: str | None = None,
    rating: int | None = None,
    category: Category | None = None,
    headline: str | None = None,
) -> Iterator[dict]:
    """What a fine-tune changed on a text: each token's log-probability under the model's base and under
    the fine-tuned model (model must have an adapter), after the same prompt; each model's perplexity;
    and the words made most and least likely (mean change in nats over their occurrences).
    Messages before the last carry only "progress", the share scored so far."""
    request = RequestFields(model, mode, rating, category, headline).parse(
        service, text, text_name="text", caller=caller
    )
    base, parts = service.scoring(request)
    for part in paced(parts):
        if isinstance(part, Changes):
            yield _changes_answer(request.model, base, part)
        else:
            yield {"progress": round(part, 3)}


def _changes_answer(model: str, base: str, result: Changes) -> dict:
    return {
        "model": model,
        "base_model": base,
        "perplexity": {"base": round(result.base_perplexity, 4), "tuned": round(result.tuned_perplexity, 4)},
        "tokens": [
            {
                "text": t.text,
                "token_id": t.token_id,
                "base_logprob": round(t.base, 5),
                "tuned_logprob": round(t.tuned, 5),
                "change": round(t.change, 5),
            }
            for t in result.tokens
        ],  # fmt: skip
        "raised": [{"word": w.word, "change": round(w.change, 4), "count": w.count} for w in result.raised],
        "lowered": [{"word": w.word, "change": round(w.change, 4), "count": w.count} for w in result.lowered],
    }


def compare(
    service: Service,
    caller: str,
    prompt: str | None = None,
    model: str | None = None,
    presets: list[str] | None = None,
    seed: int | None = None,
    max_new_tokens: int | None = None,
    mode: str | None = None,
    rating: int | None = None,
    category: Category | None = None,
    headline: str | None = None,
    columns: list[dict] | None = None,
) -> Iterator[list[dict]]:
    """The same prompt and seed under several presets, with each one's next-token distribution.

    columns: each column's own model and settings over its preset, in the order of presets
    ({"model": "...", "temperature": 0.6, "top_k": 5}, ...), as a compare link's c1_model,
    c1_temperature, c1_top_k... A column without a model uses the page's (model). Columns on
    one model decode as one batch; a column whose model cannot load has an "error" and no text.
    The answer streams: each message has the texts so far, the last one the whole texts.
    """
    fields = RequestFields(model, mode, rating, category, headline)
    request, names, variants = asked_columns(service, caller, prompt, fields, presets, columns, seed, max_new_tokens)
    shown, outputs = service.compare(request, variants)
    for output in paced(outputs):
        yield [
            {"preset": name, "model": c.model, "settings": c.settings.as_dict(), "text": text, **_distribution(c)}
            for name, c, text in zip(names, shown, output.texts, strict=True)
        ]


def report(
    service: Service,
    caller: str,
    prompt: str | None = None,
    model: str | None = None,
    presets: list[str] | None = None,
    seed: int | None = None,
    max_new_tokens: int | None = None,
    mode: str | None = None,
    rating: int | None = None,
    category: Category | None = None,
    headline: str | None = None,
    columns: list[dict] | None = None,
    seeds: int | None = None,
    headline_chars: int | None = None,
) -> Iterator[list[dict]]:
    """The compare columns over `seeds` seeds each (default 8, at most 32): one report per column.

    The parameters before seeds are compare's, checked the same way. Each report has the
    column's diversity (distinct_1, distinct_2), repetition_4, fit_logprob_per_token, mean_words,
    ended_on_its_own and, for reviews, read_as_asked and mean_positive (from the checkpoint's
    tone probe; null without one), for ads within_headline_chars (headline_chars, default 80);
    and its samples, each with a note. A column whose model cannot load has an "error".
    Messages before the last are empty lists while the samples are written.
    """
    fields = RequestFields(model, mode, rating, category, headline)
    request, names, variants = asked_columns(service, caller, prompt, fields, presets, columns, seed, max_new_tokens)
    count = inputs.parse_seeds(seeds)
    asked = Asked(request.task, request.rating, request.category, inputs.parse_headline_chars(headline_chars))
    failures, outputs = service.report(request, variants, count)
    samples = []
    for output in paced(outputs):
        samples = output.samples
        yield []
    probes = {v.model: service.probe(v.model) for v in variants}
    labelled = [(v.model, name) for v, name in zip(variants, names, strict=True)]
    yield [r.as_dict() for r in report_columns(labelled, samples, count, asked, probes, failures)]


def asked_columns(
    service: Service,
    caller: str,
    prompt: Any,
    fields: RequestFields,
    presets: Any,
    columns: Any,
    seed: Any,
    max_new_tokens: Any,
) -> tuple[Request, list[str], list[Variant]]:
    """compare's, report's and sweep's shared parameters, checked: the request, the presets and each column."""
    request = fields.parse(service, prompt, caller=caller)
    names = inputs.parse_presets(presets)
    own = inputs.parse_columns(columns, len(names))
    return request, names, service.columns(request.model, names, own, seed, inputs.parse_compare_tokens(max_new_tokens))


def _distribution(column: CompareColumn) -> dict:
    """A column's next-token distribution, or null and why: its model gives none (TGI), or could not write."""
    if column.failed:  # the other columns are still worth having, as on the compare tab
        return {"distribution": None, "error": column.note}
    if column.distribution is None:
        return {"distribution": None, "distribution_note": column.note}
    return {
        "distribution": [
            {"token": c.token, "probability": round(c.raw, 4), "adjusted": round(c.adjusted, 4)}
            for c in column.distribution
        ]
    }


# The public endpoints and the queue lane each runs in. Their signatures, less the service,
# are the API's documentation: gradio_client and /gradio_api/info read them.
ENDPOINTS = (
    (suggest, lanes.SUGGEST),
    (generate, lanes.GENERATE),
    (tokens, lanes.GENERATE),
    (compare, lanes.GENERATE),
    (changes, lanes.GENERATE),
    (report, lanes.GENERATE),
)


def register(service: Service) -> None:
    """Add the endpoints to the Blocks being built."""
    for endpoint, lane in ENDPOINTS:
        gr.api(published(endpoint, service), api_name=endpoint.__name__, **lane)


def published(endpoint: Callable, service: Service) -> Callable:
    """The endpoint for this service and its caller, its named errors as the client's answer (gr.Error).

    The endpoint's first two parameters (the service, the caller) are not the API's: the
    caller comes from the call's gr.Request, a last parameter that Gradio fills in (after
    every value, in order) and lists nowhere.
    """
    if inspect.isgeneratorfunction(endpoint):  # Gradio streams only what is itself a generator function

        def call(*args: Any) -> Iterator:
            *values, request = args
            try:
                yield from endpoint(service, caller_of(request), *values)
            except (UserError, SettingsError) as error:
                raise refused(error) from None

    else:

        def call(*args: Any) -> Any:
            *values, request = args
            try:
                return endpoint(service, caller_of(request), *values)
            except (UserError, SettingsError) as error:
                raise refused(error) from None

    functools.update_wrapper(call, endpoint)
    signature = inspect.signature(endpoint)
    given = list(signature.parameters.values())[2:]
    request = inspect.Parameter(
        "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation="gr.Request"
    )
    call.__signature__ = signature.replace(parameters=[*given, request])
    call.__annotations__ = {**endpoint.__annotations__, "request": "gr.Request"}
    return call
