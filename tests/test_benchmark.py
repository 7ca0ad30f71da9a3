"""The benchmark still runs (smoke mode: tiny sizes, no timing assertions)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("llama_cpp")


def test_benchmark_smoke(tmp_path):
    from benchmarks.run import main, parse_args

    result = main(parse_args(["--smoke", "--skip-processes", "--out", str(tmp_path)]))
    saved = json.loads((tmp_path / "smoke.json").read_text())
    assert saved["machine"]["smoke"] is True
    engines = set(result["decode_tokens_per_s"])
    assert engines == {"autowrite (llama.cpp backend)", "llama-cpp-python", "transformers pipeline (bf16)"}
    for name in engines:
        assert result["keystroke_ms"][name]["letter"]["n"] == 6
    assert set(result["concurrent_tokens_per_s"]) == {"1 alone", "8 sharing steps", "8 taking turns"}
    assert all(rate > 0 for rate in result["concurrent_tokens_per_s"].values())
    markdown = (tmp_path / "smoke.md").read_text()
    assert "| autowrite (llama.cpp backend) |" in markdown and "Eight people generating at once" in markdown


def test_load_test_smoke(tmp_path):
    """Each endpoint once by parameter name, then two users for a few seconds: every call shape is served."""
    from benchmarks.load import main, parse_args

    result = main(parse_args(["--smoke", "--out", str(tmp_path)]))  # raises LoadFailed on any error
    assert result["errors"] == 0, result["error_samples"]
    assert set(result["checked"]) == {"suggest", "ghost", "generate", "tokens", "compare", "report", "changes"}
    assert {"suggest", "ghost", "generate", "compare"} <= set(result["served"])
    # The load itself reaches a compare and a generation, beyond the check's one call each.
    assert result["served"]["compare"]["n"] >= 2 and result["served"]["generate"]["n"] >= 2
    assert result["served"]["suggest"]["n"] >= 2
    assert (tmp_path / "load.md").read_text().startswith("2 users")
    assert result["sessionless_users"] == 1 and result["flood"] is None  # one REST user sends no session hash


def test_guidance_through_the_app_times_both_ways_and_fails_loudly(tiny_gpt2_dir, tiny_gptneo_dir):
    """The HTTP row pair: guided and unguided from the generate endpoint, or an error, never a wrong figure."""
    from benchmarks.scenarios.guided import guidance_figures, http_guidance
    from benchmarks.timing import BenchmarkError, Config
    from tests.conftest import launched, make_tiny_service

    service = make_tiny_service(tiny_gpt2_dir, tiny_gptneo_dir)
    encode = service.load("tiny-gptneo").backend.encode
    config = Config(repeats=2, new_tokens=8)
    with launched(service) as (url, _):
        url = url.rstrip("/")
        figures = http_guidance(url, "tiny-gptneo", encode, config)
        assert figures["runs"] == 2 and figures["on_tokens_per_s"] > 0 and figures["off_tokens_per_s"] > 0
        assert figures["ratio"] == pytest.approx(figures["off_tokens_per_s"] / figures["on_tokens_per_s"])
        with pytest.raises(BenchmarkError, match="rating_guidance=2.0: .*The prompt is empty"):  # no review fields
            http_guidance(url, "tiny-gpt2", encode, config)
        with pytest.raises(BenchmarkError, match="rating_guidance=2.0: .*Unknown model"):
            http_guidance(url, "no such model", encode, config)
    with pytest.raises(BenchmarkError, match="changed nothing"):
        guidance_figures({2.0: [9.0], 1.0: [9.0]}, {2.0: "The same", 1.0: "The same"})
