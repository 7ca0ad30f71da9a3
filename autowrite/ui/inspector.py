"""The token inspector: a generated text token by token, each shaded by its probability.

Focusing or hovering a token shows the likeliest tokens at its place, with their
probabilities under the model and after the settings; the written one is marked. On the
generate tab each alternative is a button that continues the text from it (a branch,
assets/inspector.js). Every text from the model is escaped here; the page shows it as text.
"""

from __future__ import annotations

import html

from autowrite.backends.base import Sample, Step

LEGEND = (
    "Token by token: the redder, the less likely under the model. Hover a token, or focus one "
    "and move with the arrow keys, to see the likeliest tokens in its place."
)
BRANCH_HINT = " Click one (or press Enter on it) to continue from there with the same settings and seed."
NO_STEPS = "This model's server gives no per-token probabilities, so its tokens cannot be inspected."
# Why 0.6: the least likely tokens stand out and the text stays readable over the colour.
MAX_SHADE = 0.6


def tokens_html(sample: Sample, index: int, *, branchable: bool, note: str = "") -> str:
    """A sample's tokens as HTML with their alternatives; a note instead where it has no steps."""
    if sample.steps is None:
        return f'<div class="aw-tokens-note">{html.escape(note or "No probabilities for this text.")}</div>'
    branchable = branchable and all(step.token_id >= 0 for step in sample.steps)
    legend = LEGEND + (BRANCH_HINT if branchable else "")
    tokens = "".join(_token(step, index, number, branchable) for number, step in enumerate(sample.steps))
    return (
        f'<div class="aw-inspector"><p class="aw-legend">{html.escape(legend)}</p>'
        f'<div class="aw-tokens" role="group" aria-label="Sample {index + 1}, token by token">{tokens}</div></div>'
    )


def _token(step: Step, sample: int, number: int, branchable: bool) -> str:
    """One token: its text on a shade of its improbability, and its hidden list of alternatives."""
    shade = round(MAX_SHADE * (1.0 - step.raw), 3)
    piece = html.escape(step.text) if step.text else '<span class="aw-end">⏎ end</span>' if _is_end(step) else ""
    classes = "aw-tok aw-forced" if step.forced else "aw-tok"
    label = f"{shown_token(step.text) or 'end'}: {step.raw:.1%} under the model, {step.adjusted:.1%} after the settings"
    return (
        f'<span class="{classes}" tabindex="{0 if number == 0 else -1}" data-step="{number}" '
        f'style="background-color: rgba(239, 68, 68, {shade})" aria-label="{html.escape(label, quote=True)}">'
        f"{piece}{_alternatives(step, sample, number, branchable)}</span>"
    )


def _is_end(step: Step) -> bool:
    """Whether a step wrote the end of the text: a token with no text of its own (a special token)."""
    return not step.text and any(step.wrote(a) and not a.text for a in step.alternatives)


def _alternatives(step: Step, sample: int, number: int, branchable: bool) -> str:
    """The table of the likeliest tokens at a step; on the generate tab each is a branch button."""
    rows = []
    for alternative in step.alternatives:
        chosen = step.wrote(alternative)
        text = html.escape(shown_token(alternative.text) or "(end)")
        if branchable and not chosen and alternative.token_id >= 0:  # a server's tokens have no ids to force
            cell = (
                f'<button class="aw-alt" tabindex="-1" data-sample="{sample}" data-step="{number}" '
                f'data-token="{alternative.token_id}">{text}</button>'
            )
        else:
            cell = f'<span class="aw-alt-text">{text}</span>'
        mark = ' class="aw-chosen"' if chosen else ""
        written = " ✓" if chosen else ""
        rows.append(
            f"<tr{mark}><td>{cell}{written}</td><td>{alternative.raw:.1%}</td><td>{alternative.adjusted:.1%}</td></tr>"
        )
    forced = "<caption>Chosen by hand</caption>" if step.forced else ""
    return (
        f'<span class="aw-alts" role="tooltip"><table>{forced}<thead><tr><th>Token</th><th>Model</th>'
        f"<th>After settings</th></tr></thead><tbody>{''.join(rows)}</tbody></table></span>"
    )


def shown_token(text: str) -> str:
    """A token's text with its spaces and line breaks visible (" great" reads "␣great")."""
    return text.replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥")
