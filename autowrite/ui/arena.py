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
from autowrite.ui.calls import bound, caller_of, paced
from autowrite.ui.common import Common, as_text, page_error
from autowrite.ui.share import ARENA_FIELDS

# Each choice's button label and its key; N asks for the next pair.
CHOICES = (("a", "A is better", "A"), ("b", "B is better", "B"), ("tie", "Tie", "T"), ("both_bad", "Both bad", "X"))
NEXT_KEY = "N"
HIDDEN = "*Who wrote this shows after your vote.*"
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

    def pair_outputs(self) -> list:
        """What arena_stream fills, in its order."""
        return [self.asked, *self.texts, *self.names, self.status, self.pair, *self.votes]


def arena_stream(
    arena: Arena,
    model: str,
    preset: str,
    prompt: str,
    task: str,
    rating: int,
    category: str,
    headline: str,
    request: gr.Request,
) -> Iterator[list]:
    """Write a new pair: its prompt, the two texts as they stream, then the vote buttons."""
    try:
        asked = inputs.parse_asked(arena, model, preset, prompt, task, rating, category, headline, None)
        drawn, written = arena.pair(asked, caller_of(request))
        about = f"**Prompt:** {as_text(drawn.prompt.describe())}"
        voting = [gr.update(interactive=False)] * len(CHOICES)
        yield [about, "", "", HIDDEN, HIDDEN, "Writing both samples…", None, *voting]
        for part in paced(written):
            status, pair = (ASK_VOTE, drawn.id) if part.done else ("Writing both samples…", None)
            yield [about, *part.texts, HIDDEN, HIDDEN, status, pair, *[gr.update(interactive=part.done)] * len(CHOICES)]
    except UserError as error:
        raise page_error(error) from None


def cast_vote(arena: Arena, choice: str, pair_id: str | None, request: gr.Request) -> list:
    """Count the vote, then name who wrote each side; the buttons wait for the next pair."""
    if not pair_id:
        raise gr.Error("There is no pair to vote on: press New pair (N) first.", print_exception=False)
    try:
        record = arena.vote(pair_id, choice, caller_of(request))
    except UserError as error:
        raise page_error(error) from None
    label = dict((key, text) for key, text, _ in CHOICES)[choice]
    names = [f"Written by **{as_text(c.name)}**" for c in (record.a, record.b)]
    status = f"Your vote: **{label}**. Press **N** for the next pair."
    return [*names, status, None, *[gr.update(interactive=False)] * len(CHOICES)]


def board_for(arena: Arena, model: str, preset: str) -> list:
    """The leaderboard's parts for the arena as restricted on the page."""
    try:
        return board_ui.board_view(arena, inputs.parse_restriction(arena, model, preset))
    except UserError as error:
        raise page_error(error) from None


def from_link(arena: Arena, request: gr.Request) -> list:
    """The restriction a link asks for; a model or preset the arena does not offer is left open."""
    params = dict(request.query_params) if request else {}
    model, preset = (params.get(name, "") for name in ARENA_FIELDS)
    return [model if model in arena.models else "", preset if preset in PRESET_NAMES else ""]


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
    fields = [common.task, common.rating, common.category, common.headline]
    w.next.click(
        bound(arena_stream, arena), [w.model, w.preset, w.prompt, *fields], w.pair_outputs(),
        api_visibility="private", show_progress="minimal", **lanes.GENERATE,
    )  # fmt: skip
    refreshed = dict(fn=bound(board_for, arena), inputs=[w.model, w.preset], outputs=w.board.outputs(),
                     api_visibility="private", show_progress="hidden")  # fmt: skip
    for button, (choice, _, _) in zip(w.votes, CHOICES, strict=True):
        button.click(
            bound(cast_vote, arena, choice), w.pair, [*w.names, w.status, w.pair, *w.votes], api_visibility="private",
            **arena_api.VOTE,
        ).success(**refreshed)  # fmt: skip
    w.board.refresh.click(**refreshed)
    for restriction in (w.model, w.preset):
        restriction.input(**refreshed)
    for restriction in (w.model, w.preset):
        restriction.input(None, [w.model, w.preset], w.link, js=LINK_JS, api_visibility="private")
    loaded = gr.on(None, bound(from_link, arena), None, [w.model, w.preset], api_visibility="private")
    loaded.then(**refreshed)
    loaded.then(None, [w.model, w.preset], w.link, js=LINK_JS, api_visibility="private")
