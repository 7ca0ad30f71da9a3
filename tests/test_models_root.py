"""Typed local models come only from the models folder, and a refusal says nothing about the rest of the disk."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autowrite.catalog import Entry
from autowrite.formats import Task
from autowrite.service import Request, Service, UserError
from autowrite.settings import SamplingSettings

REFUSAL = "is neither a catalog model, a folder under the models folder, nor a Hub repo id (owner/name)."


@pytest.fixture()
def layout(tmp_path, tiny_gpt2_dir):
    """A models folder with one model (and one behind a symlink that stays inside), and a model outside it."""
    root = tmp_path / "models"
    shutil.copytree(tiny_gpt2_dir, root / "reviews" / "tiny")
    outside = shutil.copytree(tiny_gpt2_dir, tmp_path / "secret-model")
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "alias").symlink_to(root / "reviews" / "tiny", target_is_directory=True)
    return root, outside


def _service(tiny_gpt2_dir: Path, **options) -> Service:
    catalog = [Entry(name="catalog", source="local", path=str(tiny_gpt2_dir), task=Task.FREE)]
    return Service(catalog, allow_custom=True, read_hub_cards=False, **options)


def test_a_folder_under_the_models_folder_loads_under_its_typed_name(layout, tiny_gpt2_dir):
    root, _ = layout
    service = _service(tiny_gpt2_dir, models_dir=root)
    entry = service.entry("reviews/tiny")
    assert (entry.name, entry.source) == ("reviews/tiny", "local")
    assert Path(entry.path) == (root / "reviews" / "tiny").resolve()
    assert service.entry("alias").path == entry.path  # a symlink that stays inside the folder is followed
    settings = SamplingSettings(max_new_tokens=3, do_sample=False)
    assert service.generate(Request(model="reviews/tiny", text="This speaker"), settings).texts[0]


@pytest.mark.parametrize(
    "typed",
    ["../secret-model", "reviews/../../secret-model", "ABSOLUTE", "~", "~/anything", "escape", "missing", "."],
)
def test_every_escape_gets_the_same_refusal_revealing_no_path(layout, tiny_gpt2_dir, typed, monkeypatch):
    root, outside = layout
    monkeypatch.setenv("HOME", str(outside.parent))  # "~" would be a folder that exists, if it were expanded
    typed = str(outside) if typed == "ABSOLUTE" else typed
    service = _service(tiny_gpt2_dir, models_dir=root)
    with pytest.raises(UserError) as refused:
        service.entry(typed)
    message = str(refused.value)
    assert message == f"{typed!r} {REFUSAL}"
    for hidden in (str(root), str(root.resolve()), str(outside), str(outside.parent), "secret-model"):
        assert hidden not in message or hidden in typed
    assert typed not in service.entries


def test_without_a_models_folder_no_folder_loads(layout, tiny_gpt2_dir, monkeypatch):
    root, _ = layout
    monkeypatch.chdir(root)  # a name relative to the working folder is no way in either
    service = _service(tiny_gpt2_dir)
    for typed in (str(root / "reviews" / "tiny"), "reviews/tiny", "escape", "/proc/self/cwd"):
        with pytest.raises(UserError) as refused:
            service.entry(typed)
        assert str(root) not in str(refused.value).replace(typed, "")
    with pytest.raises(UserError, match=r"^'escape' is neither a catalog model nor a Hub repo id \(owner/name\)\.$"):
        service.entry("escape")


def test_owner_slash_name_is_a_hub_id_unless_a_folder_under_the_models_folder_has_it(layout, tiny_gpt2_dir):
    root, _ = layout
    service = _service(tiny_gpt2_dir, models_dir=root)
    assert service.entry("reviews/tiny").source == "local"
    # Tests run offline: a Hub id that is not cached is refused as such, not as a folder.
    with pytest.raises(UserError, match="^The Hub cannot be reached and reviews/other is not in the local cache"):
        service.entry("reviews/other")


def test_a_broken_folder_under_the_models_folder_fails_without_showing_its_path(layout, tiny_gpt2_dir):
    root, _ = layout
    broken = shutil.copytree(root / "reviews" / "tiny", root / "broken")
    (broken / "config.json").write_text("{not json")
    service = _service(tiny_gpt2_dir, models_dir=root)
    with pytest.raises(UserError, match="^cannot load the model in 'broken'") as refused:
        service.load("broken")
    assert str(root) not in str(refused.value)


def test_a_models_folder_that_is_not_a_folder_stops_the_start(tmp_path, tiny_gpt2_dir):
    with pytest.raises(ValueError, match="is not a folder"):
        _service(tiny_gpt2_dir, models_dir=tmp_path / "nowhere")
