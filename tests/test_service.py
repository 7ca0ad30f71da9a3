"""Bad input gets a clear message and the service keeps serving; share links round-trip."""

from __future__ import annotations

import pytest

from autowrite.formats import Task
from autowrite.service import MAX_PROMPT_CHARS, Request, UserError
from autowrite.settings import SamplingSettings
from autowrite.ui.share import PageState, from_query, to_query


def test_generate_is_reproducible_per_seed(tiny_service):
    settings = tiny_service.settings("tiny-gpt2", seed=5, max_new_tokens=10)
    request = Request(model="tiny-gpt2", text="The battery")
    first = tiny_service.generate(request, settings, samples=2).texts
    assert first == tiny_service.generate(request, settings, samples=2).texts
    assert first[0] != first[1]
    # Sample 2 with seed 5 is sample 1 with seed 6.
    assert first[1] == tiny_service.generate(request, settings.replace(seed=6)).texts[0]


def test_model_defaults_come_from_the_entry(tiny_service):
    assert tiny_service.settings("tiny-gpt2") == SamplingSettings(
        temperature=0.7, top_k=5, top_p=0.9, max_new_tokens=12, seed=3
    )
    assert tiny_service.settings("tiny-gpt2", top_k=9).top_k == 9


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.settings("tiny-gpt2", temperature=7), "temperature must be between 0.05 and 2"),
        (lambda s: s.settings("tiny-gpt2", max_new_tokens=10_000), "max_new_tokens must be between 1 and 512"),
        (lambda s: s.load("no-such-model"), "Unknown model 'no-such-model'"),
        (lambda s: s.stream(Request(model="tiny-gpt2", text="   "), SamplingSettings()), "The prompt is empty"),
        (
            lambda s: s.stream(Request(model="tiny-gpt2", text="x" * (MAX_PROMPT_CHARS + 1)), SamplingSettings()),
            "limit is 8,000",
        ),
        (  # a first line ended with Enter becomes the title: the limit still counts both
            lambda s: s.stream(
                Request(model="tiny-gptneo", text="x" * 5000 + "\n" + "y" * 5000, task="review"), SamplingSettings()
            ),
            "The prompt is 10,001 characters; the limit is 8,000",
        ),
        (
            lambda s: s.stream(Request(model="tiny-gpt2", text="hi"), SamplingSettings(), samples=9),
            "samples must be between 1 and 4",
        ),
        (lambda s: s.entry("/etc"), "Unknown model"),
        (  # the tiny model reads 128 tokens: no room for a prompt before 200 new ones
            lambda s: s.stream(Request(model="tiny-gpt2", text="hi"), SamplingSettings(max_new_tokens=200)),
            "reads at most 128 tokens, its prompt included: ask for fewer than 128 new tokens",
        ),
    ],
)
def test_bad_input_is_a_clear_error(tiny_service, call, message):
    with pytest.raises(UserError, match=message):
        call(tiny_service)
    # ...and the service keeps serving.
    assert tiny_service.generate(Request(model="tiny-gpt2", text="Still"), tiny_service.settings("tiny-gpt2")).texts[0]


def test_long_prompt_is_truncated_with_a_warning(tiny_service):
    request = Request(model="tiny-gpt2", text="good sound " * 300)
    output = tiny_service.generate(request, tiny_service.settings("tiny-gpt2", max_new_tokens=8))
    assert output.texts[0]
    assert "only its last" in output.warnings[0]


def test_emoji_and_control_characters(tiny_service):
    request = Request(model="tiny-gpt2", text="Love it 😍🎧\x00\x1b[31m\u200b great")
    assert tiny_service.generate(request, tiny_service.settings("tiny-gpt2", max_new_tokens=6)).texts[0]
    prompt = tiny_service.prompt(tiny_service.entry("tiny-gpt2"), request)
    assert prompt == "Love it 😍🎧[31m\u200b great"
    backend = tiny_service.load("tiny-gpt2").backend
    assert backend.decode(backend.encode(prompt)) == prompt
    suggestions = tiny_service.suggest(Request(model="tiny-gpt2", text="Emoji 😍 gre"))
    assert suggestions.partial == "gre"


