"""The whole page: model picker, what to write, the three tabs, share links and the API."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.blocks import Block
from starlette.middleware import Middleware

from autowrite import hub
from autowrite.arena.pairs import Arena
from autowrite.arena.votes import Store
from autowrite.catalog import Entry
from autowrite.formats import Task
from autowrite.service import Service, UserError
from autowrite.settings import FIELDS
from autowrite.ui import api, changes, compare, generate, lanes, links, live, report, sweep, sweep_api
from autowrite.ui import arena as arena_tab
from autowrite.ui.boundary import Boundary
from autowrite.ui.calls import Group, named
from autowrite.ui.common import (
    TASKS,
    Common,
    as_text,
    reads_category,
    review_field_widgets,
    task_fields,
    warning_lines,
)
from autowrite.ui.refusals import log_refusal
from autowrite.ui.share import FIRST_TAB, PageState, from_query
from autowrite.ui.theme import autowrite_theme

ASSETS = Path(__file__).parent / "assets"
# After a Hub model's name in the dropdown while the Hub cannot be reached and it is not in the cache.
NEEDS_DOWNLOAD = " (needs download)"
SCRIPTS = ("keys.js", "inspector.js", "sweep.js")  # the page's own scripts, in the head
# What each setting, figure and symbol means: shown in the page as well, since a Space has no
# repository beside it to link to (space/build.py copies the file).
HELP_PAGE = Path(__file__).resolve().parents[2] / "docs" / "help.md"


def _click_when_shown_js(selector: str) -> str:
    """Client code that clicks a button once it has rendered, when the value it gets is set."""
    return f"""(n) => {{
  if (!n) return;
  const started = Date.now();
  const run = () => {{
    const button = document.querySelector('{selector}');
    if (button && button.offsetParent !== null) setTimeout(() => button.click(), 300);
    else if (Date.now() - started < 20000) setTimeout(run, 100);
  }};
  run();
}}"""


# A link to a report runs it, and a link to a branch writes it, as their buttons would.
_RUN_LINKED_REPORT_JS = _click_when_shown_js("#rep-run")
_RUN_LINKED_BRANCH_JS = _click_when_shown_js("#generate")
_RUN_LINKED_CHANGES_JS = _click_when_shown_js("#chg-run")
_RUN_LINKED_SWEEP_JS = _click_when_shown_js("#sweep-run")


def model_info(service: Service, model: str) -> str:
    """One line about the chosen model: where it comes from, what it writes, notices.

    Names and notes may come from a link or a typed model name, so each is shown as text.
    """
    try:
        entry = service.entry(model)
    except UserError as error:
        return f"⚠️ {as_text(error)}"
    where = {
        "embedded": "built in, no network needed",
        "hub": f"Hub: {as_text(entry.repo)}",
        "local": "local folder",
        "remote": f"remote server {as_text(entry.url)}",
    }[entry.source]
    if entry.adapter:
        where += f" + adapter {as_text(entry.adapter)}"
    notes = " · ".join(as_text(note) for note in service.notes(model))
    writes = {Task.REVIEW: "reviews", Task.AD: "ad copy", Task.FREE: "free text"}[entry.task]
    return f"{as_text(entry.description)} ({where}; writes {writes}){' · ' + notes if notes else ''}"


def load_model(service: Service, model: str, progress: gr.Progress = gr.Progress(track_tqdm=True)) -> str:  # noqa: B008
    """Load the model now (download if needed) so the first keystroke is fast; report the outcome.

    track_tqdm shows huggingface_hub's download bars in the page while a Hub model downloads.
    """
    try:
        service.load(model)
    except UserError as error:
        log_refusal(error)
        return f"⚠️ {as_text(error)}"
    return model_info(service, model)


# What choosing a model changes, by Page.named(): the task with its fields, the settings and the examples.
SWITCHED = ("task", "review_fields", "rating", "category", "headline", *FIELDS, "examples")


def switch_model(service: Service, model: str, task: str = "", category: str = "") -> dict[str, Any]:
    """The model's own task with its fields, default settings and examples after choosing it, by name (SWITCHED).

    task, category: the page's before the switch; the category stays while the task does.
    A model that cannot be chosen changes nothing.
    """
    try:
        entry = service.entry(model)
    except UserError as error:
        gr.Warning(html.escape(str(error)))  # the toast renders HTML
        return {}
    if entry.task.value != task:
        category = _category_after_switch(entry.task.value, category)
    return {
        "task": entry.task.value,
        **task_fields(entry.task.value, entry.prompt_format, category),
        **entry.defaults.as_dict(),
        "examples": gr.Dataset(samples=[[e] for e in entry.examples]),
    }


def review_fields_for(service: Service, task: str, model: str, category: str = "") -> dict[str, Any]:
    """The fields row, stars, category and headline after choosing a task, for the model chosen."""
    category = _category_after_switch(task, category)
    try:
        return task_fields(task, service.entry(model).prompt_format, category)
    except UserError:
        return task_fields(task, category=category)


def _category_after_switch(task: str, category: str) -> str:
    # An ad starts from any category: the one shown was chosen for a review, or is the
    # review's default. A review keeps a category chosen for an ad.
    return "" if task == Task.AD.value else category


def model_choices(service: Service, names: list[str], reachable: Callable[[], bool]) -> list[tuple[str, str]]:
    """The model dropdown's (label, name) pairs; a Hub model not in the local cache is marked while the Hub is out of reach.

    The value stays the model's name, so share links and the API read the same either way.
    """
    missing = {name for name in names if _needs_download(service.entries[name])}
    if not missing or reachable():  # the Hub is asked only when the answer changes a label
        return [(name, name) for name in names]
    return [(name + NEEDS_DOWNLOAD if name in missing else name, name) for name in names]


def _needs_download(entry: Entry) -> bool:
    return entry.source == "hub" and not hub.is_cached(entry.repo, entry.revision)


def restore(service: Service, request: gr.Request, choices: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """The page state from the URL's query parameters (a share link), by widget name (Page.named()), with any notices.

    A link that asks for no tab (share.from_query decides) leaves the page on its first tab.
    choices: the model dropdown's, when they are to be brought up to date.
    """
    params = dict(request.query_params) if request else {}
    state = from_query(service, params)
    entry = service.entry(state.model)
    fields = task_fields(state.task.value, entry.prompt_format, state.category)
    values = {
        "model": state.model if choices is None else gr.Dropdown(choices=choices, value=state.model),
        "task": state.task.value,
        **fields,
        "rating": {**fields["rating"], "value": state.rating},
        "headline": {**fields["headline"], "value": state.headline},
        "examples": gr.Dataset(samples=[[e] for e in entry.examples]),
        "notice": warning_lines(state.notices),
        "info": model_info(service, state.model),
        "active": state.tab,
        **_restored_tabs(state),
    }
    if state.tab != FIRST_TAB:
        values["tabs"] = gr.Tabs(selected=state.tab)
    return values


def _restored_tabs(state: PageState) -> dict[str, Any]:
    """What a link fills in on each tab, by widget name: the text, settings and branch; the columns and report; the text to score."""
    values = {
        "samples": state.samples, **state.settings.as_dict(),
        "branch": state.branch, "branch_row": gr.update(visible=bool(state.branch)), "run_branch": int(bool(state.branch)),
        **compare.restored(state),
        "headline_chars": state.headline_chars, "autorun": state.report,
        "run_changes": int(state.tab == "changes" and bool(state.prompt)),
    }  # fmt: skip
    if state.branch:
        values["inspect"] = True
    if state.report:
        values["seeds"] = state.report
    if state.sweep:
        setting, low, high, points = state.sweep.split(":")
        values.update(sweep_setting=setting, sweep_low=float(low), sweep_high=float(high), sweep_points=int(points),
                      sweep_seeds=state.sweep_seeds, sweep_autorun=1)  # fmt: skip
    values["changes_text" if state.tab == "changes" else "prompt"] = state.prompt
    return values


@dataclass
class Page:
    """The page's widgets that more than one part of it reads or fills."""

    common: Common
    info: gr.Markdown
    notice: gr.Markdown
    tabs: gr.Tabs
    active: gr.State  # which tab the share button links: the generate tab unless the compare tab is open
    generated: generate.GenerateWidgets
    compared: compare.CompareWidgets
    report: report.ReportWidgets
    swept: sweep.SweepWidgets
    autorun: gr.Number  # seeds of a report a link asks to run on opening (0: none)
    run_branch: gr.Number  # 1 when a link to a branch asks to write it on opening
    changed: changes.ChangesWidgets
    run_changes: gr.Number  # 1 when a link to the fine-tune tab asks to score its text on opening

    def named(self) -> dict[str, Block]:
        """Every widget a link fills in (restore()) or a model switch changes (SWITCHED), by name."""
        g, shown = self.generated, enumerate(self.compared.blocks, 1)
        return {
            **self.common.named(), "notice": self.notice, "info": self.info, "tabs": self.tabs, "active": self.active,
            "prompt": g.prompt, "samples": g.samples, **g.settings, "examples": g.examples, "inspect": g.inspect,
            "branch": g.branch, "branch_row": g.branch_row, "run_branch": self.run_branch,
            **self.compared.named(), **{compare.block_name(index): block for index, block in shown},
            "seeds": self.report.seeds, "headline_chars": self.report.headline_chars, "autorun": self.autorun,
            **self.swept.named(),
            "changes_text": self.changed.text, "run_changes": self.run_changes,
        }  # fmt: skip

    def only(self, *names: str) -> dict[str, Block]:
        """The named widgets among named()."""
        widgets = self.named()
        return {name: widgets[name] for name in names}


