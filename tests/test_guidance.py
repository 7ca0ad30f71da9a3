"""Rating guidance: off at 1, the contrastive formula on a tiny model, and the setting at the edges."""

from __future__ import annotations

import pytest

from autowrite import decode, sampling
from autowrite.formats import Task
from autowrite.service import Request, contrast_rating
from autowrite.settings import SamplingSettings, SettingsError
from autowrite.ui.share import PageState, from_query, to_query
from tests.decoding import last

SETTINGS = SamplingSettings(temperature=0.9, top_k=30, top_p=0.95, max_new_tokens=10, seed=11)


def test_guidance_one_gives_todays_text(tiny_backend):
    asked, contrast = tiny_backend.encode("Rating: 1/5\nReview:"), tiny_backend.encode("Rating: 5/5\nReview:")
    plain = last(decode.sample_many(tiny_backend, asked, [SETTINGS]))
    with_contrast = last(
        decode.sample_many(tiny_backend, asked, [SETTINGS], options=decode.Options(contrast_ids=contrast))
    )
    assert plain == with_contrast  # the contrast prompt is not even decoded at g = 1


def test_guided_tokens_follow_the_formula_step_by_step(tiny_backend):
    asked, contrast = tiny_backend.encode("Rating: 1/5\nReview:"), tiny_backend.encode("Rating: 5/5\nReview:")
    guided = SETTINGS.replace(rating_guidance=2.5)
    sample = last(
        decode.sample_many(tiny_backend, asked, [guided], options=decode.Options(inspect=True, contrast_ids=contrast))
    )[0]
    generator = sampling.make_generator(guided.seed)
    text, other = list(asked), list(contrast)
    for step in sample.steps:
        a, c = tiny_backend.next_logits(text).float(), tiny_backend.next_logits(other).float()
        mixed = c + 2.5 * (a - c)
        assert sampling.guide(a, c, 2.5).tolist() == pytest.approx(mixed.tolist())
        token = sampling.choose(mixed, guided, text, generator)
        assert token == step.token_id
        assert step.raw == pytest.approx(float(a.softmax(-1)[token]), rel=1e-4)  # the raw column is unguided
        if token == tiny_backend.eos_token_id:
            break
        text.append(token)
        other.append(token)
    unguided = last(decode.sample_many(tiny_backend, asked, [SETTINGS], options=decode.Options(contrast_ids=contrast)))[
        0
    ]
    assert unguided.text != sample.text  # 2.5 moves this tiny model's text


def test_guided_variants_count_twice_in_a_step():
    guided, plain = SETTINGS.replace(rating_guidance=2.0), SETTINGS
    assert [len(p) for p in decode.parts([guided] * 5, 8, guided=True)] == [4, 1]
    assert [len(p) for p in decode.parts([plain, guided, guided, plain], 4, guided=True)] == [2, 2]
    assert [len(p) for p in decode.parts([guided] * 5, 8)] == [5]


def test_the_service_guides_reviews_at_the_ends_and_says_why_not_elsewhere(tiny_service):
    settings = tiny_service.settings("tiny-gptneo", rating_guidance=2.0, max_new_tokens=6)
    one = Request(model="tiny-gptneo", task=Task.REVIEW, rating=1, category="Books")
    guided = last(tiny_service.stream(one, settings))
    assert guided.warnings == []
    assert guided.texts != last(tiny_service.stream(one, settings.replace(rating_guidance=1.0))).texts
    three = last(tiny_service.stream(Request(model="tiny-gptneo", task=Task.REVIEW, rating=3), settings))
    assert "at 3 stars" in three.warnings[0]
    free = last(tiny_service.stream(Request(model="tiny-gpt2", text="The"), settings))
    assert "applies to reviews" in free.warnings[0]
    assert [contrast_rating(r) for r in range(1, 6)] == [5, 5, None, 1, 1]


@pytest.mark.parametrize("value", [0.5, 5.5, float("nan"), "lots"])
def test_out_of_range_guidance_is_refused_by_name(value):
    with pytest.raises(SettingsError, match="rating_guidance"):
        SamplingSettings.from_mapping({"rating_guidance": value})


def test_links_carry_guidance(tiny_service):
    settings = tiny_service.settings("tiny-gptneo", rating_guidance=2.5)
    state = PageState("tiny-gptneo", Task.REVIEW, "", settings, rating=1)
    query = to_query(state)
    assert "rating_guidance=2.5" in query
    params = dict(p.split("=", 1) for p in query[1:].split("&"))
    assert from_query(tiny_service, params).settings.rating_guidance == 2.5
    bad = from_query(tiny_service, {**params, "rating_guidance": "9"})
    assert bad.settings.rating_guidance == 1.0 and "rating_guidance must be between 1 and 5" in bad.notices[0]


def test_a_link_made_before_guidance_writes_unguided(tiny_service):
    from dataclasses import replace

    entry = tiny_service.entries["tiny-gptneo"]
    tiny_service.entries["tiny-gptneo"] = replace(entry, defaults=entry.defaults.replace(rating_guidance=2.0))
    older = {"model": "tiny-gptneo", "mode": "review", "rating": "1", "temperature": "0.8", "seed": "4"}
    assert from_query(tiny_service, older).settings.rating_guidance == 1.0
    assert from_query(tiny_service, {"model": "tiny-gptneo"}).settings.rating_guidance == 2.0  # the card's
    compare = {**older, "tab": "compare", "presets": "Card defaults,Greedy", "c1_temperature": "0.9"}
    columns = from_query(tiny_service, compare).columns
    assert columns[0].settings.rating_guidance == 1.0  # an older link's column
    fresh = from_query(tiny_service, {**compare, "c1_rating_guidance": "2"}).columns[0]
    assert fresh.settings.rating_guidance == 2.0
