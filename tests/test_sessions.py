"""Lean sessions hold what Gradio's sessions hold, and build a component's config only when it is read."""

from __future__ import annotations

import gradio as gr
import pytest
from gradio.blocks import BlocksConfig
from gradio.state_holder import SessionState

from autowrite.ui.app import build_demo
from autowrite.ui.sessions import LeanSession


@pytest.fixture(scope="module")
def demo(tiny_gpt2_dir, tiny_gptneo_dir):
    """The app's page over the tiny models (building it loads no model)."""
    from tests.conftest import make_tiny_service

    return build_demo(make_tiny_service(tiny_gpt2_dir, tiny_gptneo_dir))


def test_a_lean_session_has_every_field_of_gradios(demo):
    """Fails when a Gradio upgrade gives SessionState a field the lean session does not set."""
    eager, lean = SessionState(demo), LeanSession(demo)
    assert set(vars(eager)) <= set(vars(lean)), set(vars(eager)) - set(vars(lean))
    assert list(lean.config_values) == list(eager.config_values)
    assert dict(lean.config_values) == eager.config_values
    assert list(lean.components) == list(eager.components)


def test_a_lean_session_builds_a_config_only_when_it_is_read(demo, monkeypatch):
    built = []
    original = BlocksConfig.config_for_block
    monkeypatch.setattr(
        BlocksConfig, "config_for_block", staticmethod(lambda *a, **k: built.append(a[0]) or original(*a, **k))
    )
    LeanSession(demo)
    assert built == []
    SessionState(demo)
    assert len(built) > 100  # the page's every component, for each call without a session
    built.clear()
    lean = LeanSession(demo)
    textbox = next(k for k, block in demo.blocks.items() if isinstance(block, gr.Textbox))
    assert textbox in lean.config_values and built == []
    lean._update_value_in_config(textbox, "typed")  # what each call does for its inputs and outputs
    assert built == [textbox] and lean.config_values[textbox]["props"]["value"] == "typed"


def test_lean_and_gradios_sessions_agree_after_the_same_events(demo):
    """A page's events write values, states and whole components; both kinds end up the same."""
    textbox = next(k for k, block in demo.blocks.items() if isinstance(block, gr.Textbox))
    state = next(k for k, block in demo.blocks.items() if isinstance(block, gr.State))
    sessions = SessionState(demo), LeanSession(demo)
    for session in sessions:
        session._update_value_in_config(textbox, "The sound")
        session[state] = "compare"
        session[textbox] = gr.Textbox("replaced", label="Prompt", render=False)
        session._update_config(textbox)
    eager, lean = sessions
    assert lean[state] == eager[state] == "compare"
    assert dict(lean.config_values) == eager.config_values