def build_demo(service: Service, arena: Arena | None = None) -> gr.Blocks:
    """The app's Blocks; builds widgets and events only (loads no model, launches nothing).

    arena: its votes' store; None keeps them in memory until the app stops (app.py passes a database).
    """
    names, reachable = service.names, hub.Reachability()  # the catalog's models; typed ones join no one's list
    with gr.Blocks(title="Autowrite") as demo:
        gr.Markdown(
            "# Autowrite\nTry, compare and share completions from small models fine-tuned on reviews and ads.",
            elem_id="header",
        )
        # Building the page asks no network; each page load asks (hub.Reachability) and relabels.
        common, info = _model_and_fields(service, model_choices(service, names, reachable.last))
        notice = gr.Markdown(elem_id="notice")
        page = _tabs(service, common, info, notice, arena or Arena(service, Store("sqlite://")))
        _help()
        _share_row(service, page)
        api.register(service)
        sweep_api.register(service)
        _model_events(service, page)

        def on_load(request: gr.Request) -> dict[str, Any]:
            # A closure, not a partial: the model list is asked for again at each page load.
            return restore(service, request, model_choices(service, names, reachable))

        loaded = demo.load(**named(on_load, outputs=page.named()), api_visibility="private")
        loaded.then(
            partial(load_model, service), common.model, info, api_visibility="private", show_progress="hidden",
            **lanes.LOAD,
        )  # fmt: skip
        # A link to a report runs it once the page holds the link's columns, as its button would;
        # the button appears only when the compare tab the link opened has rendered.
        loaded.then(None, page.autorun, None, js=_RUN_LINKED_REPORT_JS, api_visibility="private")
        loaded.then(None, page.run_branch, None, js=_RUN_LINKED_BRANCH_JS, api_visibility="private")
        loaded.then(None, page.run_changes, None, js=_RUN_LINKED_CHANGES_JS, api_visibility="private")
        loaded.then(None, page.swept.autorun, None, js=_RUN_LINKED_SWEEP_JS, api_visibility="private")
    return demo


