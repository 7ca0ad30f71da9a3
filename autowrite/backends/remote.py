"""The remote client's old place: app.py still imports api_base from here; the client is autowrite.remote."""

from autowrite.remote_wire import api_base

__all__ = ["api_base"]
