"""The sentiment probe: evaluation's tone yardstick, and the word weights a review checkpoint ships.

    python -m train.probe checkpoints/autowrite-reviews-smollm2-135m-lora

SentimentProbe reads how positive a text is; evaluation asks it how far the requested
rating moves a sample's tone (train.evaluate). The app reads a checkpoint's copy of it,
autowrite.probe.PROBE_FILE, to say which rating a sample reads as. That copy is trained on
the checkpoint's own training split: its recipe's data and prepare settings give the same
split again (prepare is seeded), or --data names files; it is written with what it was
trained on and how well it reads the held-out test split.
"""

from __future__ import annotations

import logging
import math
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

from autowrite.formats import Task
from autowrite.probe import POOLED, PROBE_FILE, ToneProbe, probe_words
from train.cli import ConfigParser
from train.prepare import Splits, load_and_prepare, usable
from train.readers import Record
from train.recipe import PROBE_MIN_COUNT, FinetuneConfig, ProbeConfig, read_training_config

log = logging.getLogger(__name__)


class SentimentProbe:
    """Word-count naive Bayes, one per category, trained on 1-2 against 4-5 star training reviews.

    It is the yardstick for "1-star and 5-star samples read differently": a probe that knows
    nothing of the fine-tuned model reads each sample and says how positive it is.

    Why one per category, with even odds: pooled, a category's own words carried its mix of
    ratings. Four in five music reviews are positive, so "album" read as praise. Within one
    category both classes share the topic words, which cancel, and the words left are the tone.

    Why each class's word rates are drawn toward the category's: with add-one smoothing over
    a vocabulary larger than a class (music's negatives are 25,000 words against 40,000 words
    of vocabulary), that class's rate of every common word is cut by more than half, so any
    music text read as praise, "a disappointing third release" included (balanced accuracy
    0.54 on the music test reviews). Drawn toward the category's rates with as many words'
    weight as the smaller class has, a word the small class never happened to use reads as
    neutral rather than as the other class (music 0.82; the mean over five categories 0.75 -> 0.80).
    """

    def __init__(self, records: Sequence[Record]) -> None:
        counts: dict[str, dict[bool, Counter]] = defaultdict(lambda: {True: Counter(), False: Counter()})
        for record in records:
            if record.rating is None or record.rating == 3:
                continue
            words = self.words(record.text)
            positive = record.rating >= 4
            counts[record.category or ""][positive].update(words)
            counts[POOLED][positive].update(words)
        # A category seen in one class alone cannot tell tone from topic.
        self.counts = {key: classes for key, classes in counts.items() if classes[True] and classes[False]}
        self.both = {key: c[True] + c[False] for key, c in self.counts.items()}
        self.totals = {key: {label: c.total() for label, c in classes.items()} for key, classes in self.counts.items()}
        # Per category: the words of both classes and the vocabulary size (add-one), for the
        # category's rates that each class is drawn toward, and the smaller class's word count.
        self.shrink = {
            key: (both.total() + len(both) + 1, min(self.totals[key].values())) for key, both in self.both.items()
        }
        self._probe = self.tone_probe() if self.counts else None

    @staticmethod
    def words(text: str) -> list[str]:
        """Lower-cased word tokens."""
        return probe_words(text)

    @property
    def ready(self) -> bool:
        """Whether any category had training documents of both classes."""
        return bool(self.counts)

    def tone_probe(self, min_count: int = 1, about: dict | None = None) -> ToneProbe:
        """The per-word weights this probe scores with, for words seen at least min_count times.

        With min_count 1 it reads every text exactly as this probe does; the file a checkpoint
        ships keeps fewer words (train/probe.py).
        """
        weights = {}
        for key, classes in self.counts.items():
            denominator, weight = self.shrink[key]
            totals = self.totals[key]
            words = {}
            for word, count in self.both[key].items():
                if count >= min_count:
                    prior = weight * (count + 1) / denominator
                    words[word] = math.log((classes[True][word] + prior) / (totals[True] + weight)) - math.log(
                        (classes[False][word] + prior) / (totals[False] + weight)
                    )
            weights[key] = words
        return ToneProbe(weights, about)

    def positive_probability(self, text: str, category: str | None = None) -> float:
        """P(positive | words) under the category's model (all categories pooled for an unknown one)."""
        return self._probe.positive_probability(text, category)


def balanced_accuracy(probe: ToneProbe | SentimentProbe, records: Sequence[Record]) -> float | None:
    """The mean of the recalls on 1-2 and on 4-5 star reviews; None without both.

    Balanced, because most reviews are praise: a probe that called everything praise would
    score 0.8 on plain accuracy.
    """
    recalls = []
    for positive in (False, True):
        texts = [r for r in records if r.rating in ((4, 5) if positive else (1, 2))]
        if texts:
            hits = sum((probe.positive_probability(r.text, r.category) > 0.5) == positive for r in texts)
            recalls.append(hits / len(texts))
    return sum(recalls) / 2 if len(recalls) == 2 else None


def build(splits: Splits, min_count: int = PROBE_MIN_COUNT) -> ToneProbe:
    """The probe from a split's training reviews, with how it reads the test reviews in its about."""
    train = [r for r in splits.train if usable(r, Task.REVIEW)]
    full = SentimentProbe(train)
    if not full.ready:
        raise ValueError("no category has training reviews of both 1-2 and 4-5 stars: no probe to train")
    shipped = full.tone_probe(min_count)
    test = [r for r in splits.test if usable(r, Task.REVIEW) and r.rating != 3]
    accuracy = balanced_accuracy(shipped, test)
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
        "balanced_accuracy_on_test": round(accuracy, 4) if accuracy is not None else None,
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
