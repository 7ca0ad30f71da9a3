"""A request the app refuses, in words for the person who sent it: the errors every action raises.

Model lookup, prompting and the actions all refuse with these, and the UI and the API show
their messages as they are; a model's own failure becomes one of them for its request only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from autowrite.backends.base import BackendError, NotSupported


class UserError(ValueError):
    """A request the app cannot serve, with a message meant for the person who sent it."""


class Unavailable(UserError):
    """Something this model's server does not offer, said plainly; everything else still works."""


class Busy(UserError):
    """The app is decoding as many generations as it takes; this one is refused, to be tried again."""


@contextmanager
def model_errors() -> Iterator[None]:
    """A model's failure (a server's, or a prompt it cannot read) becomes a UserError for this request only."""
    try:
        yield
    except NotSupported as error:
        raise Unavailable(str(error)) from None
    except BackendError as error:
        raise UserError(str(error)) from None
