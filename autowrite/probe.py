"""The tone probe a review checkpoint ships: how positive a text reads, from per-word weights.

train/evaluate.py trains it (naive Bayes per category on 1-2 against 4-5 star training
reviews, see SentimentProbe there) and train/probe.py writes it beside the adapter as
PROBE_FILE. The weight of a word is its log-odds of praise against complaint within a
category; a text's probability of praise is the logistic of its words' summed weights.
The app reads it to say which rating a sample reads as, without a model call.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path

PROBE_FILE = "rating_probe.json.gz"
POOLED = "\0all"  # every category together; no category is named so
_WORD = re.compile(r"[a-z']+")


def probe_words(text: str) -> list[str]:
    """Lower-cased word tokens, as the probe was trained on."""
    return _WORD.findall(text.lower())


class ToneProbe:
    """Per-category word weights; P(positive) of a text is the logistic of its words' summed weights."""

    def __init__(self, weights: Mapping[str, Mapping[str, float]], about: Mapping | None = None) -> None:
        if not weights:
            raise ValueError("a tone probe needs the weights of at least one category")
        self.weights = {key: dict(words) for key, words in weights.items()}
        self.about = dict(about or {})  # what it was trained on and how well it reads held-out reviews

    def positive_probability(self, text: str, category: str | None = None) -> float:
        """P(positive | words) under the category's weights (all categories pooled for an unknown one)."""
        key = category if category in self.weights else POOLED
        weights = self.weights.get(key) or next(iter(self.weights.values()))
        score = sum(weights.get(word, 0.0) for word in probe_words(text))
        return 1 / (1 + math.exp(-max(-50.0, min(50.0, score))))

    def save(self, path: Path) -> None:
        """Gzipped JSON: {"about": ..., "weights": {category: {word: weight}}}, weights to 4 decimals."""
        rounded = {key: {w: round(v, 4) for w, v in sorted(words.items())} for key, words in self.weights.items()}
        data = json.dumps({"about": self.about, "weights": rounded}, ensure_ascii=False, separators=(",", ":"))
        with gzip.open(path, "wt", encoding="utf-8", compresslevel=9) as file:
            file.write(data)

    @classmethod
    def load(cls, path: Path) -> ToneProbe:
        """A probe from its file; ValueError when the file is not one."""
        try:
            with gzip.open(path, "rt", encoding="utf-8") as file:
                data = json.load(file)
            return cls(data["weights"], data.get("about"))
        except (OSError, KeyError, TypeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path.name} is not a tone probe: {error}") from None
