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
