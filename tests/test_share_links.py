"""Share links are data: markup shows as text, bad values fall back, long prompts still make a link that opens."""

from __future__ import annotations

import random
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit

import pytest

from autowrite.formats import CATEGORIES, Task
from autowrite.service import MAX_PROMPT_CHARS, UserError
from autowrite.settings import SamplingSettings
from autowrite.ui.share import MAX_LINK_CHARS, PLAIN_LINK_CHARS, PageState, from_query, pack, to_query, unpack

HOSTILE = {
    "model": '<form action="http://elsewhere.example/steal"><input type=password name=p><button>Log in</button></form>',
    "mode": "![t](http://elsewhere.example/t.png)",
    "category": '<div style="position:fixed;inset:0;background:red">Session expired</div>',
    "presets": "Greedy,<img src=http://elsewhere.example/x.png>",
    "c1_top_k": "[click](http://elsewhere.example/)",
    "<img src=http://elsewhere.example/name.png>": "1",
    "tab": "compare",
    "prompt": "Sony TV",
}


def random_cjk(count: int, seed: int = 0) -> str:
    """Text from the whole CJK Unified Ideographs block: about as incompressible as a prompt gets."""
    rng = random.Random(seed)
    return "".join(chr(rng.randrange(0x4E00, 0xA000)) for _ in range(count))


def test_a_long_prompt_goes_into_the_link_compressed_and_comes_back(tiny_service):
    prompt = random_cjk(MAX_PROMPT_CHARS)
    state = PageState("tiny-gpt2", Task.FREE, prompt, SamplingSettings(seed=9))
    query = to_query(state)
    assert "prompt_z=" in query and "prompt=" not in query
    assert len(query) <= MAX_LINK_CHARS
    restored = from_query(tiny_service, dict(parse_qsl(query[1:])))
    assert restored.prompt == prompt and restored.notices == []
    short = to_query(PageState("tiny-gpt2", Task.FREE, "Sony TV", SamplingSettings()))
    assert "prompt=Sony+TV" in short and len(short) < PLAIN_LINK_CHARS  # short prompts stay readable


def test_a_page_too_long_for_any_link_is_refused_by_name(tiny_service, monkeypatch):
    monkeypatch.setattr("autowrite.ui.share.MAX_LINK_CHARS", 5_000)
    with pytest.raises(UserError, match="too long to share as a link"):
        to_query(PageState("tiny-gpt2", Task.FREE, random_cjk(MAX_PROMPT_CHARS), SamplingSettings()))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("!!!", "cannot be read"),
        (pack("x" * 200_000), "cut short or larger than a prompt"),  # a compression bomb
        (pack("Sony TV " * 50)[:-8], "cannot be read"),
    ],
)
def test_a_bad_compressed_prompt_falls_back_with_a_notice(tiny_service, value, message):
    state = from_query(tiny_service, {"prompt_z": value, "temperature": "0.5"})
    assert state.prompt == "" and state.settings.temperature == 0.5
    assert any(message in notice for notice in state.notices), state.notices
    assert unpack(pack("Sony TV")) == "Sony TV"


def test_every_bad_value_falls_back_and_the_rest_is_restored(tiny_service):
    state = from_query(
        tiny_service,
        {"prompt": "x", "tab": "generate", "top_k": "inf", "seed": "1e999", "rating": "3.5", "temperature": "0.5"},
    )
    assert (state.prompt, state.tab, state.settings.temperature) == ("x", "generate", 0.5)
    joined = " ".join(state.notices)
    assert "top_k must be a finite number" in joined and "seed must be a finite number" in joined
    assert "rating must be a whole number from 1 to 5, got '3.5'" in joined


def test_a_hostile_links_values_are_echoed_short(tiny_service):
    state = from_query(tiny_service, {**HOSTILE, "model": "<b>" * 3000})
    # The longest notice lists the 17 categories (300 characters) before the value it got.
    assert all(len(notice) < 500 for notice in state.notices), state.notices
    assert all(notice.count("<b>") <= 20 for notice in state.notices), state.notices


@pytest.mark.parametrize("category", CATEGORIES)
def test_a_link_carries_every_category_the_app_offers(tiny_service, category):
    state = PageState("tiny-gptneo", Task.REVIEW, "It", SamplingSettings(seed=2), category=category)
    query = to_query(state)
    assert "category=" + quote_plus(category) in query
    restored = from_query(tiny_service, dict(parse_qsl(query[1:])))
    assert (restored.category, restored.notices) == (category, [])


