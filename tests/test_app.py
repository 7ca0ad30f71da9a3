"""The launched app: the named API through gradio_client, and the page in headless Chromium."""

from __future__ import annotations

import queue
from urllib.parse import quote

import gradio as gr
import pytest

from autowrite.formats import CATEGORIES
from autowrite.service import Request
from autowrite.ui.common import RequestFields


def _no_logprobs(prompt, settings, top=10):
    from autowrite.service import Unavailable

    raise Unavailable("This server gives no log-probabilities.")


def test_api_endpoints_with_gradio_client(app_url):
    from gradio_client import Client

    url, service = app_url
    client = Client(url, verbose=False)
    names = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert {"/suggest", "/generate", "/compare"} <= names

    text = client.predict(
        prompt="The battery",
        model="tiny-gpt2",
        temperature=0.9,
        top_k=20,
        seed=7,
        max_new_tokens=10,
        api_name="/generate",
    )
    expected = service.generate(
        Request(model="tiny-gpt2", text="The battery"),
        service.settings("tiny-gpt2", temperature=0.9, top_k=20, seed=7, max_new_tokens=10),
    ).texts[0]
    assert text == expected and text

    suggestions = client.predict(text="The sound is gre", model="tiny-gpt2", api_name="/suggest")
    assert suggestions["partial"] == "gre"
    assert all(w["word"].startswith("gre") for w in suggestions["words"])
    words_only = client.predict(text="The sound is gre", model="tiny-gpt2", ghost_tokens=0, api_name="/suggest")
    assert words_only["ghost"] == "" and words_only["words"]
    with pytest.raises(Exception, match="ghost_tokens must be a whole number from 0 to 32"):
        client.predict(text="The sound", model="tiny-gpt2", ghost_tokens=500, api_name="/suggest")

    columns = client.predict(
        prompt="The battery",
        model="tiny-gpt2",
        presets=["Greedy", "Creative"],
        seed=1,
        max_new_tokens=6,
        api_name="/compare",
    )
    assert [c["preset"] for c in columns] == ["Greedy", "Creative"]
    assert columns[0]["settings"]["do_sample"] is False
    assert abs(sum(c["adjusted"] for c in columns[0]["distribution"]) - 1.0) < 1e-6
    # A column's own settings over its preset, as a compare link carries them.
    tuned = client.predict(
        prompt="The battery",
        model="tiny-gpt2",
        presets=["Greedy", "Creative"],
        columns=[{}, {"temperature": 0.5, "top_k": 3}],
        seed=1,
        max_new_tokens=6,
        api_name="/compare",
    )
    assert tuned[0] == columns[0]  # no settings of its own: the preset's
    assert (tuned[1]["settings"]["temperature"], tuned[1]["settings"]["top_k"]) == (0.5, 3)
    assert tuned[1]["settings"]["top_p"] == columns[1]["settings"]["top_p"]
    with pytest.raises(Exception, match=r"columns\[0\]: a column takes only model, temperature"):
        client.predict(prompt="x", model="tiny-gpt2", presets=["Greedy"], columns=[{"seed": 3}], api_name="/compare")
    # A server that gives no log-probabilities (TGI): the texts still come, each distribution null and why.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(service.load("tiny-gpt2").model, "distribution", _no_logprobs)
        bare = client.predict(prompt="The battery", model="tiny-gpt2", presets=["Greedy"], seed=1, api_name="/compare")
    assert bare[0]["text"] and bare[0]["distribution"] is None
    assert bare[0]["distribution_note"] == "This server gives no log-probabilities."

    with pytest.raises(Exception, match="temperature must be between 0.05 and 2"):
        client.predict(prompt="x", model="tiny-gpt2", temperature=50, api_name="/generate")
    with pytest.raises(Exception, match="Unknown model"):
        client.predict(prompt="x", model="gpt-99", api_name="/generate")
    # Still serving after the errors.
    assert client.predict(prompt="Still", model="tiny-gpt2", max_new_tokens=3, api_name="/generate")


class Ends:
    """Each stream of a service method as it ends, with its last texts: a test-side wrapper, for waiting on it."""

    def __init__(self, monkeypatch, service, name: str) -> None:
        self._ended: queue.Queue[list[str]] = queue.Queue()
        method = getattr(service, name)

        def watched(*args, **kwargs):
            result = method(*args, **kwargs)
            if name == "compare":  # the columns, then their stream
                shown, outputs = result
                return shown, self._watched(outputs)
            return self._watched(result)

        monkeypatch.setattr(service, name, watched)

    def _watched(self, outputs):
        last = None
        try:
            for last in outputs:
                yield last
        finally:
            self._ended.put(last.texts if last is not None else [])

    def next(self) -> list[str]:
        """The last texts of the next stream to end."""
        return self._ended.get(timeout=60)  # a safety net: the tiny models write in about a second