def test_review_prompt_uses_the_field_markers(tiny_service):
    entry = tiny_service.entry("tiny-gptneo")
    prompt = tiny_service.prompt(
        entry, Request(model="tiny-gptneo", task=Task.REVIEW, rating=1, category="Books", headline="Dull")
    )
    assert prompt == "Category: Books\nRating: 1/5\nTitle: Dull\nReview:"
    with pytest.raises(UserError, match="rating"):
        tiny_service.prompt(entry, Request(model="tiny-gptneo", task=Task.REVIEW, rating=7))
    with pytest.raises(UserError, match="rating must be a whole number of stars from 1 to 5, got None"):
        tiny_service.prompt(entry, Request(model="tiny-gptneo", task=Task.REVIEW, rating=None))  # JSON null
    # An ad has no rating: whatever a client sends there is not read.
    assert tiny_service.prompt(entry, Request(model="tiny-gptneo", task=Task.AD, rating=None, text="Sony TV"))


def test_custom_models_only_with_the_flag(tiny_service, tiny_gpt2_dir):
    with pytest.raises(UserError, match="Unknown model"):
        tiny_service.entry(str(tiny_gpt2_dir))
    tiny_service.allow_custom = True
    with pytest.raises(UserError, match="neither a catalog model nor a Hub repo id"):
        tiny_service.entry(str(tiny_gpt2_dir))  # folders load only from --models-dir: tests/test_models_root.py
    with pytest.raises(UserError, match="not in the local cache"):
        tiny_service.entry("someone/some-model")
    with pytest.raises(UserError, match="neither a catalog model"):
        tiny_service.entry("rm -rf /")


def test_share_link_round_trip(tiny_service):
    settings = SamplingSettings(temperature=0.7, top_k=5, top_p=0.9, repetition_penalty=1.2, max_new_tokens=60, seed=42)
    state = PageState(
        "tiny-gpt2", Task.REVIEW, "Sony TV & more?", settings, rating=2, category="Books", headline="Meh", samples=3
    )
    query = to_query(state)
    assert "temperature=0.7&top_k=5&top_p=0.9&repetition_penalty=1.2&max_new_tokens=60" in query
    from urllib.parse import parse_qsl

    restored = from_query(tiny_service, dict(parse_qsl(query[1:])))
    assert restored == state


def test_share_link_bad_values_fall_back_with_notices(tiny_service):
    state = from_query(
        tiny_service, {"model": "nope", "temperature": "99", "top_k": "abc", "rating": "9", "mode": "poem", "x": "1"}
    )
    assert state.model == "tiny-gpt2"
    assert state.settings == tiny_service.settings("tiny-gpt2")
    joined = " ".join(state.notices)
    for expected in (
        "Unknown model 'nope'",
        "temperature must be between",
        "top_k must be a number",
        "rating must be a whole number from 1 to 5, got '9'",
        "mode must be one of review, ad, free; got 'poem'",
        "unknown parameter(s): 'x'",
    ):
        assert expected in joined


def test_compare_link_round_trip(tiny_service):
    """tab=compare keeps each column's preset and settings, with the seed and length they share."""
    from urllib.parse import parse_qsl

    from autowrite.ui.share import Column

    shared = SamplingSettings(max_new_tokens=40, seed=7)
    columns = [
        Column("Greedy", shared.replace(do_sample=False, repetition_penalty=1.3)),
        Column("Creative", shared.replace(temperature=1.5, top_k=0, top_p=0.95)),
        Column("Precise", shared.replace(temperature=0.3, top_k=20, top_p=0.8)),
    ]
    state = PageState("tiny-gpt2", Task.AD, "Sony TV", shared, tab="compare", columns=columns)
    query = to_query(state)
    assert query.startswith("?tab=compare&") and "presets=Greedy%2CCreative%2CPrecise" in query
    assert "c2_temperature=1.5" in query and "c3_top_k=20" in query and "c4_" not in query
    restored = from_query(tiny_service, dict(parse_qsl(query[1:])))
    assert restored.notices == []
    assert restored.columns == columns
    assert (restored.tab, restored.prompt, restored.task) == ("compare", "Sony TV", Task.AD)


