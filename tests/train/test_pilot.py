"""The pilot's variants, its per-category sample and its table."""

from __future__ import annotations

import pytest

from train.pilot import parse_variant, table
from train.prepare import stratified
from train.readers import Record


def test_a_variant_is_a_name_and_recipe_overrides():
    variant = parse_variant("natural-r32:lora_r=32,prepare.balance=false,lora_alpha=64")
    assert variant.name == "natural-r32"
    assert variant.overrides == {"lora_r": 32, "prepare.balance": False, "lora_alpha": 64}
    assert parse_variant("plain").overrides == {}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_variant("bad:lora_r")


def test_every_category_is_sampled_alike():
    records = [Record(text=f"{c} {i}", rating=5, category=c) for c in ("Books", "Pet Supplies") for i in range(30)]
    records += [Record(text="rare", rating=1, category="Automotive")]
    sample = stratified(records, 10, seed=0)
    counts = {c: sum(r.category == c for r in sample) for c in ("Automotive", "Books", "Pet Supplies")}
    assert counts == {"Automotive": 1, "Books": 10, "Pet Supplies": 10}
    assert stratified(records, 10, seed=0) == sample


def test_the_table_reads_changes_against_the_base_per_category():
    base = {"perplexity": 40.0, "per_category": {"Books": 50.0, "Pet Supplies": 30.0}}
    variant = {"perplexity": 30.0, "per_category": {"Books": 35.0, "Pet Supplies": 27.0}, "seconds": 600}
    lines = table({"base": base, "variants": {"natural-r8": variant}}).splitlines()
    assert lines[0] == "Base zero-shot: 40.00."
    assert lines[-1] == "| natural-r8 | 10 | 30.00 | -25.0% | -20.0% | Pet Supplies (-10.0%) |"
