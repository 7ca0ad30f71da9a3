"""One validated settings object: bounds, strict API parsing, lenient share-link parsing, presets."""

from __future__ import annotations

import pytest

from autowrite.catalog import load_catalog
from autowrite.service import Service
from autowrite.settings import PRESET_NAMES, SamplingSettings, SettingsError, preset

CATALOG = Service(load_catalog(), read_hub_cards=False)  # the cards the app offers offline
REVIEWS = "Autowrite reviews (SmolLM2-135M + LoRA)"
# Greedy decoding takes the likeliest token whatever these say, and a seed draws nothing.
SAMPLING_ONLY = ("temperature", "top_k", "top_p", "min_p", "seed")


def test_defaults_are_valid_and_round_trip():
    settings = SamplingSettings()
    assert SamplingSettings.from_mapping(settings.as_dict()) == settings


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("temperature", 0.0, "temperature must be between 0.05 and 2"),
        ("temperature", float("nan"), "temperature must be a finite number"),
        ("top_k", float("inf"), "top_k must be a finite number"),
        ("seed", "inf", "seed must be a finite number"),
        ("max_new_tokens", float("-inf"), "max_new_tokens must be a finite number"),
        ("top_k", 2.5, "top_k must be a whole number"),
        ("top_p", 1.5, "top_p must be between 0.05 and 1"),
        ("repetition_penalty", 0.5, "repetition_penalty must be between 1 and 2"),
        ("max_new_tokens", 100_000, "max_new_tokens must be between 1 and 512"),
        ("seed", -1, "seed must be between 0 and"),
        ("temperature", "hot", "temperature must be a number"),
        ("do_sample", "maybe", "do_sample must be true or false"),
    ],
)
def test_bad_values_name_the_setting_and_bounds(name, value, message):
    with pytest.raises(SettingsError, match=message):
        SamplingSettings.from_mapping({name: value})


def test_strings_from_urls_are_parsed():
    settings = SamplingSettings.from_mapping(
        {"temperature": "0.7", "top_k": "5", "top_p": "0.9", "do_sample": "false", "seed": "42", "max_new_tokens": "60"}
    )
    assert settings == SamplingSettings(
        temperature=0.7, top_k=5, top_p=0.9, do_sample=False, seed=42, max_new_tokens=60
    )
    assert isinstance(settings.top_k, int)


def test_unknown_setting_is_an_error():
    with pytest.raises(SettingsError, match="unknown setting"):
        SamplingSettings.from_mapping({"temprature": 0.5})


def test_lenient_falls_back_with_notices():
    base = SamplingSettings(temperature=0.7)
    settings, notices = SamplingSettings.lenient({"temperature": "9", "top_k": "7", "seed": "x"}, base=base)
    assert settings.temperature == 0.7
    assert settings.top_k == 7
    assert settings.seed == base.seed
    assert len(notices) == 2
    assert "temperature must be between 0.05 and 2" in notices[0]


def test_presets():
    card = SamplingSettings(temperature=0.7, top_k=5, top_p=0.9)
    assert preset("Card defaults", card, 30, 9) == card.replace(max_new_tokens=30, seed=9)
    assert preset("Greedy", card, 30, 9).do_sample is False
    assert {preset(n, card, 30, 9).seed for n in PRESET_NAMES} == {9}
    with pytest.raises(SettingsError, match="unknown preset"):
        preset("Wild", card, 30, 9)


def what_decides_the_text(settings: SamplingSettings) -> tuple:
    """The settings that change what is written: under greedy decoding the sampling ones do not."""
    values = settings.as_dict()
    if not settings.do_sample:
        values = {name: value for name, value in values.items() if name not in SAMPLING_ONLY}
    return tuple(sorted(values.items()))


@pytest.mark.parametrize("model", CATALOG.names)
def test_no_preset_duplicates_another_on_any_catalog_model(model):
    card = CATALOG.entry(model).defaults
    resolved = {name: what_decides_the_text(preset(name, card, 60, 7)) for name in PRESET_NAMES}
    assert len(set(resolved.values())) == len(PRESET_NAMES), resolved


def test_guided_stars_differs_from_the_card_in_guidance_alone():
    reviews = CATALOG.entry(REVIEWS).defaults
    assert reviews.rating_guidance == 2.0  # the review card guides, so a g=2 preset would be its twin
    assert preset("Guided stars", reviews, 60, 7) == preset("Card defaults", reviews, 60, 7).replace(rating_guidance=3)
    unguided = SamplingSettings(temperature=0.7)
    assert preset("Guided stars", unguided, 60, 7) == unguided.replace(max_new_tokens=60, seed=7, rating_guidance=2)
    assert preset("Guided stars", unguided.replace(rating_guidance=4.5), 60, 7).rating_guidance == 5.0