def _model_and_fields(service: Service, choices: list[tuple[str, str]]) -> tuple[Common, gr.Markdown]:
    """The model picker with its info line, and what to write: task and the review fields."""
    default = service.entry(service.default_name)
    # Each side needs 320 px: the dropdown for a model's full name, the info line to stay a
    # paragraph; narrower, the info goes under the dropdown (a phone), not beside it.
    with gr.Row(equal_height=True, elem_id="model-row"):
        model = gr.Dropdown(
            choices,
            value=service.default_name,
            label="Model",
            allow_custom_value=service.allow_custom,
            scale=2,
            min_width=320,
            elem_id="model",
        )
        info = gr.Markdown(model_info(service, service.default_name), elem_id="model-info")  # 320 px: style.css
    with gr.Row(equal_height=True, elem_id="fields-row"):
        task = gr.Radio(TASKS, value=default.task.value, label="Write", scale=1, elem_id="task")
        # Two thirds for stars, category and headline: the three choices of Write need a third.
        with gr.Row(
            visible=reads_category(default.task.value, default.prompt_format), scale=2, elem_id="review-fields"
        ) as review_fields:
            rating, category, headline = review_field_widgets(default.task.value, default.prompt_format)
    return Common(model, task, rating, category, headline, review_fields), info


def _tabs(service: Service, common: Common, info: gr.Markdown, notice: gr.Markdown, arena: Arena) -> Page:
    """The tabs, and the state that follows which one is open."""
    active = gr.State("live")
    with gr.Tabs(elem_id="tabs") as tabs:
        with gr.Tab("Live completion", id="live") as live_tab:
            live.build(service, common)
        with gr.Tab("Generate", id="generate") as generate_tab:
            generated = generate.build(service, common)
        with gr.Tab("Compare", id="compare") as compare_tab:
            compared = compare.build(service, common)
            reported = report.build(service, common, compared)
            swept = sweep.build(service, common, compared, reported.headline_chars)
        with gr.Tab("Fine-tune", id="changes") as changes_tab:
            changed = changes.build(service, common, generated.boxes[0])
        with gr.Tab("Arena", id="arena"):
            arena_tab.build(arena, common)
    tabs_named = ((live_tab, "live"), (generate_tab, "generate"), (compare_tab, "compare"), (changes_tab, "changes"))
    for tab, name in tabs_named:
        tab.select(partial(str, name), None, active, api_visibility="private", queue=False)
    return Page(
        common, info, notice, tabs, active, generated, compared, reported, swept,
        gr.Number(0, visible="hidden", elem_id="rep-autorun"),  # not a State: the page's script reads it
        gr.Number(0, visible="hidden", elem_id="gen-autorun"), changed,
        gr.Number(0, visible="hidden", elem_id="chg-autorun"),
    )  # fmt: skip


