"""The load test's calls by parameter name, and what each answer must look like.

Before the load, each call shape (suggest for words, suggest with a ghost, generate, the
inspector's tokens, compare with its own columns, changes and report) is sent once and its
answer's shape checked; a failed check stops the run there.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from benchmarks.rest import Api
from benchmarks.tally import Tally

COMPARE_PRESETS = ["Greedy", "Card defaults", "Creative", "Precise"]
# The check sends each compare column settings of its own, as a compare link does, so the
# columns parameter is exercised; the column with a temperature shows it arrived.
CHECK_COLUMNS = [{}, {"top_k": 20}, {"temperature": 1.3}, {}]
# The reviews the load's people type; the check sends the first.
TEXTS = [
    "The sound is clear and the bass is deep, but the ear cushions get warm after an hour of use.",
    "I bought this blender for smoothies and it crushes ice without any trouble at all.",
    "This album grows on you with every listen; the second half is the best part.",
    "The novel starts slowly, yet the last hundred pages kept me up until three in the morning.",
]
BRANCH_TOKEN = 300  # in every vocabulary the app loads; the tokens check writes it by hand at step 1


def suggest_values(text: str, model: str | None, ghost_tokens: int = 8) -> dict:
    """A keystroke's suggest call (model None: the app's default); ghost_tokens=0 asks for the words alone."""
    return {"text": text, "model": model, "rating": 5, "category": "Electronics", "ghost_tokens": ghost_tokens}


def generate_values(prompt: str, model: str, seed: int) -> dict:
    """A 40-token sampled generation."""
    return {
        "prompt": prompt,
        "model": model,
        "max_new_tokens": 40,
        "do_sample": True,
        "seed": seed,
        "rating": 5,
        "category": "Electronics",
    }


def compare_values(prompt: str, model: str, seed: int, columns: list[dict] | None = None) -> dict:
    """A 4-column compare of 30 tokens; columns: each column's own settings, if any."""
    values = {
        "prompt": prompt,
        "model": model,
        "presets": COMPARE_PRESETS,
        "seed": seed,
        "max_new_tokens": 30,
        "rating": 5,
        "category": "Electronics",
    }
    return {**values, "columns": columns} if columns is not None else values


def _words(answer: object) -> str:
    if not isinstance(answer, dict) or not isinstance(answer.get("words"), list) or not answer["words"]:
        return f"expected a dict with a non-empty list of words, got {str(answer)[:120]}"
    if not all(isinstance(w, dict) and isinstance(w.get("word"), str) for w in answer["words"]):
        return f"expected each word as a dict with a word, got {str(answer['words'])[:120]}"
    return ""


def _ghost(answer: object) -> str:
    problem = _words(answer)
    if problem or not isinstance(answer.get("ghost"), str) or not answer["ghost"]:
        return problem or f"expected a non-empty ghost, got {str(answer)[:120]}"
    return ""


def _generated(answer: object) -> str:
    return "" if isinstance(answer, str) and answer else f"expected non-empty text, got {str(answer)[:120]}"


def _inspected(answer: object) -> str:
    tokens = answer.get("tokens") if isinstance(answer, dict) else None
    if not isinstance(tokens, list) or len(tokens) < 2:
        return f"expected a text token by token, got {str(answer)[:120]}"
    if tokens[1].get("token_id") != BRANCH_TOKEN or not tokens[1].get("forced"):
        return f"expected token {BRANCH_TOKEN} chosen by hand at step 1, got {str(tokens[1])[:120]}"
    if any(len(t.get("alternatives") or []) < 10 for t in tokens):
        return f"expected at least 10 alternatives at each token, got {str(tokens)[:120]}"
    return ""


def _changed(answer: object) -> str:
    if not isinstance(answer, dict) or not isinstance(answer.get("tokens"), list) or not answer["tokens"]:
        return f"expected the text's tokens under both models, got {str(answer)[:120]}"
    perplexity = answer.get("perplexity") or {}
    if not all(isinstance(perplexity.get(k), float) and perplexity[k] > 0 for k in ("base", "tuned")):
        return f"expected both perplexities, got {str(answer)[:120]}"
    return ""


def _compared(answer: object) -> str:
    if not isinstance(answer, list) or len(answer) != len(COMPARE_PRESETS):
        return f"expected a list of {len(COMPARE_PRESETS)} columns, got {str(answer)[:120]}"
    for index, (column, own) in enumerate(zip(answer, CHECK_COLUMNS)):
        if not isinstance(column, dict) or not {"text", "settings", "distribution"} <= set(column):
            return f"column {index}: expected text, settings and distribution, got {str(column)[:120]}"
        if column.get("preset") != COMPARE_PRESETS[index]:
            return f"column {index}: expected preset {COMPARE_PRESETS[index]}, got {column.get('preset')!r}"
        if any(column["settings"].get(key) != value for key, value in own.items()):
            return f"column {index}: its own settings {own} did not arrive: {column['settings']}"
    return ""


def report_values(prompt: str, model: str, seed: int) -> dict:
    """A report of two columns over two seeds of 20 tokens: the second column on its own settings."""
    return {**compare_values(prompt, model, seed, [{}, {"min_p": 0.1}]), "presets": COMPARE_PRESETS[:2],
            "max_new_tokens": 20, "seeds": 2}  # fmt: skip


def _reported(answer: object) -> str:
    if not isinstance(answer, list) or len(answer) != 2:
        return f"expected a report of 2 columns, got {str(answer)[:120]}"
    for index, column in enumerate(answer):
        if not isinstance(column, dict) or len(column.get("samples") or []) != 2:
            return f"column {index}: expected 2 samples and the figures, got {str(column)[:120]}"
        if "distinct_1" not in column or column.get("error"):
            return f"column {index}: expected figures, got {str(column)[:120]}"
    return ""


def check(api: Api, model: str, tally: Tally) -> None:
    """Each call shape the load sends, once, with its answer's shape checked; latencies into tally."""
    text = TEXTS[0][:30]
    shapes: list[tuple[str, str, dict, Callable[[object], str]]] = [
        ("suggest", "suggest", suggest_values(text, model, ghost_tokens=0), _words),
        ("ghost", "suggest", suggest_values(text, model, ghost_tokens=8), _ghost),
        ("generate", "generate", generate_values(text, model, 1), _generated),
        ("tokens", "tokens", {**generate_values(text, model, 1), "branch": f"1:{BRANCH_TOKEN}"}, _inspected),
        ("compare", "compare", compare_values(text, model, 1, CHECK_COLUMNS), _compared),
        ("changes", "changes", {"text": TEXTS[0], "model": model, "rating": 5, "category": "Electronics"}, _changed),
        ("report", "report", report_values(text, model, 1), _reported),
    ]
    for label, name, values, problem_of in shapes:
        start = time.monotonic()
        try:
            problem = problem_of(api.call(name, values))
        except Exception as error:  # any failure is this check's answer
            problem = f"{type(error).__name__}: {error}"
        if problem:
            tally.error(f"check {label}: {problem}")
        else:
            tally.record(label, time.monotonic() - start)