def test_compare_link_bad_values_fall_back_with_notices(tiny_service):
    state = from_query(
        tiny_service,
        {
            "tab": "compare",
            "presets": "Greedy,Bogus,Creative,Precise,Greedy",
            "c1_temperature": "9",
            "c3_top_k": "12",
            "c9_top_k": "1",
            "max_new_tokens": "500",
        },
    )
    assert [c.preset for c in state.columns] == ["Greedy", "Card defaults", "Creative", "Precise"]
    card = tiny_service.entry("tiny-gpt2").defaults
    assert state.columns[0].settings.temperature == SamplingSettings().temperature  # 9 is out of range
    assert state.columns[1].settings == card.replace(max_new_tokens=200)  # the fallback preset, as shown
    assert state.columns[2].settings.top_k == 12  # the column's own value over its preset
    assert all(c.settings.max_new_tokens == 200 for c in state.columns)
    joined = " ".join(state.notices)
    for expected in (
        "1 to 4 columns, got 5",
        "Column 2: unknown preset 'Bogus'",
        "Column 1: temperature must be between",
        "at most 200 tokens per column",
        "unknown parameter(s): 'c9_top_k'",
    ):
        assert expected in joined
    assert from_query(tiny_service, {"tab": "poem"}).tab == "generate"


def test_a_typed_first_line_is_the_review_title(tiny_service):
    """With the headline field empty, a first line ended by a line break is the title.

    Before the line break, typed text is the title while typing (live suggestions), and the
    body under an empty title for a generation (the checkpoints never learned to write titles).
    """
    entry = tiny_service.entry("tiny-gptneo")

    def prompt(text: str, headline: str = "") -> str:
        request = Request(model="tiny-gptneo", task=Task.REVIEW, text=text, category="Books", headline=headline)
        return tiny_service.prompt(entry, request)

    assert prompt("Great little speaker\nThe bass") == (
        "Category: Books\nRating: 5/5\nTitle: Great little speaker\nReview: The bass"
    )
    assert prompt("Great little speaker\n").endswith("Title: Great little speaker\nReview:")
    assert prompt("Great little").endswith("Title:\nReview: Great little")
    assert prompt("").endswith("Title:\nReview:")
    typing = Request(model="tiny-gptneo", task=Task.REVIEW, text="", category="Books")
    assert tiny_service.prompt(entry, typing, typing=True).endswith("Title:")
    assert "Title: Fine\nReview: Line one\nline two" in prompt("Line one\nline two", headline="Fine")
    # Live suggestions after the line break continue the body, as if the title were typed
    # into the headline field.
    typed = Request(model="tiny-gptneo", task=Task.REVIEW, text="Great little speaker\nThe ba", category="Books")
    fielded = Request(
        model="tiny-gptneo", task=Task.REVIEW, text="The ba", category="Books", headline="Great little speaker"
    )
    as_title = Request(model="tiny-gptneo", task=Task.REVIEW, text="Great little speaker The ba", category="Books")
    kwargs = dict(count=5, ghost_tokens=3)
    assert tiny_service.suggest(typed, **kwargs) == tiny_service.suggest(fielded, **kwargs)
    assert tiny_service.suggest(typed, **kwargs) != tiny_service.suggest(as_title, **kwargs)


def test_a_checkpoints_card_is_read_again_when_it_changes(tmp_path, tiny_gpt2_dir):
    """A new training run rewrites the card: the running app takes its defaults without a restart."""
    import os
    import shutil

    from autowrite.catalog import Entry
    from autowrite.service import Service

    folder = shutil.copytree(tiny_gpt2_dir, tmp_path / "checkpoint")
    card = folder / "README.md"

    def write_card(temperature: float, when: int) -> None:
        card.write_text(f"---\ninference:\n  parameters:\n    temperature: {temperature}\n---\n# A checkpoint\n")
        os.utime(card, (when, when))

    write_card(0.7, 1_000_000)
    service = Service([Entry(name="ours", source="local", path=str(folder), task=Task.FREE)])
    assert service.entry("ours").defaults.temperature == 0.7
    write_card(0.3, 2_000_000)
    assert service.entry("ours").defaults.temperature == 0.3
    assert service.notes("ours") == []
    write_card(9.0, 3_000_000)  # out of bounds: the default stays, and the notes say why
    assert service.entry("ours").defaults.temperature == SamplingSettings().temperature
    assert "temperature" in " ".join(service.notes("ours"))
    card.unlink()
    assert service.entry("ours").defaults.temperature == SamplingSettings().temperature


