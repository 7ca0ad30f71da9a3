"""The benchmarks' figures as Markdown: benchmarks.run's engine and guidance tables with a line for
each other figure, and benchmarks.load's table of endpoints, headed by FAILED where it had errors."""

from __future__ import annotations

from benchmarks import fairness


def markdown(result: dict) -> str:
    """benchmarks.run's results as the README's table, the guidance table, and a line for each other figure."""
    return "\n".join([*_engine_table(result), "", *_guidance_table(result), *_figure_lines(result)]) + "\n"


def _engine_table(result: dict) -> list[str]:
    rows = [
        "| engine | decode tokens/s | keystroke p50 / p95 ms (word) | keystroke p50 / p95 ms (letter) | peak RSS MB |",
        "|---|---|---|---|---|",
    ]
    for name, rate in result["decode_tokens_per_s"].items():
        k = result["keystroke_ms"][name]
        rss = result.get("rss_mb", {}).get(name, float("nan"))
        rows.append(
            f"| {name} | {rate:.1f} | {k['word']['p50']:.1f} / {k['word']['p95']:.1f} | "
            f"{k['letter']['p50']:.1f} / {k['letter']['p95']:.1f} | {rss:.0f} |"
        )
    return rows


def _guidance_table(result: dict) -> list[str]:
    """Rating guidance's cost in process and through the app, when measured; then a blank line."""
    rows = [
        (label, figures)
        for label, figures in (
            ("in process (`Service.stream`)", result.get("guidance")),
            ("through the app (HTTP API, `generate`)", result.get("app", {}).get("guidance")),
        )
        if figures
    ]
    if not rows:
        return []
    lines = [
        "| 1-star review, rating guidance 2 against 1 | guided tokens/s | unguided tokens/s | time per token, guided / unguided |",
        "|---|---|---|---|",
    ]
    for label, g in rows:
        lines.append(f"| {label} | {g['on_tokens_per_s']:.1f} | {g['off_tokens_per_s']:.1f} | {g['ratio']:.2f}x |")
    runs = rows[0][1]["runs"]
    lines.append("")
    lines.append(
        f"Guidance: decode tokens/s from the first token to the last, medians of {runs} runs each, guided and "
        "unguided interleaved with the same seed (two prompts decoded together when guided)."
    )
    return [*lines, ""]


def _figure_lines(result: dict) -> list[str]:
    """A line for each figure beside the tables, those not measured left out."""
    lines = [*_speed_lines(result), *_batching_lines(result)]
    for line in (_report_line, _inspector_line, _app_flow_line, _app_line):
        lines += line(result)
    return lines


def _speed_lines(result: dict) -> list[str]:
    ours = result["decode_tokens_per_s"][result["ours"]]
    ratios = ", ".join(
        f"{ours / rate:.2f}x {name}" for name, rate in result["decode_tokens_per_s"].items() if name != result["ours"]
    )
    c = result["compare_seconds"]
    return [
        f"Decode speed of this engine: {ratios} (medians, same process, same prompts and settings). "
        f"Keystroke figures: medians over {result['keystroke_ms'][result['ours']]['word']['repeats']} passes of the trace of each pass's p50 and p95.",
        f"Compare tab: 4 columns in {c['4 columns']:.2f} s against {c['1 column']:.2f} s for one ({c['ratio']:.2f}x).",
    ]


def _batching_lines(result: dict) -> list[str]:
    lines = []
    if step := result.get("compare_ms_per_step"):
        lines.append(
            f"Per decode step (columns end at different lengths): 4 columns {step['4 columns']:.1f} ms, "
            f"one column {step['1 column']:.1f} ms ({step['ratio']:.2f}x)."
        )
    if crowd := result.get("concurrent_tokens_per_s"):
        alone, shared, turns = crowd["1 alone"], crowd["8 sharing steps"], crowd["8 taking turns"]
        lines.append(
            f"Eight people generating at once (tokens/s, all together): {shared:.1f} sharing decode steps, "
            f"{turns:.1f} taking turns ({shared / turns:.2f}x); one alone {alone:.1f}."
        )
    return lines


def _report_line(result: dict) -> list[str]:
    if not (report := result.get("report_card")):
        return []
    k = report["keystroke_ms_meanwhile"]
    return [
        f"Report card, {report['samples']} samples of {report['tokens_each']} tokens (4 columns x "
        f"{report['samples'] // 4} seeds, one model): {report['shared_batches_s']:.1f} s in shared batches against "
        f"{report['one_at_a_time_s']:.1f} s one at a time ({report['ratio']:.2f}x); keystrokes meanwhile "
        f"p50 {k['p50']:.1f} ms, p95 {k['p95']:.1f} ms."
    ]


