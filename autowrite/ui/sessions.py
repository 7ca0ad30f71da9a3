"""Gradio sessions that build their components' configs only when something reads them.

Gradio keeps a session per session hash, and makes one for every call that brings none.
Its session copies the config of every component on the page at once (about 0.25 MB here,
most of a REST call's CPU), to answer deep links. A call reads or writes the configs of its
own inputs and outputs only, so a lean session builds each config the first time it is
read, and all of them only when a deep link asks for the page.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableMapping
from types import SimpleNamespace
from typing import Any

from gradio.state_holder import SessionState, StateHolder

_UNBUILT = object()


class LazyConfigs(MutableMapping):
    """Each block's config, built from the session's blocks the first time it is read."""

    def __init__(self, blocks_config: Any, ids: Iterable[int]) -> None:
        self._blocks_config = blocks_config
        self._configs: dict[int, Any] = dict.fromkeys(ids, _UNBUILT)  # Gradio's order, for deep links

    def __getitem__(self, key: int) -> dict:
        config = self._configs[key]
        if config is _UNBUILT:
            block = self._blocks_config.blocks[key]
            config = self._configs[key] = self._blocks_config.config_for_block(key, [], block)
        return config

    def __contains__(self, key: object) -> bool:  # without building: Mapping's own reads the value
        return key in self._configs

    def __setitem__(self, key: int, config: dict) -> None:
        self._configs[key] = config

    def __delitem__(self, key: int) -> None:
        del self._configs[key]

    def __iter__(self) -> Iterator[int]:
        return iter(self._configs)

    def __len__(self) -> int:
        return len(self._configs)


class LeanSession(SessionState):
    """A Gradio session whose per-component configs are built when first read."""

    def __init__(self, blocks: Any) -> None:
        # Gradio's own __init__, given no blocks to build configs for, sets every other field.
        super().__init__(SimpleNamespace(default_config=blocks.default_config, blocks={}))
        ids = [k for k in self.blocks_config.blocks if k in blocks.blocks]
        self.config_values = LazyConfigs(self.blocks_config, ids)


class LeanStateHolder(StateHolder):
    """Gradio's state holder, making lean sessions."""

    def __getitem__(self, session_id: str) -> SessionState:
        if session_id not in self.session_data:
            self.session_data[session_id] = LeanSession(self.blocks)
        return super().__getitem__(session_id)


def install(app: Any) -> None:
    """Give a configured Gradio app a lean state holder, keeping its sessions and capacity."""
    old = app.state_holder
    if isinstance(old, LeanStateHolder) or not hasattr(old, "blocks"):
        return
    holder = LeanStateHolder()
    holder.session_data, holder.time_last_used = old.session_data, old.time_last_used
    holder.set_blocks(old.blocks)  # the capacity (state_session_capacity), and blocks.state_holder
    app.state_holder = holder


def forget_answered(app: Any, prefix: str) -> int:
    """Drop the message queue and state of each session named prefix... whose calls are all answered; how many.

    Gradio keeps a message queue per session in an LRU of 2,000 that a read does not
    refresh, so every call that brings no session pushes the oldest session out, page
    tabs included, whose streams then fail ("404: Not Found"); its state holder drops idle
    sessions the same way. A session the boundary made for one call has no use once that
    call is answered, so it goes at once. Runs on the event loop, as Gradio's queue does.
    """
    queue = app.get_blocks()._queue
    pending = queue.pending_event_ids_session
    answered = [
        key
        for key, messages in queue.pending_messages_per_session.items()
        if key.startswith(prefix) and not pending.get(key) and messages.empty()
    ]
    for key in answered:
        del queue.pending_messages_per_session[key]
        pending.pop(key, None)
        app.state_holder.session_data.pop(key, None)
        app.state_holder.time_last_used.pop(key, None)
    return len(answered)