def test_suggestions_for_a_text_longer_than_the_model_keep_its_end(tiny_service):
    backend = tiny_service.load("tiny-gpt2").backend
    text = "The strap is soft and the buckle holds. " * (backend.context_length // 4) + "The sound is gre"
    assert len(backend.encode(text)) > backend.context_length
    result = tiny_service.suggest(Request(model="tiny-gpt2", text=text))
    assert result.partial == "gre"
    assert all(w.word.startswith("gre") for w in result.words)


def test_generations_past_the_limit_are_refused_by_name_and_the_slot_comes_back(tiny_gpt2_dir):
    from autowrite.catalog import Entry
    from autowrite.service import Busy, Service

    entry = Entry(name="tiny-gpt2", source="local", path=str(tiny_gpt2_dir), task=Task.FREE)
    service = Service([entry], read_hub_cards=False, max_generations=1)  # one generation at a time
    request, settings = Request(model="tiny-gpt2", text="The battery"), SamplingSettings(max_new_tokens=4)
    never_read = service.stream(request, settings)  # a stream nobody reads holds no slot
    running = service.stream(request, settings)
    next(running)
    with pytest.raises(Busy, match="The app is busy: 1 generations are running or waiting"):
        next(service.stream(request, settings))
    running.close()  # a Stop, or a client that left
    assert service.generate(request, settings).texts[0]
    del never_read


def test_a_guidance_note_only_where_someone_asked_for_guidance(tiny_service):
    """The card's own guidance stays quiet where it cannot apply; a value someone set says why it is off."""
    from dataclasses import replace

    from autowrite.formats import Task
    from autowrite.service import Request

    entry = tiny_service.entries["tiny-gptneo"]
    card = entry.defaults.replace(rating_guidance=2.0, max_new_tokens=3)
    tiny_service.entries["tiny-gptneo"] = replace(entry, defaults=card)
    for task, rating in ((Task.AD, 5), (Task.REVIEW, 3)):
        request = Request(model="tiny-gptneo", task=task, text="Solid", rating=rating)
        assert tiny_service.generate(request, card).warnings == []
        asked = tiny_service.generate(request, card.replace(rating_guidance=3.0)).warnings
        assert len(asked) == 1 and asked[0].startswith("Rating guidance ") and "without it" in asked[0]


def test_an_action_looks_its_model_up_once(tiny_service, monkeypatch):
    """Each model of a request is resolved once and passed down: a compare's views read the models its columns opened."""
    from autowrite.decode import last
    from autowrite.service import Variant

    asked: list[str] = []
    entry = tiny_service.entry

    def counted(name):
        asked.append(name)
        return entry(name)

    monkeypatch.setattr(tiny_service, "entry", counted)
    request = Request(model="tiny-gpt2", text="The battery")
    columns = [Variant("tiny-gpt2", SamplingSettings(max_new_tokens=3, seed=s)) for s in (1, 2)]
    columns.append(Variant("tiny-gptneo", SamplingSettings(max_new_tokens=3)))
    views, outputs = tiny_service.compare(request, columns)
    assert all(view.distribution for view in views) and len(last(outputs).texts) == 3
    assert sorted(asked) == ["tiny-gpt2", "tiny-gptneo"]
    asked.clear()
    tiny_service.generate(request, SamplingSettings(max_new_tokens=3), samples=2)
    tiny_service.suggest(request, ghost_tokens=2)
    tiny_service.distribution(request, SamplingSettings())
    assert asked == ["tiny-gpt2"] * 3
