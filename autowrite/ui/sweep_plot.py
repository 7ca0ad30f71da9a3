"""A sweep drawn: each figure against the swept setting, its band over seeds, points to click.

The plot is an SVG drawn by matplotlib and shown inline, so each point can be clicked: every
point has a full-height strip (transparent, id sweep-pt-N-PANEL) over it, and assets/sweep.js
sends a click on a strip to the server, which lists that point's samples. The table under
the plot holds the same figures for keyboards and screen readers, and its rows are clickable too.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence

# Figure, not pyplot: no global state, so requests can draw at once from several threads.
from matplotlib.figure import Figure

from autowrite.sweep import Point, plotted
from autowrite.ui.common import as_text

COLOURS = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2")


def plot_svg(points: Sequence[Point], setting: str) -> str:
    """The sweep's figures as an inline SVG: shares above, fit below, one line and band per figure."""
    if not points:
        return ""
    figures = plotted(points)
    shares = [f for f in figures if f.share]
    fits = [f for f in figures if not f.share]
    fig = Figure(figsize=(8, 4.6 if fits else 3.2), dpi=100)
    rows = 2 if fits else 1
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False, gridspec_kw={"height_ratios": [3, 1.4][:rows]})
    xs = [float(p.value) for p in points]
    for ax, group in zip([a[0] for a in axes], [shares, fits][:rows], strict=True):
        for colour, f in zip(COLOURS, group, strict=False):
            _line(ax, xs, points, f.key, f.label, colour)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    axes[0][0].set_ylim(-0.02, 1.02)
    axes[0][0].set_ylabel("share")
    if fits:
        axes[1][0].set_ylabel("log-prob/token")
    axes[-1][0].set_xlabel(setting)
    axes[-1][0].set_xticks(xs, [f"{x:g}" for x in xs])
    _strips(fig, [a[0] for a in axes], xs)
    fig.tight_layout()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    return _accessible(buffer.getvalue(), points, setting)


def _line(ax, xs: list[float], points: Sequence[Point], key: str, label: str, colour: str) -> None:
    """One figure's line over the points where it has a value, with its band."""
    kept = [(x, p) for x, p in zip(xs, points, strict=True) if p.figures[key] is not None]
    if not kept:
        return
    ax.plot([x for x, _ in kept], [p.figures[key] for _, p in kept], "o-", color=colour, label=label, markersize=4)
    banded = [(x, p.bands[key]) for x, p in kept if p.bands[key] is not None]
    ax.fill_between([x for x, _ in banded], [b[0] for _, b in banded], [b[1] for _, b in banded], color=colour,
                    alpha=0.15, linewidth=0)  # fmt: skip


def _strips(fig, axes: list, xs: list[float]) -> None:
    """A transparent full-height strip over each point, the click target of assets/sweep.js."""
    half = (xs[1] - xs[0]) / 2 if len(xs) > 1 else 0.5
    for panel, ax in enumerate(axes):
        for i, x in enumerate(xs):
            # On top of the lines, so a click on a marker reaches its strip; ids are unique per panel.
            ax.axvspan(x - half, x + half, facecolor="#000000", alpha=0.0, zorder=10, gid=f"sweep-pt-{i}-{panel}")


def _accessible(svg: str, points: Sequence[Point], setting: str) -> str:
    """The SVG without its XML prologue, labelled for screen readers and sized to its box."""
    svg = svg[svg.index("<svg") :]
    label = f"How each figure moves as {setting} goes from {points[0].value:g} to {points[-1].value:g}; " \
            "the table below holds the same figures. Click a point to read its samples."  # fmt: skip
    svg = re.sub(r'<svg ([^>]*?)width="[^"]*" height="[^"]*"', r'<svg \1width="100%"', svg, count=1)
    svg = svg.replace("<svg ", '<svg class="aw-sweep-svg" ', 1)
    return f'<div class="aw-sweep-plot" role="img" aria-label="{html.escape(label, quote=True)}">{svg}</div>'


def figure_cell(value: float | None, band: tuple[float, float] | None) -> str:
    """A figure and its band as the table shows them: 0.52 (0.45-0.60)."""
    if value is None:
        return "-"
    return f"{value:.2f}" if band is None else f"{value:.2f} ({band[0]:.2f}-{band[1]:.2f})"


def table_rows(points: Sequence[Point]) -> tuple[list[str], list[list[str]]]:
    """The points table: the setting's value, then each plotted figure with its band."""
    figures = plotted(points)
    headers = ["value"] + [f.label for f in figures]
    rows = [[f"{p.value:g}"] + [figure_cell(p.figures[f.key], p.bands[f.key]) for f in figures] for p in points]
    return headers, rows


def samples_markdown(points: Sequence[Point], index: int, setting: str, seed: int) -> str:
    """A point's samples as Markdown, each escaped, with its seed and how it reads."""
    if not 0 <= index < len(points):
        return ""
    p = points[index]
    lines = [f"**{as_text(setting)} = {p.value:g}**: {len(p.samples)} samples"]
    for k, (sample, note, offset) in enumerate(zip(p.samples, p.notes, p.offsets, strict=True)):
        about = f"seed {(seed + offset) % 2**31}; {note}"
        lines.append(f"{k + 1}. {as_text(sample.text.strip()) or '(empty)'} <br>*{about}*")
    return "\n".join(lines)