@pytest.mark.parametrize(
    ("query", "category"),
    [
        ("category=Pet%20Supplies", "Pet Supplies"),
        ("category=Pet+Supplies", "Pet Supplies"),
        ("category=Pet_Supplies", "Pet Supplies"),  # a data file's spelling
        ("category=" + quote("Arts, Crafts & Sewing"), "Arts Crafts and Sewing"),
        ("category=tools_and_home_improvement", "Tools and Home Improvement"),
        ("category=Electronics", "Electronics"),
    ],
)
def test_a_link_reads_a_category_as_people_and_data_files_spell_it(tiny_service, query, category):
    state = from_query(tiny_service, dict(parse_qsl("mode=review&" + query)))
    assert (state.category, state.notices) == (category, [])


def test_an_unknown_category_falls_back_and_says_which_there_are(tiny_service):
    review = from_query(tiny_service, {"model": "tiny-gptneo", "mode": "review", "category": "Garden", "rating": "2"})
    assert (review.category, review.rating) == ("Electronics", 2)
    assert review.notices == [f"category must be one of {', '.join(CATEGORIES)}; got 'Garden'; using Electronics."]
    ad = from_query(tiny_service, {"model": "tiny-gptneo", "mode": "ad", "category": "Garden"})
    assert ad.category == "" and ad.notices[0].endswith("; got 'Garden'; writing the ad for any category.")


def test_an_ads_category_goes_into_its_link_only_when_chosen(tiny_service):
    chosen = PageState("tiny-gptneo", Task.AD, "Chrome polish", SamplingSettings(seed=4), category="Automotive")
    query = to_query(chosen)
    assert "mode=ad" in query and "category=Automotive" in query and "rating=" not in query
    restored = from_query(tiny_service, dict(parse_qsl(query[1:])))
    assert (restored.task, restored.category, restored.prompt, restored.notices) == (
        Task.AD,
        "Automotive",
        "Chrome polish",
        [],
    )
    anywhere = to_query(PageState("tiny-gptneo", Task.AD, "Chrome polish", SamplingSettings(seed=4)))
    assert "category=" not in anywhere
    assert from_query(tiny_service, dict(parse_qsl(anywhere[1:]))).category == ""
    # A review link without one, as links made before the category mattered: the default.
    assert from_query(tiny_service, {"mode": "review", "model": "tiny-gptneo"}).category == "Electronics"


def _watch_outside_requests(page) -> list[str]:
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if urlsplit(r.url).hostname != "127.0.0.1" else None)
    return outside


@pytest.mark.browser
def test_a_link_carrying_markup_shows_it_as_text_and_fetches_nothing(app_url, browser, tmp_path):
    url, _ = app_url
    page = browser.new_page()
    outside = _watch_outside_requests(page)
    page.goto(url + "?" + urlencode(HOSTILE))
    page.wait_for_function("document.querySelector('#cmp-prompt textarea')?.value === 'Sony TV'", timeout=20_000)
    notice = page.locator("#notice")
    page.wait_for_function("document.querySelector('#notice').innerText.includes('elsewhere')", timeout=10_000)
    text = notice.inner_text()
    for shown in ("<form action=", "![t](http://elsewhere.example/t.png)", "position:fixed", "<img src="):
        assert shown in text, text
    assert page.locator("form, input[type=password], img[src*=elsewhere], a[href*=elsewhere]").count() == 0
    assert page.locator("#notice .md [style]").count() == 0  # no styled block of the link's making
    page.screenshot(path=tmp_path / "hostile-link.png", full_page=True)
    page.close()
    assert outside == [], outside


@pytest.mark.browser
def test_a_link_with_an_infinite_value_restores_the_rest(app_url, browser):
    url, _ = app_url
    page = browser.new_page()
    page.goto(url + "?tab=generate&prompt=" + quote("Sony TV") + "&top_k=inf&temperature=0.5")
    page.wait_for_function("document.querySelector('#gen-prompt textarea')?.value === 'Sony TV'", timeout=20_000)
    assert page.locator("#gen-prompt").is_visible()  # the link opened the generate tab
    assert page.locator("#temperature input[type=number]").input_value() == "0.5"
    assert "top_k must be a finite number, got inf" in page.locator("#notice").inner_text()
    page.close()


@pytest.mark.browser
def test_the_share_button_links_an_8000_character_cjk_prompt(app_url, browser):
    url, _ = app_url
    prompt = random_cjk(MAX_PROMPT_CHARS, seed=1)
    page = browser.new_page()
    page.goto(url + "?tab=generate&model=tiny-gpt2&seed=5")
    page.wait_for_function("document.querySelector('#gen-prompt')?.offsetParent !== null", timeout=20_000)
    page.locator("#gen-prompt textarea").fill(prompt)
    page.click("#share")
    page.wait_for_function("document.querySelector('#share-link textarea').value.includes('prompt_z=')")
    link = page.locator("#share-link textarea").input_value()
    assert len(link) < MAX_LINK_CHARS
    page.close()
    again = browser.new_page()
    response = again.goto(link)
    assert response.status == 200
    again.wait_for_function(
        "(want) => document.querySelector('#gen-prompt textarea')?.value === want", arg=prompt, timeout=20_000
    )
    assert again.locator("#seed input").input_value() == "5"
    again.close()


