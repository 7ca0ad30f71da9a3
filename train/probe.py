"""Write the tone probe a review checkpoint ships, so the app can say which rating a sample reads as.

    python -m train.probe checkpoints/autowrite-reviews-smollm2-135m-lora

The probe is train.evaluate's SentimentProbe, trained on the checkpoint's own training
split: its recipe's data and prepare settings give the same split again (prepare is
seeded), or --data names files. It is written as autowrite.probe.PROBE_FILE with what it
was trained on and how well it reads the held-out test split.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from autowrite.formats import Task
from autowrite.probe import PROBE_FILE, ToneProbe
from train.cli import ConfigParser
from train.evaluate import SentimentProbe
from train.prepare import Splits, load_and_prepare, usable
from train.readers import Record
from train.recipe import PROBE_MIN_COUNT, FinetuneConfig, ProbeConfig, read_training_config

log = logging.getLogger(__name__)


def balanced_accuracy(probe: ToneProbe | SentimentProbe, records: list[Record]) -> float | None:
    """The mean of the recalls on 1-2 and on 4-5 star reviews (most reviews are praise)."""
    recalls = []
    for positive in (False, True):
        texts = [r for r in records if r.rating in ((4, 5) if positive else (1, 2))]
        if texts:
            hits = sum((probe.positive_probability(r.text, r.category) > 0.5) == positive for r in texts)
            recalls.append(hits / len(texts))
    return round(sum(recalls) / 2, 4) if len(recalls) == 2 else None


def build(splits: Splits, min_count: int = PROBE_MIN_COUNT) -> ToneProbe:
    """The probe from a split's training reviews, with how it reads the test reviews in its about."""
    train = [r for r in splits.train if usable(r, Task.REVIEW)]
    full = SentimentProbe(train)
    if not full.ready:
        raise ValueError("no category has training reviews of both 1-2 and 4-5 stars: no probe to train")
    shipped = full.tone_probe(min_count)
    test = [r for r in splits.test if usable(r, Task.REVIEW) and r.rating != 3]
    agree = sum(
        (shipped.positive_probability(r.text, r.category) > 0.5)
        == (full.positive_probability(r.text, r.category) > 0.5)
        for r in test
    )
    shipped.about = {
        "trained_on_reviews": len(train),
        "categories": sorted(k for k in shipped.weights if k and not k.startswith("\0")),
        "min_count": min_count,
        "words": sum(len(words) for words in shipped.weights.values()),
        "test_reviews": len(test),
        "balanced_accuracy_on_test": balanced_accuracy(shipped, test),
        "agrees_with_full": round(agree / len(test), 4) if test else None,
    }
    return shipped


def main(config: ProbeConfig) -> dict:
    """Build the probe of a checkpoint folder and write it there; returns its about."""
    folder = Path(config.folder)
    recipe = FinetuneConfig(**read_training_config(folder))
    splits = load_and_prepare(config.data or recipe.data, recipe.prepare, report=log.info)
    probe = build(splits, config.min_count)
    probe.save(folder / PROBE_FILE)
    return probe.about


def build_parser() -> ConfigParser:
    """The command line: a checkpoint folder, and training files instead of its recipe's."""
    return ConfigParser(ProbeConfig, prog="python -m train.probe", description=__doc__.splitlines()[0])


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        print(main(*build_parser().parse(sys.argv[1:])))
    except ValueError as error:
        sys.exit(f"error: {error}")