# The Generate button says Generating… and takes no click from a click until the stream's end.
GENERATE_READY = (
    "() => { const b = document.querySelector('#generate');"
    " return b && b.innerText.trim() === 'Generate' && !b.disabled; }"
)


def _generated(page, ends: Ends) -> list[str]:
    """Click Generate and wait for its texts: the stream's end on the server, then the button back on the page."""
    page.click("#generate")
    texts = ends.next()
    page.wait_for_function(GENERATE_READY, timeout=30_000)
    return texts


def _compared(page, ends: Ends, columns: int) -> list[str]:
    """Click Compare and wait for its texts: the stream's end on the server, then each column showing its text."""
    page.click("#compare")
    texts = ends.next()
    page.wait_for_function(
        "(want) => want.every((text, i) => document.querySelector(`#cmp-out-${i} textarea`)?.value === text)",
        arg=texts[:columns],
        timeout=30_000,
    )
    return texts


# The ghost shows inside the text box, in the mirror laid over it (tests/test_ghost_page.py).
GHOST = "#live-text .ghost-mirror .ghost-text"
GHOST_SHOWN = f"document.querySelector('{GHOST}')?.checkVisibility() && document.querySelector('{GHOST}').innerText"


def _typed_in_live_tab(browser, url: str, text: str, delay: int = 30):
    """A new page with text typed into the live tab, a keystroke every delay milliseconds."""
    page = browser.new_page()
    page.goto(url)
    page.locator("#live-text textarea").click()
    page.keyboard.type(text, delay=delay)
    return page


@pytest.mark.browser
def test_typing_shows_suggestions_and_tab_accepts(app_url, browser):
    url, _ = app_url
    page = _typed_in_live_tab(browser, url, "The sound is gre", delay=40)
    first = page.locator("#word-0")
    first.wait_for(state="visible", timeout=20_000)
    page.wait_for_function("document.querySelector('#live-status').innerText.includes('gre')", timeout=20_000)
    label = first.inner_text()
    assert label.startswith("gre") and label.endswith("%")
    # The ghost follows once typing pauses, in its own event.
    page.wait_for_function(GHOST_SHOWN, timeout=20_000)
    ghost = page.locator(GHOST).inner_text()
    assert ghost
    page.keyboard.press("Tab")
    page.wait_for_function(
        "(want) => document.querySelector('#live-text textarea').value === want",
        arg="The sound is gre" + ghost,
        timeout=10_000,
    )
    page.close()


@pytest.mark.browser
def test_a_word_button_finishes_the_word_being_typed(app_url, browser):
    url, _ = app_url
    page = _typed_in_live_tab(browser, url, "The sound is gre", delay=40)
    page.wait_for_function("document.querySelector('#live-status').innerText.includes('gre')", timeout=20_000)
    page.wait_for_function(GHOST_SHOWN, timeout=20_000)  # the ghost has landed: words state settled
    word = page.locator("#word-0").inner_text().split()[0]
    page.click("#word-0")
    page.wait_for_function(
        "(want) => document.querySelector('#live-text textarea').value === want",
        arg="The sound is " + word,
        timeout=10_000,
    )
    page.close()


@pytest.mark.browser
def test_ghost_waits_for_a_pause_in_typing(app_url, browser, monkeypatch):
    """Words follow every keystroke; the ghost (eight sequential decodes) only a pause."""
    url, service = app_url
    asked: list[int] = []
    suggest = service.suggest

    def counting(request, count=5, ghost_tokens=8, finish=True):
        asked.append(ghost_tokens)
        return suggest(request, count=count, ghost_tokens=ghost_tokens, finish=finish)

    monkeypatch.setattr(service, "suggest", counting)
    page = _typed_in_live_tab(browser, url, "The battery lasts all day long")
    page.wait_for_function(GHOST_SHOWN, timeout=20_000)
    page.close()
    words_calls, ghost_calls = asked.count(0), len(asked) - asked.count(0)
    assert words_calls >= 3  # always_last folds keystrokes typed while a call is out
    assert 1 <= ghost_calls <= 2 and ghost_calls < words_calls, asked  # after the pause, not per keystroke


