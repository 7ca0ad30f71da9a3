"""The share button: the link that reproduces the open tab, made from the page's widgets by name."""

from __future__ import annotations

from typing import Any

import gradio as gr
from gradio.blocks import Block

from autowrite import inputs
from autowrite.service import Service, UserError
from autowrite.ui import compare
from autowrite.ui.calls import Group, named
from autowrite.ui.common import RequestFields, page_error
from autowrite.ui.share import PageState, to_query
from autowrite.ui.sweep import Drawn

# Client side: the link is the page's address with the query, copied as it is shown.
_COPY_JS = (
    "(query) => { const url = window.location.origin + window.location.pathname + query;"
    " navigator.clipboard?.writeText(url).catch(() => {}); return url; }"
)


def share_query(
    service: Service, fields: RequestFields, prompt: str, samples: int, branch: str, settings: dict[str, Any]
) -> str:
    """The query string that reproduces the generate tab's output; settings by name."""
    request = fields.parse(service, prompt)
    chosen = service.settings(request.model, **settings)
    forced = inputs.branch_text(inputs.parse_branch(branch, chosen.max_new_tokens))
    state = PageState(
        request.model, request.task, request.text, chosen, request.rating, request.category, request.headline,
        inputs.parse_samples(samples), branch=forced,
    )  # fmt: skip
    return to_query(state)


def compare_query(
    service: Service,
    fields: RequestFields,
    compared: compare.CompareValues,
    report: int = 0,
    headline_chars: int | None = None,
    swept: Drawn | None = None,
) -> str:
    """The query string that reproduces the compare tab's columns, its report over `report` seeds and its sweep, if any."""
    request = fields.parse(service, compared.prompt)
    shown = compare.link_columns(service, fields.model, compared)
    state = PageState(
        request.model, request.task, request.text, shown[0].settings, request.rating, request.category,
        request.headline, tab="compare", columns=shown, report=int(report or 0),
        headline_chars=inputs.parse_headline_chars(headline_chars),
        **({"sweep": swept.spec, "sweep_seeds": swept.seeds} if swept else {}),
    )  # fmt: skip
    return to_query(state)


def changes_query(service: Service, fields: RequestFields, text: str) -> str:
    """The query string that opens the fine-tune tab on its text, scored on opening."""
    request = fields.parse(service, text, text_name="text")
    settings = service.settings(request.model)
    state = PageState(
        request.model, request.task, request.text, settings, request.rating, request.category, request.headline,
        tab="changes",
    )  # fmt: skip
    return to_query(state)


def share_link(
    service: Service,
    tab: str,
    fields: RequestFields,
    prompt: str,
    samples: int,
    branch: str,
    settings: dict[str, Any],
    compared: compare.CompareValues,
    report: int,
    headline_chars: int,
    text: str,
    swept: Drawn | None = None,
) -> str:
    """The query string for the open tab: the fine-tune tab's, the compare tab's (with its report), else the generate tab's.

    A page that makes no link (a bad value, or too long a prompt) says why in the page's toast.
    """
    try:
        if tab == "changes":
            return changes_query(service, fields, text)
        if tab == "compare":
            return compare_query(service, fields, compared, report, headline_chars, swept)
        return share_query(service, fields, prompt, samples, branch, settings)
    except UserError as error:
        raise page_error(error) from None


def share_row(service: Service, **read: Block | Group) -> None:
    """The share button and the link it writes (and copies); read: share_link's inputs, by its parameters' names."""
    with gr.Row(elem_id="share-row"):
        share = gr.Button("Copy share link", size="sm", elem_id="share", scale=0)
        link = gr.Textbox(
            label="Share link (reproduces the generate tab, or the compare tab while it is open)",
            elem_id="share-link",
            buttons=["copy"],
            scale=4,
        )
    share.click(**named(share_link, service, **read), outputs=link, api_visibility="private").then(
        None, link, link, js=_COPY_JS, api_visibility="private"
    )
