"""A person's mistake as the answer they get, and as one line in the app's log.

Gradio prints a traceback for every gr.Error unless print_exception is off. A bad link
value or an unknown model is the caller's mistake, not the app's: the log gets its message
alone, and errors nobody expected keep their traceback.
"""

from __future__ import annotations

import logging

import gradio as gr

logger = logging.getLogger(__name__)

# Why 300 characters: enough for any message the app writes; a longer one repeats a value a
# caller sent, which the log needs no more of.
MAX_LOGGED_CHARS = 300


def log_refusal(error: Exception) -> None:
    """Log the error's message as one line: its line breaks become spaces, so no caller writes a line of its own."""
    message = " ".join(str(error).split())
    cut = message if len(message) <= MAX_LOGGED_CHARS else message[: MAX_LOGGED_CHARS - 1] + "…"
    logger.info("Refused: %s", cut)


def refused(error: Exception, shown: str | None = None) -> gr.Error:
    """The caller's error answer (shown, else the error's message), logged as one line and printed without a traceback."""
    log_refusal(error)
    return gr.Error(str(error) if shown is None else shown, print_exception=False)