def _inspector_line(result: dict) -> list[str]:
    """The inspector's cost, when measured (guidance's is _guidance_table)."""
    if not (inspected := result.get("inspector")):
        return []
    return [
        f"Generation with the token inspector's steps kept: {inspected['on_tokens_per_s']:.1f} tokens/s against "
        f"{inspected['off_tokens_per_s']:.1f} without ({inspected['ratio']:.3f}x; medians of "
        f"{inspected['runs']} runs each, interleaved)."
    ]


def _app_flow_line(result: dict) -> list[str]:
    if not (flow := result["keystroke_ms"][result["ours"]].get("letter, app flow")):
        return []
    return [
        f"Letter by letter as the live tab runs it (each keystroke's words timed; at each pause after a comma "
        f"or full stop, the ghost continuation, untimed): p50 {flow['p50']:.1f} ms, p95 {flow['p95']:.1f} ms."
    ]


def _app_line(result: dict) -> list[str]:
    if not (app := result.get("app")):
        return []
    h, g, w = app["http_suggest_ms"], app["http_ghost_after_words_ms"], app["http_words_and_ghost_ms"]
    return [
        f"App (`python app.py`): first suggestion {app['cold_start_to_first_suggestion_s']:.1f} s after start; "
        f"suggest through the REST protocol, words p50 {h['p50']:.1f} ms, p95 {h['p95']:.1f} ms, then the ghost "
        f"p50 {g['p50']:.1f} ms, p95 {g['p95']:.1f} ms (words and ghost in one call on a fresh trace: p50 "
        f"{w['p50']:.1f} ms, p95 {w['p95']:.1f} ms); resident memory {app['app_rss_mb']:.0f} MB."
    ]


def failure(result: dict) -> str:
    """'FAILED: N errors' where a load run had any, else an empty string."""
    count = result["errors"]
    return f"FAILED: {count} error{'' if count == 1 else 's'}" if count else ""


def load_markdown(result: dict) -> str:
    """benchmarks.load's figures as a table, headed by FAILED and followed by the first errors where any."""
    lines = [failure(result)] if result["errors"] else []
    lines += [_load_headline(result), "", *_load_callers(result), ""]
    if "series" in result["rss_mb"]:
        lines += ["Memory (s: MB): " + ", ".join(f"{t:.0f}: {mb:.0f}" for t, mb in result["rss_mb"]["series"]), ""]
    lines += [
        "| endpoint | served | refused as busy | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|",
    ]
    busy = result.get("refused_busy", {})
    for name, s in sorted(result["served"].items()):
        lines.append(
            f"| {name} | {s['n']} | {busy.get(name, 0)} | {s['p50']:.0f} | {s['p95']:.0f} | {s['p99']:.0f} | {s['max']:.0f} |"
        )
    if result["errors"]:
        lines += ["", "First errors:", *(f"- {sample}" for sample in result["error_samples"])]
    return "\n".join(lines) + "\n"


def _load_headline(result: dict) -> str:
    cpu = result["cpu"]
    return (
        f"{result['users']} users for {result['duration_s']} s ({', '.join(result['models'])}); "
        f"errors: {result['errors']}; memory {result['rss_mb']['before']:.0f} MB before, {result['rss_mb']['after']:.0f} MB after"
        + (
            f"; CPU used: app {cpu['app_s']:.0f} s, this load client {cpu['load_client_s']:.0f} s, "
            f"of {cpu['available_s']:.0f} core-seconds."
            if cpu
            else "; the load did not run."
        )
    )


def _load_callers(result: dict) -> list[str]:
    """Who called beside the typists: sessionless REST clients, voters, one caller flooding reports."""
    lines = [f"{result['sessionless_users']} of the users sent no session hash (REST clients that send none)."]
    if result.get("voters"):
        lines += [f"{result['voters']} of the users voted in the arena (a pair, then a vote) where others generate."]
    if (flood := result.get("flood")) is not None:
        lines += [
            f"One more caller kept {fairness.FLOOD_REPORTS} maximal reports asked at once "
            f"({len(fairness.PRESETS)} columns x {fairness.SEEDS} seeds x {fairness.LONG} tokens): "
            f"{flood.get('done', 0)} done, {flood.get('refused', 0)} refused by name, "
            f"{flood.get('cut', 0)} dropped at the end."
        ]
    return lines
