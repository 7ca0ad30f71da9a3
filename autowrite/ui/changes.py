"""The fine-tune tab: what an adapter changed, token by token, on any text.

Every text shown here (typed, pasted, from a link, or the model's tokens) is escaped.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterator
from dataclasses import dataclass

import gradio as gr

from autowrite.changes import Changes, TokenChange, WordChange
from autowrite.service import Service, UserError
from autowrite.ui import lanes
from autowrite.ui.calls import caller_of, named, paced
from autowrite.ui.common import Common, RequestFields
from autowrite.ui.inspector import shown_token
from autowrite.ui.refusals import log_refusal

# Why 3 nats: a token twenty times likelier or less likely already reads as fully coloured.
FULL_CHANGE = 3.0
MAX_SHADE = 0.6
INTRO = (
    "Paste or type a text, or take the generate tab's first sample, and see what the fine-tune changed: "
    "each token under the base model and under the fine-tuned one, after the same prompt (the review fields "
    "above). **Green**: the fine-tune made the token likelier; **red**: less likely. Hover or focus a token "
    "for both probabilities. Pick one of this project's fine-tuned models above."
)


def changes_view(
    service: Service,
    text: str,
    fields: RequestFields,
    request: gr.Request,
    progress: gr.Progress = gr.Progress(),  # noqa: B008 - Gradio finds the progress bar by this default
) -> Iterator[str]:
    """The scored text as HTML: perplexities, the shaded tokens, and the words moved most.

    While it scores it yields no change every TICK_S, so a Stop or a client that left ends it there.
    A text it cannot score replaces what was shown with why, in the same place.
    """
    try:
        asked = fields.parse(service, text, text_name="text", caller=caller_of(request))
        base, parts = service.scoring(asked)
        for part in paced(parts):
            if isinstance(part, Changes):
                yield changes_html(asked.model, base, part)
            else:
                progress(part, desc="Scoring under both models")
                yield gr.skip()
    except UserError as error:
        log_refusal(error)
        yield f"<p class='chg-error' role='alert'>⚠️ {html.escape(str(error))}</p>"


def changes_html(model: str, base: str, result: Changes) -> str:
    """The page's view of a Changes."""
    summary = (
        f"<p class='chg-summary'>Perplexity of this text: <b>{result.base_perplexity:.1f}</b> under "
        f"{html.escape(base)}, <b>{result.tuned_perplexity:.1f}</b> under {html.escape(model)} "
        f"({len(result.tokens)} tokens; lower means the model expected the text more).</p>"
    )
    tokens = "".join(_token(token, number) for number, token in enumerate(result.tokens))
    lists = _words_table("Made likelier", result.raised) + _words_table("Made less likely", result.lowered)
    return (
        f"<div class='aw-inspector'>{summary}<div class='aw-tokens' role='group' "
        f"aria-label='The text, token by token'>{tokens}</div><div class='chg-words'>{lists}</div></div>"
    )


def _token(token: TokenChange, number: int) -> str:
    shade = round(MAX_SHADE * min(1.0, abs(token.change) / FULL_CHANGE), 3)
    colour = "34, 197, 94" if token.change > 0 else "239, 68, 68"
    detail = (
        f"{shown_token(token.text)}: base {_percent(token.base)}, fine-tuned {_percent(token.tuned)} "
        f"({token.change:+.2f} nats)"
    )
    return (
        f"<span class='aw-tok' tabindex='{0 if number == 0 else -1}' data-step='{number}' "
        f"style='background-color: rgba({colour}, {shade})' aria-label='{html.escape(detail, quote=True)}'>"
        f"{html.escape(token.text)}<span class='aw-alts' role='tooltip'>{html.escape(detail)}</span></span>"
    )


def _percent(logprob: float) -> str:
    return f"{math.exp(logprob):.2%}"


def _words_table(title: str, words: list[WordChange]) -> str:
    rows = (
        "".join(f"<tr><td>{html.escape(w.word)}</td><td>{w.change:+.2f}</td><td>{w.count}</td></tr>" for w in words)
        or "<tr><td colspan='3'>none</td></tr>"
    )
    return (
        f"<table class='dist chg-table'><caption>{title}</caption><thead><tr><th>word</th>"
        f"<th>change (nats)</th><th>times</th></tr></thead><tbody>{rows}</tbody></table>"
    )


@dataclass
class ChangesWidgets:
    """The tab's text, for share links, and its button, which a link presses."""

    text: gr.Textbox
    run: gr.Button


def build(service: Service, common: Common, generated: gr.Textbox) -> ChangesWidgets:
    """The tab's widgets and events; generated: the generate tab's first sample (prompt and continuation), which a button copies."""
    gr.Markdown(INTRO)
    text = gr.Textbox(label="Text to score", lines=5, elem_id="chg-text")
    with gr.Row():
        run = gr.Button("Score under both models", variant="primary", elem_id="chg-run")
        take = gr.Button("Use the generate tab's text", elem_id="chg-from-gen")
    view = gr.HTML(elem_id="chg-out", padding=False)
    take.click(lambda value: value, generated, text, api_visibility="private", queue=False)
    gr.on(
        [run.click, text.submit], **named(changes_view, service, text=text, fields=common.fields), outputs=view,
        api_visibility="private", show_progress="minimal", **lanes.GENERATE,
    )  # fmt: skip
    return ChangesWidgets(text, run)