def _help() -> None:
    """docs/help.md, folded under the tabs; its title is the fold's label."""
    _title, text = HELP_PAGE.read_text(encoding="utf-8").split("\n", 1)
    with gr.Accordion("What do these mean?", open=False, elem_id="help"):
        gr.Markdown(text)


def _model_events(service: Service, page: Page) -> None:
    """Choosing a task shows the fields the model reads for it; choosing a model loads it with its defaults."""
    common = page.common
    read = {"task": common.task, "model": common.model, "category": common.category}
    common.task.input(
        **named(review_fields_for, service, **read, outputs=page.only("review_fields", "rating", "category", "headline")),
        api_visibility="private",
    )  # fmt: skip
    common.model.input(
        **named(switch_model, service, model=common.model, task=common.task, category=common.category,
                outputs=page.only(*SWITCHED)),
        api_visibility="private",
    ).then(
        partial(load_model, service), common.model, page.info, api_visibility="private", show_progress="full",
        **lanes.LOAD,
    )  # fmt: skip


def _share_row(service: Service, page: Page) -> None:
    """The share button, reading what the open tab's link needs (links.share_link)."""
    g = page.generated
    links.share_row(
        service, tab=page.active, fields=page.common.fields, prompt=g.prompt, samples=g.samples, branch=g.branch,
        settings=Group(g.settings), compared=page.compared.values, report=page.report.ran,
        headline_chars=page.report.headline_chars, text=page.changed.text, swept=page.swept.drawn,
    )  # fmt: skip


def launch_options(demo: gr.Blocks) -> dict:
    """Styling, the Tab-to-accept key binding and the HTTP boundary, passed to launch() (Gradio 6 takes them there)."""
    return {
        "css": "\n".join((ASSETS / name).read_text(encoding="utf-8") for name in ("style.css", "inspector.css")),
        "head": "".join(f"<script>{(ASSETS / name).read_text(encoding='utf-8')}</script>" for name in SCRIPTS),
        "theme": autowrite_theme(),
        "app_kwargs": {"middleware": [Middleware(Boundary, blocks=demo)]},
        # Defence in depth behind the boundary's refusal: Gradio's own cap on an upload.
        "max_file_size": "1kb",
        "max_threads": lanes.MAX_THREADS,
        "state_session_capacity": lanes.SESSIONS,
    }