@pytest.mark.browser
def test_share_link_restores_the_page(app_url, browser, monkeypatch):
    url, service = app_url
    ends = Ends(monkeypatch, service, "stream")
    page = browser.new_page()
    page.goto(
        url + "?model=tiny-gpt2&prompt=" + quote("Sony TV") + "&temperature=0.5&top_k=7&top_p=9&seed=99&samples=2"
    )
    page.get_by_role("tab", name="Generate").click()
    prompt = page.locator("#gen-prompt textarea")
    page.wait_for_function("document.querySelector('#gen-prompt textarea').value === 'Sony TV'", timeout=20_000)
    assert prompt.input_value() == "Sony TV"
    assert page.locator("#temperature input[type=number]").input_value() == "0.5"
    assert page.locator("#top_k input[type=number]").input_value() == "7"
    assert page.locator("#top_p input[type=number]").input_value() == "0.9"  # the card default, not 9
    assert page.locator("#seed input").input_value() == "99"
    assert "top_p must be between 0.05 and 1" in page.locator("#notice").inner_text()
    texts = _generated(page, ends)
    first = page.locator("#sample-0 textarea").input_value()
    assert len(texts) == 2 and first == "Sony TV" + texts[0] and page.locator("#sample-1 textarea").input_value()
    page.close()
    # The same link gives the same text again.
    again = browser.new_page()
    again.goto(url + "?model=tiny-gpt2&prompt=" + quote("Sony TV") + "&temperature=0.5&top_k=7&seed=99&samples=2")
    again.get_by_role("tab", name="Generate").click()
    # The link's values are all in the page (one update brings them) before Generate reads them.
    again.wait_for_function(
        "document.querySelector('#gen-prompt textarea').value === 'Sony TV'"
        " && document.querySelector('#seed input').value === '99'",
        timeout=20_000,
    )
    assert _generated(again, ends) == texts
    assert again.locator("#sample-0 textarea").input_value() == first
    again.close()


@pytest.mark.browser
def test_compare_link_restores_the_columns_and_reproduces_them(app_url, browser, monkeypatch):
    """A compare link opens the compare tab with its columns; the share button there links them again."""
    url, service = app_url
    ends = Ends(monkeypatch, service, "compare")
    query = "?tab=compare&model=tiny-gpt2&prompt=" + quote("Sony TV") + "&presets=Greedy,Precise&c2_temperature=0.6"
    page = browser.new_page()
    page.goto(url + query + "&seed=3&max_new_tokens=12")
    page.wait_for_function("document.querySelector('#cmp-prompt textarea')?.value === 'Sony TV'", timeout=20_000)
    assert page.locator("#cmp-prompt").is_visible()  # the link opened the compare tab
    assert page.locator("#cmp-columns input:checked").input_value() == "2"
    assert not page.locator("#cmp-out-2").is_visible()
    assert page.locator("#cmp-seed input").input_value() == "3"
    assert page.locator("#cmp-length input[type=number]").input_value() == "12"
    page.click("#cmp1-settings .label-wrap")  # the second column's settings, folded away at first
    assert page.locator("#cmp1-temperature input[type=number]").input_value() == "0.6"
    texts = _compared(page, ends, 2)
    assert len(texts) == 2 and all(texts)
    page.click("#share")
    page.wait_for_function("document.querySelector('#share-link textarea').value.includes('tab=compare')")
    link = page.locator("#share-link textarea").input_value()
    assert "presets=Greedy%2CPrecise" in link and "c2_temperature=0.6" in link and "seed=3" in link
    page.close()
    again = browser.new_page()
    again.goto(link)
    again.wait_for_function(
        "document.querySelector('#cmp-prompt textarea')?.value === 'Sony TV'"
        " && document.querySelector('#cmp-seed input')?.value === '3'",
        timeout=20_000,
    )
    assert _compared(again, ends, 2) == texts
    # On the generate tab, the same button links the generate tab.
    again.get_by_role("tab", name="Generate").click()
    again.click("#share")
    again.wait_for_function("document.querySelector('#share-link textarea').value.includes('temperature=')")
    assert "tab=compare" not in again.locator("#share-link textarea").input_value()
    again.close()


