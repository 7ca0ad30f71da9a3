"""The page's theme: Gradio's Soft look, with text and controls that meet WCAG AA contrast."""

from __future__ import annotations

import gradio as gr

# Each value is measured against the background it sits on (WCAG 2.2: 4.5:1 for text,
# 3:1 for a control's edge and for each of its states). Soft's indigo-500 labels on
# indigo-100 reach 3.6:1, its grey-400 help text on white 2.5:1, white on its indigo-400
# hover (which a busy button also wears) 3.0:1: each is one or two steps too light.
_LIGHT = {
    # Labels sit on indigo-100: indigo-700 gives 6.4:1.
    "block_label_text_color": "*primary_700",
    "block_title_text_color": "*primary_700",
    # Help lines, slider bounds, the footer: grey-600 gives 7.6:1 on white, 7.2:1 on grey-50.
    "body_text_color_subdued": "*neutral_600",
    # A placeholder is read before anything is typed: grey-500 gives 4.8:1.
    "input_placeholder_color": "*neutral_500",
    # White text on indigo-600 gives 6.3:1, on indigo-700 (hover, and a busy button) 7.9:1.
    "button_primary_background_fill": "*primary_600",
    "button_primary_background_fill_hover": "*primary_700",
    "checkbox_label_background_fill_selected": "*primary_600",
    "slider_color": "*primary_600",
    # The accent draws the focus ring (style.css): indigo-600 is 6.3:1 on white.
    "color_accent": "*primary_600",
    "link_text_color_visited": "*secondary_700",
    # A text box is found by its edge: Soft draws none (a faint shadow only); grey-500 gives 4.8:1
    # on white. Buttons keep Soft's borderless look: their text says what they are.
    "input_border_width": "1px",
    "input_border_color": "*neutral_500",
    "button_border_width": "0px",
    "checkbox_border_color": "*neutral_500",
    # Focus: a solid ring of the accent, beside the border, not a faint shadow.
    "input_border_color_focus": "*primary_600",
    "input_shadow_focus": "0 0 0 2px *primary_600",
    "checkbox_border_color_focus": "*primary_700",
}
# Dark mode: the same states, lighter so they stand out on grey-800 to grey-950 (the focus
# ring's dark colour is in style.css: color_accent has no dark variant).
_DARK = {
    "input_border_color_dark": "*neutral_400",
    "checkbox_border_color_dark": "*neutral_400",
    "input_border_color_focus_dark": "*primary_400",
    "input_shadow_focus_dark": "0 0 0 2px *primary_400",
    "button_primary_background_fill_dark": "*primary_600",
    "button_primary_background_fill_hover_dark": "*primary_700",
}


def autowrite_theme() -> gr.themes.Base:
    """Soft, with every text at 4.5:1 or more and every control, state and focus ring at 3:1 or more."""
    return gr.themes.Soft().set(**_LIGHT, **_DARK)