def test_messages_are_shown_as_text_in_markdown_and_in_toasts():
    """Notices are Markdown and Gradio's error toasts render HTML: neither may run a link's markup."""
    from autowrite.ui.common import as_text, page_error

    hostile = '<img src="http://elsewhere.example/x.png"> ![t](http://elsewhere.example/t.png) **b**'
    markdown = as_text(hostile)
    assert "<" not in markdown and "](" not in markdown and "**" not in markdown
    assert page_error(UserError(hostile)).message.startswith("&lt;img src=&quot;http")


@pytest.mark.parametrize(
    ("params", "tab"),
    [
        ({}, "live"),
        ({"model": "tiny-gptneo", "mode": "review", "rating": "2"}, "live"),  # fields every tab reads
        ({"model": "tiny-gptneo", "mode": "review", "branch": "2:45"}, "generate"),  # empty prompt, a branch
        ({"samples": "2"}, "generate"),
        ({"temperature": "0.5"}, "generate"),
        ({"prompt": "Sony TV"}, "generate"),
        ({"tab": "compare", "prompt": "Sony TV"}, "compare"),
        ({"tab": "poem"}, "generate"),
    ],
)
def test_a_link_opens_the_tab_it_names_or_the_one_its_values_are_for(tiny_service, params, tab):
    assert from_query(tiny_service, params).tab == tab


def test_every_link_names_its_tab_even_with_an_empty_prompt(tiny_service):
    state = PageState("tiny-gptneo", Task.REVIEW, "", SamplingSettings(max_new_tokens=8), branch="2:45")
    query = to_query(state)
    assert query.startswith("?tab=generate&") and "prompt=" not in query
    restored = from_query(tiny_service, dict(parse_qsl(query[1:])))
    assert (restored.tab, restored.branch, restored.prompt) == ("generate", "2:45", "")


def test_a_link_carries_each_new_sampler_and_leaves_out_those_off(tiny_service):
    from autowrite.ui.share import Column

    chosen = SamplingSettings(
        typical_p=0.9, top_n_sigma=1.5, xtc_probability=0.5, dry_multiplier=0.8, dry_sequence_breakers='"\\n", "*"',
        mirostat=2, logit_bias="great: 2", banned_words='awful, "a, b"',
    )  # fmt: skip
    query = to_query(PageState("tiny-gpt2", Task.FREE, "Sony TV", chosen))
    assert "epsilon_cutoff" not in query and "eta_cutoff" not in query  # off, so left out
    assert from_query(tiny_service, dict(parse_qsl(query[1:]))).settings == chosen
    columns = [
        Column("Creative", chosen.replace(max_new_tokens=60)),
        Column("Greedy", SamplingSettings(max_new_tokens=60)),
    ]
    state = PageState(
        "tiny-gpt2", Task.FREE, "Sony TV", chosen.replace(max_new_tokens=60), tab="compare", columns=columns
    )
    query = to_query(state)
    assert "c1_banned_words" in query and "c2_banned_words" not in query
    restored = from_query(tiny_service, dict(parse_qsl(query[1:])))
    assert [c.settings for c in restored.columns] == [c.settings for c in columns]


def test_a_link_without_a_new_sampler_has_it_off_whatever_the_card_says(tiny_service, monkeypatch):
    import dataclasses

    entry = tiny_service.entry("tiny-gpt2")
    card = dataclasses.replace(entry, defaults=entry.defaults.replace(dry_multiplier=0.8, banned_words="x"))
    monkeypatch.setattr(tiny_service, "entry", lambda name=None: card)
    state = from_query(tiny_service, {"model": "tiny-gpt2", "temperature": "0.7", "prompt": "Hi"})
    assert state.settings.dry_multiplier == 0.0 and state.settings.banned_words == ""


def test_a_bad_text_setting_in_a_link_falls_back_with_a_notice(tiny_service):
    state = from_query(tiny_service, {"prompt": "Hi", "banned_words": "<b>" * 20, "logit_bias": "<i>x</i>: 2"})
    assert state.settings.banned_words == "" and state.settings.logit_bias == "<i>x</i>: 2"
    assert len(state.notices) == 1 and "banned_words" in state.notices[0]