@pytest.mark.browser
def test_an_ad_names_the_category_chosen_for_it(app_url, browser, monkeypatch):
    """The category dropdown offers every category; an ad's starts at any, and a chosen one leads its prompt and link."""
    url, service = app_url
    ends = Ends(monkeypatch, service, "stream")
    prompts: list[str] = []  # those written from; the live tab's words follow every field too (typing=True)
    prompt = service.prompt

    def recording(entry, request, typing=False):
        built = prompt(entry, request, typing)
        if not typing:
            prompts.append(built)
        return built

    monkeypatch.setattr(service, "prompt", recording)
    page = browser.new_page()
    page.goto(url + "?tab=generate&model=tiny-gptneo&mode=review&prompt=Chrome&max_new_tokens=3")
    page.wait_for_function("document.querySelector('#gen-prompt textarea')?.value === 'Chrome'", timeout=20_000)
    category = page.locator("#category input")
    category.click()
    assert page.locator("#category [role=option]").all_inner_texts() == [
        f"✓\n{c}" if c == "Electronics" else c for c in CATEGORIES
    ]
    page.keyboard.press("Escape")
    page.get_by_label("Ad", exact=True).check()
    page.wait_for_function("document.querySelector('#category input').value === 'Any category'", timeout=20_000)
    assert not page.locator("#rating").is_visible() and not page.locator("#headline").is_visible()

    def written() -> str:
        prompts.clear()
        _generated(page, ends)
        return prompts[0]

    assert written() == "Ad: Chrome"
    category.click()
    page.keyboard.press("Control+a")
    page.keyboard.type("auto")  # the list narrows as it is typed
    page.wait_for_function("document.querySelectorAll('#category [role=option]').length === 1")
    assert page.locator("#category [role=option]").all_inner_texts() == ["Automotive"]
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('#category input').value === 'Automotive'")
    assert written() == "Category: Automotive\nAd: Chrome"
    page.click("#share")
    page.wait_for_function("document.querySelector('#share-link textarea').value.includes('mode=ad')")
    link = page.locator("#share-link textarea").input_value()
    assert "category=Automotive" in link and "rating=" not in link
    page.close()
    again = browser.new_page()
    again.goto(link)
    again.wait_for_function("document.querySelector('#category input')?.value === 'Automotive'", timeout=20_000)
    assert not again.locator("#rating").is_visible()
    again.close()


def test_the_compare_share_button_reads_the_shown_columns(tiny_service):
    from autowrite.inputs import COLUMN_FIELDS
    from autowrite.settings import SamplingSettings
    from autowrite.ui.compare import ColumnValues, CompareValues
    from autowrite.ui.links import compare_query, share_link

    own = [[0.7, 5, 0.9, 1.2, True, 0.0, 0, 1.0], [1.1, 0, 0.95, 1.1, True, 0.1, 3, 2.0]]
    own += [[0.4, 20, 0.8, 1.3, True, 0, 0, 1.0]] * 2
    pickers = ["Card defaults", "Creative", "Precise", "Greedy"]
    models = ["", "tiny-gptneo", "", ""]  # column 2 on its own model

    later = [getattr(SamplingSettings(), name) for name in COLUMN_FIELDS[8:]]  # the samplers after min-p's row

    def columns() -> list[ColumnValues]:
        return [
            ColumnValues(p, m, dict(zip(COLUMN_FIELDS, [*o, *later], strict=True)))
            for p, m, o in zip(pickers, models, own)
        ]

    fields = RequestFields("tiny-gpt2", "ad", 5, "Books", "")
    query = compare_query(tiny_service, fields, CompareValues("Sony TV", 2, 9, 30, columns()))
    assert query.startswith("?tab=compare&")
    assert "presets=Card+defaults%2CCreative&" in query and "c1_top_k=5" in query and "c3_" not in query
    assert "c2_model=tiny-gptneo" in query and "c2_min_p=0.1" in query and "c1_model" not in query
    assert "c2_rating_guidance=2.0" in query
    own[0] = [7.0, *own[0][1:]]  # an out-of-range temperature typed into column 1
    with pytest.raises(gr.Error, match="temperature must be between"):  # the page's toast says why
        share_link(
            tiny_service, "compare", fields, "", 1, "", {}, CompareValues("Sony TV", 2, 9, 30, columns()), 0, 80, ""
        )


def test_a_ghost_made_for_an_older_text_is_not_appended():
    from autowrite.ui.live import accept_ghost

    assert accept_ghost("The sound is gre", {"ghost": "at and clear", "text": "The sound is gre"}) == (
        "The sound is great and clear"
    )
    # Typed on after the ghost was computed: appending it would garble the text.
    assert accept_ghost("The sound is grea", {"ghost": "at and clear", "text": "The sound is gre"}) == (
        "The sound is grea"
    )


