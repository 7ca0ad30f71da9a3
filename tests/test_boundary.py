"""The HTTP boundary's pure parts: the caller key fair admission shares the machine by."""

from __future__ import annotations

import pytest

from autowrite.ui.boundary import ANONYMOUS, caller


@pytest.mark.parametrize(
    ("session_hash", "key"),
    [
        (None, ""),
        ("k6zw27luum8", "k6zw27luum8"),  # a page's session is its own caller
        (f"{ANONYMOUS}127.0.0.1/0123abcd", f"{ANONYMOUS}127.0.0.1"),  # a REST call without one: its host
        (f"{ANONYMOUS}::1/0123abcd", f"{ANONYMOUS}::1"),
        (f"{ANONYMOUS}unknown/0123abcd", f"{ANONYMOUS}unknown"),
    ],
)
def test_caller_is_the_session_or_the_anonymous_calls_host(session_hash, key):
    assert caller(session_hash) == key
