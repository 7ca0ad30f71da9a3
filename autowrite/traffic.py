"""Requests in flight: autowrite.scheduling.traffic, under the name app.py imports it by."""

from autowrite.scheduling.traffic import Traffic

__all__ = ["Traffic"]