# The samplers peers offer: each new setting and the value that turns it off (docs/samplers.md).
OFF = {
    "typical_p": 1.0, "epsilon_cutoff": 0.0, "eta_cutoff": 0.0, "top_n_sigma": 0.0, "xtc_probability": 0.0,
    "dry_multiplier": 0.0, "mirostat": 0, "logit_bias": "", "banned_words": "",
}  # fmt: skip


def test_new_samplers_are_off_by_default_and_come_after_the_old_settings():
    settings = SamplingSettings()
    assert {name: getattr(settings, name) for name in OFF} == OFF
    fields = list(settings.as_dict())
    assert fields[:10] == [
        "temperature", "top_k", "top_p", "repetition_penalty", "max_new_tokens", "do_sample", "seed", "min_p",
        "no_repeat_ngram_size", "rating_guidance",
    ]  # fmt: skip
    assert SamplingSettings(0.5, 5, 0.9, 1.1, 20, True, 3, 0.1, 2, 1.5) == SamplingSettings(
        temperature=0.5, top_k=5, top_p=0.9, repetition_penalty=1.1, max_new_tokens=20, do_sample=True, seed=3,
        min_p=0.1, no_repeat_ngram_size=2, rating_guidance=1.5,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("mirostat", 1, r"mirostat 1 \(Mirostat v1\) is not offered; use 2"),
        ("mirostat", 3, "mirostat must be between 0 and 2"),
        ("typical_p", 0.0, "typical_p must be between 0.01 and 1"),
        ("xtc_threshold", 0.6, "xtc_threshold must be between 0 and 0.5"),
        ("dry_allowed_length", 2.5, "dry_allowed_length must be a whole number"),
        ("dry_penalty_last_n", -2, "dry_penalty_last_n must be between -1 and 8192"),
        ("top_n_sigma", "nan", "top_n_sigma must be a finite number"),
        ("banned_words", ["ok"] * 33, "banned_words takes at most 32 items, got 33"),
        ("banned_words", "x" * 41, "banned_words: 'xxx.* is longer than 40 characters"),
        ("banned_words", "a" * 5000, "banned_words is 5,000 characters; the limit is 4,000"),
        ("banned_words", ["ok", 3], "banned_words: each item must be a non-empty string, got 3"),
        ("banned_words", ["\ud800"], "banned_words: .* holds invalid Unicode"),
        ("banned_words", 7, "banned_words must be text, got 7"),
        ("dry_sequence_breakers", '"\\n', "dry_sequence_breakers must be a list such as"),
        ("logit_bias", "great 2", "logit_bias: each entry must be a word and a bias, got 'great 2'"),
        ("logit_bias", "great: lots", "logit_bias for 'great' must be a number, got ' lots'"),
        ("logit_bias", {"great": 101}, "logit_bias for 'great' must be between -100 and 100, got 101"),
        ("logit_bias", {"great": float("inf")}, "logit_bias for 'great' must be a finite number"),
        ("logit_bias", "{oops", "logit_bias must be an object such as"),
    ],
)
def test_new_settings_refuse_bad_values_by_name(name, value, message):
    with pytest.raises(SettingsError, match=message):
        SamplingSettings.from_mapping({name: value})


@pytest.mark.parametrize(
    ("name", "given", "text", "parsed"),
    [
        ("banned_words", " great,  awful ,", "great, awful", ("great", "awful")),
        ("banned_words", ["a, b", " c"], '"a, b", " c"', ("a, b", " c")),
        ("banned_words", '[" cat", "dog"]', '" cat", "dog"', (" cat", "dog")),
        ("banned_words", "", "", ()),
        ("dry_sequence_breakers", ["\n", ":"], '"\\n", ":"', ("\n", ":")),
        ("logit_bias", "great: 2, awful:-5.5", "great: 2, awful: -5.5", (("great", 2.0), ("awful", -5.5))),
        ("logit_bias", {"a:b": 1}, '{"a:b": 1.0}', (("a:b", 1.0),)),
        ("logit_bias", [["great", "3"]], "great: 3", (("great", 3.0),)),
    ],
)
def test_text_settings_read_text_lists_and_json_and_keep_one_canonical_text(name, given, text, parsed):
    settings = SamplingSettings.from_mapping({name: given})
    assert getattr(settings, name) == text
    assert {"banned_words": settings.banned, "dry_sequence_breakers": settings.breakers}.get(
        name, settings.biases
    ) == parsed
    assert SamplingSettings.from_mapping({name: text}) == settings  # the text reads back as itself


def test_default_breakers_are_llama_cpps():
    assert SamplingSettings().breakers == ("\n", ":", '"', "*")


def test_lenient_keeps_a_bad_text_setting_out_with_a_notice():
    settings, notices = SamplingSettings.lenient({"banned_words": "x" * 41, "logit_bias": "nice: 2"})
    assert settings.banned_words == "" and settings.logit_bias == "nice: 2"
    assert len(notices) == 1 and "banned_words" in notices[0]
