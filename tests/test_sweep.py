"""The sweep: its spelling, its points, and figures that match the report card's, with bands."""

from __future__ import annotations

import pytest

from autowrite import sweep
from autowrite.backends.base import Sample
from autowrite.formats import Task
from autowrite.probe import POOLED, ToneProbe
from autowrite.report import Asked, score
from autowrite.settings import SamplingSettings
from autowrite.sweep import Sweep, SweepError


def test_a_sweep_reads_as_links_write_it_and_spaces_its_points_evenly():
    swept = Sweep.parse("temperature:0.2:1.6:8")
    assert swept == Sweep("temperature", 0.2, 1.6, 8)
    assert swept.text() == "temperature:0.2:1.6:8"
    assert swept.values() == [0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6]
    assert Sweep.parse(" min_p : 0 : 0.3 : 4 ").values() == [0.0, 0.1, 0.2, 0.3]


def test_a_whole_number_setting_keeps_each_whole_value_once():
    assert Sweep("top_k", 1, 4, 8).values() == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("temperature:0.2:1.6", "SETTING:LOW:HIGH:POINTS"),
        ("seed:0:10:4", "a sweep steps one of"),
        ("nonsense:0:1:4", "a sweep steps one of"),
        ("temperature:a:1:4", "are numbers"),
        ("temperature:0.2:9:4", "between 0.05 and 2"),
        ("temperature:1.2:0.4:4", "low end must be below"),
        ("temperature:0.2:1.6:40", "2 to 12 points"),
        ("temperature:0.2:1.6:2.5", "whole number"),
        ("<script>:0:1:4", "'<script>'"),
    ],
)
def test_a_bad_sweep_is_refused_by_name(text, says):
    with pytest.raises(SweepError, match=None) as refused:
        Sweep.parse(text)
    assert says in str(refused.value)


def test_a_setting_that_acts_only_with_another_is_refused_while_that_one_is_off():
    with pytest.raises(SweepError, match="xtc_threshold acts only while xtc_probability is on"):
        Sweep("xtc_threshold", 0.05, 0.3, 4).settings(SamplingSettings())
    on = Sweep("xtc_threshold", 0.05, 0.3, 4).settings(SamplingSettings(xtc_probability=0.5))
    assert [s.xtc_threshold for s in on] == pytest.approx([0.05, 0.133333, 0.216667, 0.3])


def test_a_sweep_larger_than_a_report_is_refused():
    Sweep("temperature", 0.2, 1.6, 8).check_size(16)
    with pytest.raises(SweepError, match="at most 128 samples"):
        Sweep("temperature", 0.2, 1.6, 12).check_size(16)


def test_each_point_samples_with_the_base_settings_and_its_value():
    base = SamplingSettings(do_sample=False, top_k=20, seed=7)
    points = Sweep("top_p", 0.5, 1.0, 3).settings(base)
    assert [p.top_p for p in points] == [0.5, 0.75, 1.0]
    assert all(p.do_sample and p.top_k == 20 and p.seed == 7 for p in points)


SAMPLES = [
    Sample("great sound and great bass, I love it", tokens=10, logprob=-12.0, ended=True),
    Sample("terrible, it broke after a week and it broke again", tokens=12, logprob=-30.0),
    Sample("good value it is very good it is very good", tokens=11, logprob=-15.0, ended=True),
]
PROBE = ToneProbe({POOLED: {"great": 2.0, "love": 1.0, "good": 1.0, "terrible": -3.0, "broke": -2.0}})


def test_a_points_figures_are_the_report_cards_over_its_samples():
    asked = Asked(Task.REVIEW, rating=5, category="Music")
    at = sweep.point(0.8, SamplingSettings(), SAMPLES, asked, PROBE)
    card = score(1, "m", "p", SAMPLES, asked, PROBE)
    assert at.figures["distinct_2"] == pytest.approx(card.distinct_2)
    assert at.figures["repetition"] == pytest.approx(card.repetition)
    assert at.figures["fit"] == pytest.approx(card.fit)
    assert at.figures["ended"] == pytest.approx(card.ended)
    assert at.figures["read_as_asked"] == pytest.approx(card.read_as_asked)
    assert at.figures["within_headline"] is None
    assert [f.key for f in sweep.plotted([at])] == ["distinct_2", "repetition", "fit", "read_as_asked", "ended"]