def test_a_word_offered_for_an_older_text_is_not_inserted():
    from autowrite.ui.live import insert_word

    words = {"words": ["at", "en"], "text": "The sound is gre"}
    assert insert_word(0, "The sound is gre", words) == "The sound is great"
    # A newer keystroke's words have not arrived yet: "grea" + "at" would give "greaat".
    assert insert_word(0, "The sound is grea", words) == "The sound is grea"
    assert insert_word(4, "The sound is gre", words) == "The sound is gre"  # no fifth word


def test_a_ghost_leaves_the_words_alone(tiny_service):
    from autowrite.ui.live import live_ghost

    outputs = live_ghost(tiny_service, "The sound is", RequestFields("tiny-gpt2", "free", 5, "Books", ""))
    # The ghost's own state, and nothing that could put an older keystroke's words back.
    made = outputs["ghost_made"]
    assert set(outputs) == {"ghost", "ghost_made"} and made["text"] == "The sound is" and "words" not in made
    assert made["ghost"] and made["ghost"] in outputs["ghost"]


@pytest.mark.parametrize(
    ("partial", "appends", "status"),
    [
        ("gre", ["at", "en"], "Completing **gre**"),
        ("lids", [" are", " have"], "Next word"),  # the typed word is finished: the words after it
        ("", ["great", "good"], "Next word"),
        ("xq", [], "Completing **xq**: no likely words"),
    ],
)
def test_live_status_says_what_the_words_are(partial, appends, status):
    from autowrite.catalog import Entry
    from autowrite.formats import Task
    from autowrite.suggest import Suggestions, Word
    from autowrite.ui.live import live_suggest

    class Words:  # the service's answer, as the tab receives it
        def entry(self, name):
            return Entry(name="m", source="embedded", task=Task.FREE)

        def suggest(self, request, ghost_tokens, finish, count=5):
            return Suggestions(partial=partial, words=[Word(partial + a.strip(), a, 0.5) for a in appends])

    outputs = live_suggest(
        Words(), "The lids" if partial == "lids" else "x", RequestFields("m", "free", 5, "Books", "")
    )
    assert outputs["status"] == status


def _shown(fields: dict) -> dict:
    """Which of the fields row, stars, category and headline show, and the category's choices and value."""
    return {
        "row": fields["review_fields"]["visible"],
        "rating": fields["rating"]["visible"],
        "headline": fields["headline"]["visible"],
        "choices": [value for _, value in fields["category"].choices],
        "category": fields["category"].value,
    }


def test_the_fields_show_only_for_models_that_read_them(tiny_service):
    from autowrite.ui.app import review_fields_for

    # tiny-gptneo was trained with the field markers; tiny-gpt2 reads the text alone.
    review = _shown(review_fields_for(tiny_service, "review", "tiny-gptneo", "Books"))
    assert review == {"row": True, "rating": True, "headline": True, "choices": list(CATEGORIES), "category": "Books"}
    assert _shown(review_fields_for(tiny_service, "review", "tiny-gpt2", "Books"))["row"] is False
    # An ad: the category alone, any category first and chosen, the review's category left behind.
    ad = _shown(review_fields_for(tiny_service, "ad", "tiny-gptneo", "Books"))
    assert ad == {"row": True, "rating": False, "headline": False, "choices": ["", *CATEGORIES], "category": ""}
    assert _shown(review_fields_for(tiny_service, "ad", "tiny-gpt2", "Books"))["row"] is False
    assert _shown(review_fields_for(tiny_service, "free", "tiny-gptneo", "Books"))["row"] is False
    # Back to a review: a category chosen for the ad stays; any category becomes the default.
    assert _shown(review_fields_for(tiny_service, "review", "tiny-gptneo", "Automotive"))["category"] == "Automotive"
    assert _shown(review_fields_for(tiny_service, "review", "tiny-gptneo", ""))["category"] == "Electronics"


def test_switching_models_keeps_the_category_while_the_task_stays(tiny_service):
    from autowrite.ui.app import switch_model

    same = switch_model(tiny_service, "tiny-gptneo", "review", "Pet Supplies")
    assert same["task"] == "review" and _shown(same)["category"] == "Pet Supplies"
    tiny_service.allow_custom = True
    assert switch_model(tiny_service, "no/such-model", "review", "Pet Supplies") == {}  # nothing changes


