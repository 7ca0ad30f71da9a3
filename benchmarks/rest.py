"""Gradio's REST protocol, called by parameter name: POST the inputs, then read the event stream.

Never gradio_client, whose own overhead would hide the server's. The parameter order is read
once from the running app (/gradio_api/info), and a name a benchmark sends that the endpoint
lacks raises CallShapeError, so a renamed or added parameter fails the run instead of
shifting values.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass


class CallShapeError(ValueError):
    """A benchmark sends a value the running app's endpoint has no parameter for."""


def call(url: str, name: str, data: list, timeout: float = 120, session: str | None = None) -> object:
    """One REST-protocol call: POST the inputs, then read the event stream to its result.

    session: the caller's session hash, kept across calls as a browser tab keeps its own
    (without one, Gradio sets up a new session for every call).
    """
    body = json.dumps({"data": data, **({"session_hash": session} if session else {})}).encode()
    request = urllib.request.Request(f"{url}/gradio_api/call/{name}", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            event_id = json.loads(response.read())["event_id"]
    except urllib.error.HTTPError as error:  # the boundary's refusals name the problem in the body
        raise RuntimeError(f"{name}: HTTP {error.code} {error.read()[:200].decode(errors='replace')}") from None
    event = None
    with urllib.request.urlopen(f"{url}/gradio_api/call/{name}/{event_id}", timeout=timeout) as stream:
        for raw in stream:
            line = raw.decode().strip()
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "error":
                raise RuntimeError(f"{name}: {line[5:].strip()}")
            elif line.startswith("data:") and event == "complete":
                return json.loads(line[5:])[0]
    raise RuntimeError(f"{name}: the event stream ended without a result")


def read_parameters(url: str, names: list[str]) -> dict[str, list[str]]:
    """Each named endpoint's parameter names in order, as the running app publishes them."""
    with urllib.request.urlopen(f"{url}/gradio_api/info", timeout=30) as response:
        endpoints = json.loads(response.read())["named_endpoints"]
    missing = [name for name in names if f"/{name}" not in endpoints]
    if missing:
        raise CallShapeError(f"the app has no endpoint {', '.join(missing)}; it has {', '.join(endpoints)}")
    return {name: [p["parameter_name"] for p in endpoints[f"/{name}"]["parameters"]] for name in names}


@dataclass(frozen=True)
class Api:
    """The running app's endpoints, called with values by parameter name."""

    url: str
    parameters: dict[str, list[str]]

    def data(self, name: str, values: dict) -> list:
        """The values in the endpoint's parameter order; those not given are null (the default)."""
        order = self.parameters[name]
        unknown = [key for key in values if key not in order]
        if unknown:
            raise CallShapeError(f"{name} has no parameter {', '.join(unknown)}; it takes {', '.join(order)}")
        return [values.get(key) for key in order]

    def call(self, name: str, values: dict, timeout: float = 120, session: str | None = None) -> object:
        """One call by parameter names; the endpoint's answer."""
        return call(self.url, name, self.data(name, values), timeout=timeout, session=session)
