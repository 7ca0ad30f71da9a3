"""The sentiment probe reads tone per category, not a category's topic words."""

from __future__ import annotations

import pytest

from train.probe import SentimentProbe
from train.readers import Record


def test_sentiment_probe_separates_obvious_texts():
    records = [Record(text="terrible broken awful refund", rating=1, category="Electronics")] * 5 + [
        Record(text="great love perfect works", rating=5, category="Electronics")
    ] * 5
    probe = SentimentProbe(records + [Record(text="neutral", rating=3, category="Electronics")])
    assert probe.ready
    assert probe.positive_probability("I love it, works great", "Electronics") > 0.9
    assert probe.positive_probability("awful, broken, want a refund", "Electronics") < 0.1
    assert probe.positive_probability("unknown words only", "Electronics") == pytest.approx(0.5)
    assert probe.positive_probability("I love it, works great") > 0.9  # no category: all of them pooled


def test_sentiment_probe_reads_tone_not_a_categorys_topic_words():
    # Music is mostly praised and books mostly panned, as in the shared data: pooled, the
    # topic word "album" alone would read as praise.
    records = (
        [Record(text="album great", rating=5, category="Music")] * 8
        + [Record(text="album awful", rating=1, category="Music")] * 2
        + [Record(text="novel great", rating=5, category="Books")] * 2
        + [Record(text="novel awful", rating=1, category="Books")] * 8
        + [Record(text="gift card great", rating=5, category="Gift Cards")]  # one class only
    )
    probe = SentimentProbe(records)
    assert probe.positive_probability("the album", None) > 0.6  # pooled: topic as tone
    assert 0.4 < probe.positive_probability("the album", "Music") < 0.6
    assert 0.4 < probe.positive_probability("the novel", "Books") < 0.6
    assert probe.positive_probability("an awful album", "Music") < 0.3
    assert probe.positive_probability("a great novel", "Books") > 0.7
    # A category seen in one class cannot separate tone from topic: it reads as all pooled.
    assert probe.positive_probability("great gift card", "Gift Cards") == probe.positive_probability("great gift card")
