"""The arena tab: two anonymous samples on one prompt and seed, a vote, then the names; and the leaderboard.

The pair's id stays in the session's server-side state, and the contenders' names reach
the page only with the vote's answer. Keys vote (A, B, T for a tie, X for both bad) and
N asks for the next pair, so rating many pairs is quick; a link opens the arena on the
same restriction (tab=arena&arena_model=...&arena_preset=...). The arena's API endpoints
are registered here too (autowrite.ui.arena_api).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import gradio as gr

from autowrite.arena import inputs
from autowrite.arena.pairs import Arena
from autowrite.service import UserError
from autowrite.settings import PRESET_NAMES
from autowrite.ui import arena_api, lanes
from autowrite.ui import leaderboard as board_ui
from autowrite.ui.calls import caller_of, named, paced
from autowrite.ui.common import Common, RequestFields, as_text, page_error
from autowrite.ui.share import ARENA_FIELDS

# Each choice's button label and its key; N asks for the next pair.
CHOICES = (("a", "A is better", "A"), ("b", "B is better", "B"), ("tie", "Tie", "T"), ("both_bad", "Both bad", "X"))
NEXT_KEY = "N"
HIDDEN = "*Who wrote this shows after your vote.*"
WRITING = "Writing both samples…"
ASK_VOTE = "Which is better? Press **A** or **B**, **T** for a tie, **X** if both are bad."
# The link to the arena as restricted, written in the page: this page's address and the restriction.
LINK_JS = f"""(model, preset) => {{
  const query = new URLSearchParams({{tab: 'arena'}});
  if (model) query.set('{ARENA_FIELDS[0]}', model);
  if (preset) query.set('{ARENA_FIELDS[1]}', preset);
  return window.location.origin + window.location.pathname + '?' + query.toString();
}}"""
# Keys vote while the arena's buttons are on screen and no text field has the focus.
KEYS_JS = """
if (!window.autowriteArenaKeys) {
  window.autowriteArenaKeys = true;
  const buttons = {a: 'arena-vote-a', b: 'arena-vote-b', t: 'arena-vote-tie', x: 'arena-vote-both_bad', n: 'arena-next'};
  document.addEventListener('keydown', (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    if (event.target.closest && event.target.closest('input, textarea, select, [contenteditable="true"]')) return;
    const button = document.getElementById(buttons[event.key.toLowerCase()] || '');
    if (!button || button.offsetParent === null || button.disabled) return;
    event.preventDefault();
    button.click();
  });
}
"""


@dataclass
class ArenaWidgets:
    """The tab's widgets that its events read and fill."""

    model: gr.Dropdown
    preset: gr.Dropdown
    prompt: gr.Textbox
    next: gr.Button
    asked: gr.Markdown
    texts: list[gr.Textbox]
    names: list[gr.Markdown]
    votes: list[gr.Button]
    status: gr.Markdown
    pair: gr.State  # the id of the pair awaiting this session's vote; None when none does
    board: board_ui.BoardWidgets
    link: gr.Textbox  # the link that opens the arena on the same restriction

    def named(self) -> dict:
        """The widgets a pair and its vote fill, by name."""
        return {"asked": self.asked, "texts": self.texts, "names": self.names, "status": self.status,
                "pair": self.pair, "votes": self.votes}  # fmt: skip


def arena_stream(
    arena: Arena, only_model: str, only_preset: str, prompt: str, fields: RequestFields, request: gr.Request
) -> Iterator[dict]:
    """Write a new pair: its prompt, the two texts as they stream, then the vote buttons (ArenaWidgets.named())."""
    try:
        asked = inputs.parse_asked(
            arena, only_model, only_preset, prompt, fields.task, fields.rating, fields.category, fields.headline, None
        )
        drawn, written = arena.pair(asked, caller_of(request))
        about = f"**Prompt:** {as_text(drawn.prompt.describe())}"
        yield {"asked": about, "texts": ["", ""], "names": [HIDDEN] * 2, "status": WRITING, "pair": None,
               "votes": _voting(False)}  # fmt: skip
        for part in paced(written):
            status, pair = (ASK_VOTE, drawn.id) if part.done else (WRITING, None)
            yield {"texts": part.texts, "status": status, "pair": pair, "votes": _voting(part.done)}
    except UserError as error:
        raise page_error(error) from None


def _voting(open_: bool) -> list:
    return [gr.update(interactive=open_)] * len(CHOICES)


def cast_vote(arena: Arena, choice: str, pair: str | None, request: gr.Request) -> dict:
    """Count the vote, then name who wrote each side; the buttons wait for the next pair."""
    if not pair:
        raise gr.Error("There is no pair to vote on: press New pair (N) first.", print_exception=False)
    try:
        record = arena.vote(pair, choice, caller_of(request))
    except UserError as error:
        raise page_error(error) from None
    label = {key: text for key, text, _ in CHOICES}[choice]
    return {
        "names": [f"Written by **{as_text(c.name)}**" for c in (record.a, record.b)],
        "status": f"Your vote: **{label}**. Press **{NEXT_KEY}** for the next pair.",
        "pair": None,
        "votes": _voting(False),
    }


