"""The live completion tab: next words, the word being typed, and ghost text as you type."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import gradio as gr

from autowrite.backends.base import Word
from autowrite.service import Service, UserError
from autowrite.ui import lanes
from autowrite.ui.calls import named
from autowrite.ui.common import Common, RequestFields, as_text

WORD_BUTTONS = 5
# Why twice the chips: the model's likeliest candidates are often punctuation (after "wife":
# "..", ",", '"'), which the chips leave out; the rest still fill the chips. The candidates
# come from the positions the words are computed at anyway, so asking for more runs no more
# of the model (on a typing trace, the same positions as for 5).
WORDS_ASKED = 2 * WORD_BUTTONS
_WORD = re.compile(r"\w")
# Why 250 ms: the ghost continuation is asked for once typing pauses this long, not after
# every keystroke. At 5 keystrokes a second a ghost is replaced before it can be read, and
# under the load test (16 typists) a ghost per keystroke cost more than the words
# themselves (eight sequential decodes against one) and pushed the words' p95 up.
GHOST_PAUSE_MS = 250
# Client side: every edit restarts the pause timer; when it runs out, the hidden ghost-trigger
# button asks for the words and then the ghost of the text as it is then, unless the box shows
# a ghost for that text: after a word taken from a ghost (Ctrl+Right), its rest still continues
# the text, and a new ghost would replace it under the person's eyes (assets/keys.js).
_SCHEDULE_GHOST_JS = f"""() => {{
  clearTimeout(window.autowriteGhostTimer);
  window.autowriteGhostTimer = setTimeout(() => {{
    if (!window.autowriteGhostShown?.()) document.querySelector("#ghost-trigger")?.click();
  }}, {GHOST_PAUSE_MS});
}}"""


def live_suggest(service: Service, text: str, fields: RequestFields) -> dict:
    """Next words for the text so far, by output name: word buttons, the ghost cleared, status line, and the words' state.

    The words come from one model call (finish=False): the best word is finished to its
    end only when that position is already computed, which the ghost continuation of a
    pause or an earlier keystroke usually did. Otherwise it shows as its token ends, until
    the next keystroke (1 of 157 keystrokes on the benchmark's typing trace). The words
    should not wait for the ghost or for that extra call.
    """
    try:
        result = service.suggest(
            fields.parse(service, text, text_name="text"), count=WORDS_ASKED, ghost_tokens=0, finish=False
        )
    except UserError as error:
        return {
            "buttons": [gr.update(visible=False)] * WORD_BUTTONS,
            "ghost": _ghost_html(text, ""),
            "status": f"⚠️ {as_text(error)}",
            "words": {"words": [], "text": text or ""},
        }
    shown = words_only(result.words)[:WORD_BUTTONS]
    # A typed word that is most likely finished ("lids") is offered the words after it.
    after_word = bool(shown) and all(w.append.startswith(" ") for w in shown)
    completing = result.partial and not after_word
    status = f"Completing **{as_text(result.partial)}**" if completing else "Next word"
    if not shown:
        status += ": no likely words"
    words = {"words": [w.append for w in shown], "text": text or ""}
    return {"buttons": _buttons(shown), "ghost": _ghost_html(text, ""), "status": status, "words": words}


def live_ghost(service: Service, text: str, fields: RequestFields) -> dict:
    """The ghost continuation for the text so far, after its words are shown, and the ghost's state (ghost_made).

    The ghost has a state of its own, apart from the words': a ghost can arrive after a
    newer keystroke's words, and must not put its older words back under the buttons.
    """
    try:
        result = service.suggest(
            fields.parse(service, text, text_name="text"),
            count=WORDS_ASKED,  # the same candidates as the words': the ghost continues their best
        )
    except UserError:  # live_suggest says why
        return {"ghost": _ghost_html(text, ""), "ghost_made": {"ghost": "", "text": text or ""}}
    return {"ghost": _ghost_html(text, result.ghost), "ghost_made": {"ghost": result.ghost, "text": text or ""}}


def words_only(words: list[Word]) -> list[Word]:
    """The words that add a letter or digit: punctuation alone is left out of the chips.

    Left out here, where suggestions become chips, and not in the suggestions themselves: the
    API's words keep every likely continuation, the ghost may still start with punctuation,
    and the chips of a remote model (whose words come from the server's tokens) are the same.
    """
    return [w for w in words if _WORD.search(w.append)]


def _buttons(words: list[Word]) -> list:
    """Updates for the word buttons: one per word with its probability, the rest hidden."""
    shown = [gr.update(value=f"{w.word}  {w.probability:.0%}", visible=True) for w in words[:WORD_BUTTONS]]
    return shown + [gr.update(visible=False)] * (WORD_BUTTONS - len(shown))


def insert_word(index: int, text: str, words: dict) -> str:
    """The text with suggested word number index appended, if the words were made for this text."""
    offered = (words or {}).get("words", [])
    if index >= len(offered) or not _made_for(words, text):
        return text  # typed on since: the buttons still show an older text's words
    return _append(text, offered[index])


def accept_ghost(text: str, ghost: dict) -> str:
    """The text with the ghost continuation appended, if the ghost was made for this text."""
    if not _made_for(ghost, text):
        return text  # typed on since the ghost was computed: it belongs to an older text
    return _append(text, (ghost or {}).get("ghost", ""))


def _made_for(state: dict | None, text: str) -> bool:
    """Whether a words or ghost state was computed for this text (a state without one counts)."""
    return (state or {}).get("text", text or "") == (text or "")


def _append(text: str, addition: str) -> str:
    text = text or ""
    return (text + addition).lstrip() if not text.strip() else text + addition


def _ghost_html(text: str, ghost: str) -> str:
    """The ghost for the hidden #ghost element, from which the page draws it inside the text box.

    data-text is the text the ghost was made for: the page shows a ghost only while the box
    holds that text (assets/keys.js), since a ghost can arrive after newer keystrokes.
    """
    return (
        f'<div class="ghost-box" data-text="{html.escape(text or "", quote=True)}">'
        f'<span class="ghost-text">{html.escape(ghost)}</span>'
        "</div>"
    )


@dataclass
class LiveWidgets:
    """The tab's widgets: the text, the word chips, the ghost and the state the events share."""

    text: gr.Textbox
    status: gr.Markdown
    buttons: list[gr.Button]
    ghost: gr.HTML
    accept: gr.Button
    words: gr.State
    ghost_made: gr.State
    ghost_trigger: gr.Button


def build(service: Service, common: Common) -> None:
    """The tab's widgets and events (inside a gr.Blocks context)."""
    _events(service, common, _widgets())


def _widgets() -> LiveWidgets:
    gr.Markdown(
        "Type below: the model proposes the next words with their probabilities, completes the word "
        "you are typing, and, when you pause, writes a grey continuation after the caret: **Tab** "
        "accepts it, **Ctrl+Right** (**Alt+Right** on macOS) one word of it, **Esc** dismisses it. "
        "Writing a review with no headline? Your first line is its title."
    )
    text = gr.Textbox(
        label="Your text",
        lines=5,
        placeholder="Start typing, e.g. The sound quality is gre",
        elem_id="live-text",
        autofocus=True,
    )
    status = gr.Markdown("Next word", elem_id="live-status")
    with gr.Row(elem_id="word-row"):
        buttons = [
            gr.Button(visible=False, size="sm", elem_classes=["word-chip"], elem_id=f"word-{i}")
            for i in range(WORD_BUTTONS)
        ]
    # The ghost travels here and shows inside the text box (assets/keys.js), not in a box of its own.
    ghost = gr.HTML(_ghost_html("", ""), elem_id="ghost", visible="hidden")
    with gr.Row():
        # The keys accept on the page; the button is the way in for a pointer, and for
        # touch screens, which have no Tab key.
        accept = gr.Button("Accept continuation (Tab)", size="sm", elem_id="accept-ghost", scale=0, min_width=220)
    return LiveWidgets(
        text=text,
        status=status,
        buttons=buttons,
        ghost=ghost,
        accept=accept,
        words=gr.State({"words": [], "text": ""}),
        ghost_made=gr.State({"ghost": "", "text": ""}),
        ghost_trigger=gr.Button("Ghost", visible="hidden", elem_id="ghost-trigger"),
    )


def _events(service: Service, common: Common, w: LiveWidgets) -> None:
    quiet = dict(show_progress="hidden", api_visibility="private")
    words = {"buttons": w.buttons, "ghost": w.ghost, "status": w.status, "words": w.words}
    refresh = dict(
        **named(live_suggest, service, text=w.text, fields=common.fields, outputs=words), **quiet, **lanes.SUGGEST
    )
    ghost = {"ghost": w.ghost, "ghost_made": w.ghost_made}
    then_ghost = dict(
        **named(live_ghost, service, text=w.text, fields=common.fields, outputs=ghost), **quiet, **lanes.GHOST
    )
    # The timer first: Gradio runs an event's listeners one after another, waiting on each
    # one's call, and under load a timer started after the words' call fires a second ghost
    # trigger for the same pause.
    w.text.input(None, js=_SCHEDULE_GHOST_JS)
    # always_last: while one suggestion is computed, newer keystrokes replace older ones,
    # so a fast typist never waits for stale suggestions.
    w.text.input(trigger_mode="always_last", **refresh)
    # The words again (remembered by then, no model call) so that the ghost lands after
    # them: the words' event clears the ghost of the text before.
    w.ghost_trigger.click(trigger_mode="always_last", **refresh).then(**then_ghost)
    for field in common.fields.widgets.values():
        field.input(trigger_mode="always_last", **refresh).then(**then_ghost)
    for i, button in enumerate(w.buttons):
        taken = named(insert_word, i, text=w.text, words=w.words)
        button.click(**taken, outputs=w.text, **quiet).then(**refresh).then(**then_ghost)
    accepted = named(accept_ghost, text=w.text, ghost=w.ghost_made)
    w.accept.click(**accepted, outputs=w.text, **quiet).then(**refresh).then(**then_ghost)