def test_a_band_holds_the_figure_and_narrows_when_the_seeds_agree():
    asked = Asked(Task.REVIEW, rating=5)
    mixed = sweep.point(1.0, SamplingSettings(), SAMPLES, asked, PROBE)
    low, high = mixed.bands["ended"]
    assert low <= mixed.figures["ended"] <= high and low < high
    same = sweep.point(1.0, SamplingSettings(), [SAMPLES[0]] * 3, asked, PROBE)
    assert same.bands["ended"] == (1.0, 1.0)
    assert same.bands["distinct_2"] == pytest.approx((same.figures["distinct_2"],) * 2)


def test_a_shares_band_is_the_jackknife_standard_error_within_0_and_1():
    # 1 of 4 ended: the jackknife's standard error of a share is sqrt(p(1-p)/(n-1)).
    samples = [Sample("a b", ended=True)] + [Sample("c d")] * 3
    at = sweep.point(1.0, SamplingSettings(), samples, Asked(Task.AD), None)
    error = (0.25 * 0.75 / 3) ** 0.5
    assert at.bands["ended"] == pytest.approx((0.0, 0.25 + 1.96 * error))  # the low end clipped at 0
    assert sweep.point(1.0, SamplingSettings(), samples[:1], Asked(Task.AD), None).bands["ended"] is None


def test_ads_have_a_headline_figure_and_no_stars():
    at = sweep.point(0.5, SamplingSettings(), [Sample("Short ad", tokens=3, ended=True)], Asked(Task.AD), None)
    assert at.figures["within_headline"] == 1.0 and at.figures["read_as_asked"] is None
    assert at.figures["fit"] is None and at.bands["fit"] is None


# --- through the service: one model, every point over the same seeds ----------------------


def test_a_sweep_writes_each_point_over_the_seeds_as_generate_would(tiny_service):
    from autowrite import decode
    from autowrite.service import Request, Variant

    request = Request(model="tiny-gpt2", text="Good")
    base = Variant("tiny-gpt2", SamplingSettings(max_new_tokens=5, seed=11, do_sample=False))
    swept = Sweep("temperature", 0.5, 1.5, 3)
    texts = decode.last(tiny_service.sweep(request, base, swept, seeds=2)).texts
    alone = [
        tiny_service.generate(request, settings.replace(seed=11 + k)).texts[0]
        for settings in swept.settings(base.settings)
        for k in range(2)
    ]
    assert texts == alone and len(texts) == 6
    with pytest.raises(SweepError, match="at most 128 samples"):
        tiny_service.sweep(request, base, Sweep("temperature", 0.5, 1.5, 12), seeds=16)


# --- links: a sweep in the compare tab's link, checked where it enters ---------------------


def test_a_compare_link_carries_its_sweep_and_a_bad_one_falls_back(tiny_service):
    from urllib.parse import parse_qsl

    from autowrite.ui.share import from_query, to_query

    query = "tab=compare&model=tiny-gpt2&prompt=Hi&presets=Greedy&sweep=min_p:0:0.3:4&sweep_seeds=3"
    state = from_query(tiny_service, dict(parse_qsl(query)))
    assert (state.sweep, state.sweep_seeds, state.notices) == ("min_p:0:0.3:4", 3, [])
    again = to_query(state)
    assert "sweep=min_p%3A0%3A0.3%3A4&sweep_seeds=3" in again
    assert from_query(tiny_service, dict(parse_qsl(again[1:]))).sweep == "min_p:0:0.3:4"
    bad = from_query(tiny_service, {"tab": "compare", "model": "tiny-gpt2", "sweep": "<b>:0:1:4", "sweep_seeds": "99"})
    assert bad.sweep == "" and bad.sweep_seeds == 8
    assert any("'<b>'" in n and "running none" in n for n in bad.notices)
    assert any("sweep_seeds must be a whole number from 1 to 64" in n for n in bad.notices)
    too_big = from_query(tiny_service, {"tab": "compare", "sweep": "temperature:0.2:1.6:12", "sweep_seeds": "16"})
    assert too_big.sweep == "" and any("at most 128 samples" in n for n in too_big.notices)