def board_for(arena: Arena, only_model: str, only_preset: str) -> dict:
    """The leaderboard's parts (BoardWidgets.named()) for the arena as restricted on the page."""
    try:
        return board_ui.board_view(arena, inputs.parse_restriction(arena, only_model, only_preset))
    except UserError as error:
        raise page_error(error) from None


def from_link(arena: Arena, request: gr.Request) -> dict:
    """The restriction a link asks for; a model or preset the arena does not offer is left open."""
    params = dict(request.query_params) if request else {}
    model, preset = (params.get(name, "") for name in ARENA_FIELDS)
    return {
        "only_model": model if model in arena.models else "",
        "only_preset": preset if preset in PRESET_NAMES else "",
    }


def build(arena: Arena, common: Common) -> ArenaWidgets:
    """The tab's widgets and events, and the arena's API endpoints."""
    gr.Markdown(
        "Two anonymous contenders, each a model with a preset, write the same prompt with the same seed. "
        f"Vote for the better one; only then are their names shown. Keys: **A**, **B**, **T** (tie), "
        f"**X** (both bad), **{NEXT_KEY}** (next pair).",
        elem_id="arena-intro",
    )
    gr.HTML("", js_on_load=KEYS_JS, visible="hidden", elem_id="arena-keys")
    widgets = _controls(arena)
    _events(arena, common, widgets)
    arena_api.register(arena)
    return widgets


def _controls(arena: Arena) -> ArenaWidgets:
    with gr.Row(equal_height=True):
        model = gr.Dropdown([("Any model", ""), *((n, n) for n in arena.models)], value="", label="Only model",
                            info="Its presets compete", elem_id="arena-model", scale=2)  # fmt: skip
        preset = gr.Dropdown([("Any preset", ""), *((n, n) for n in PRESET_NAMES)], value="", label="Only preset",
                             info="The models compete", elem_id="arena-preset", scale=1)  # fmt: skip
        link = gr.Textbox(label="Link to this arena", elem_id="arena-link", buttons=["copy"], scale=2)
    with gr.Row(equal_height=True):
        prompt = gr.Textbox(
            label="Prompt", placeholder="Empty: one is drawn from the models' examples, at random stars and category",
            info="A typed prompt is written as Write, stars, category and headline above ask",
            elem_id="arena-prompt", scale=4,
        )  # fmt: skip
        go = gr.Button(f"New pair ({NEXT_KEY})", variant="primary", elem_id="arena-next", scale=1)
    asked = gr.Markdown(elem_id="arena-asked")
    texts, names = [], []
    with gr.Row(equal_height=True):
        for side in ("a", "b"):
            with gr.Column():
                texts.append(gr.Textbox(label=side.upper(), lines=7, interactive=False, elem_id=f"arena-text-{side}"))
                names.append(gr.Markdown(HIDDEN, elem_id=f"arena-name-{side}"))
    with gr.Row():
        votes = [gr.Button(f"{label} ({key})", interactive=False, elem_id=f"arena-vote-{choice}") for choice, label, key
                 in CHOICES]  # fmt: skip
    status = gr.Markdown(elem_id="arena-status")
    board = board_ui.build()
    return ArenaWidgets(model, preset, prompt, go, asked, texts, names, votes, status, gr.State(None), board, link)


def _events(arena: Arena, common: Common, w: ArenaWidgets) -> None:
    restriction = {"only_model": w.model, "only_preset": w.preset}  # "model" is the page's, in common.fields
    w.next.click(
        **named(arena_stream, arena, **restriction, prompt=w.prompt, fields=common.fields, outputs=w.named()),
        api_visibility="private", show_progress="minimal", **lanes.GENERATE,
    )  # fmt: skip
    refreshed = {**named(board_for, arena, **restriction, outputs=w.board.named()), "show_progress": "hidden"}
    for button, (choice, _, _) in zip(w.votes, CHOICES, strict=True):
        voted = named(cast_vote, arena, choice, pair=w.pair, outputs=w.named())
        button.click(**voted, api_visibility="private", **arena_api.VOTE).success(**refreshed, api_visibility="private")
    w.board.refresh.click(**refreshed, api_visibility="private")
    for widget in (w.model, w.preset):
        widget.input(**refreshed, api_visibility="private")
        widget.input(None, [w.model, w.preset], w.link, js=LINK_JS, api_visibility="private")
    linked = named(from_link, arena, outputs=restriction)
    loaded = gr.on(None, **linked, api_visibility="private")
    loaded.then(**refreshed, api_visibility="private")
    loaded.then(None, [w.model, w.preset], w.link, js=LINK_JS, api_visibility="private")
