"""Autowrite: try, compare and share completions from small review and ad-copy models."""