def test_every_category_dropdown_offers_every_category(tiny_service):
    from autowrite.ui.app import build_demo

    demo = build_demo(tiny_service)
    dropdowns = [b for b in demo.blocks.values() if isinstance(b, gr.Dropdown) and b.label == "Category"]
    assert dropdowns and all([value for _, value in d.choices] == list(CATEGORIES) for d in dropdowns)
    assert [d.value for d in dropdowns] == ["Electronics"] * len(dropdowns)  # the default model writes reviews


def test_a_link_restores_an_ads_category(tiny_service):
    from types import SimpleNamespace

    from autowrite.ui.app import restore

    link = SimpleNamespace(query_params={"model": "tiny-gptneo", "mode": "ad", "category": "Automotive"})
    restored = restore(tiny_service, link)
    assert restored["task"] == "ad"
    assert _shown(restored) == {
        "row": True, "rating": False, "headline": False, "choices": ["", *CATEGORIES], "category": "Automotive"
    }  # fmt: skip
    link.query_params = {"model": "tiny-gptneo", "mode": "review", "category": "Pet_Supplies", "rating": "2"}
    restored = restore(tiny_service, link)
    rating, category, headline = restored["rating"], restored["category"], restored["headline"]
    assert (rating["value"], rating["visible"], category.value, headline["visible"]) == (2, True, "Pet Supplies", True)


def test_a_link_fills_in_the_widgets_it_names(tiny_service):
    """restore() names the widgets it fills and Page.named() finds each one: the load event shows the values by widget."""
    from types import SimpleNamespace

    from autowrite.ui.app import build_demo

    demo = build_demo(tiny_service)
    load = next(fn.fn for fn in demo.fns.values() if getattr(fn.fn, "__name__", "") == "on_load")

    def opened(query: dict) -> dict:
        shown = load(SimpleNamespace(query_params=query))
        return {widget.elem_id: value for widget, value in shown.items() if widget.elem_id}

    compared = opened({"tab": "compare", "model": "tiny-gpt2", "prompt": "Sony TV", "presets": "Greedy,Precise",
                       "c2_temperature": "0.6", "c2_model": "tiny-gptneo", "seed": "3", "max_new_tokens": "12"})  # fmt: skip
    assert (compared["cmp-prompt"], compared["cmp-columns"], compared["cmp-seed"], compared["cmp-length"]) == (
        "Sony TV", 2, 3, 12
    )  # fmt: skip
    assert (compared["cmp-preset-1"], compared["cmp1-temperature"], compared["cmp-model-1"]) == (
        "Precise",
        0.6,
        "tiny-gptneo",
    )
    assert "cmp-preset-2" not in compared and "cmp2-temperature" not in compared  # the third column keeps its own
    generated = opened({"model": "tiny-gpt2", "prompt": "Sony TV", "temperature": "0.5", "seed": "99", "samples": "2"})
    assert (generated["gen-prompt"], generated["temperature"], generated["seed"], generated["samples"]) == (
        "Sony TV", 0.5, 99, 2
    )  # fmt: skip


def test_every_setting_has_a_control():
    from autowrite.settings import FIELDS
    from autowrite.ui.common import CONTROLS

    assert set(CONTROLS) == set(FIELDS)


def test_a_handler_wired_by_name_reads_a_group_as_one_value():
    from autowrite.ui.calls import Group, named

    def handler(service: str, prompt: str, fields: RequestFields, request: gr.Request) -> dict:
        return {"out": (service, prompt, fields, request)}

    with gr.Blocks():
        prompt, model, task, out = gr.Textbox(), gr.Textbox(), gr.Textbox(), gr.Textbox()
        wired = named(handler, "svc", prompt=prompt, fields=Group({"model": model, "task": task}, RequestFields),
                      outputs={"out": out})  # fmt: skip
    assert wired["inputs_kwargs"] == {"prompt": prompt, "model": model, "task": task}
    assert list(inspect_parameters(wired["fn"])) == ["request", "prompt", "model", "task"]  # Gradio fills request first
    result = wired["fn"]("the request", prompt="Hi", model="m", task="ad")
    assert result == ("svc", "Hi", RequestFields(model="m", task="ad"), "the request")  # one output: its value alone


def inspect_parameters(fn) -> dict:
    import inspect

    return inspect.signature(fn).parameters
