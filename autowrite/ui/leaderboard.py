"""The arena's leaderboard on the page: the table, the plot of scores with their intervals, CSV and JSON files."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

# Figure, not pyplot: no global state, so requests can draw at once from several threads.
from matplotlib.figure import Figure

from autowrite.arena.contenders import Restriction
from autowrite.arena.leaderboard import BASE, Board
from autowrite.arena.pairs import Arena
from autowrite.ui.common import as_text

HEADERS = ["rank", "contender", "score", "95% interval", "votes", "win rate", "won / tied / both bad / lost"]
# Why these widths: the contender's name (model · preset) is the long cell; the figures are short.
WIDTHS = ["7%", "38%", "9%", "14%", "8%", "9%", "15%"]
EXPORTS = Path(tempfile.gettempdir()) / "autowrite-arena"


@dataclass
class BoardWidgets:
    """The leaderboard's parts: what it rests on, the table, the plot, its refresh and downloads."""

    summary: gr.Markdown
    table: gr.Dataframe
    plot: gr.Plot
    refresh: gr.Button
    csv: gr.DownloadButton
    json: gr.DownloadButton

    def named(self) -> dict:
        """What board_view fills, by name."""
        return {"summary": self.summary, "table": self.table, "plot": self.plot, "csv": self.csv, "json": self.json}


def rows(board: Board) -> list[list]:
    """The table's rows, best first."""
    return [
        [s.rank, s.contender.name, f"{s.score:.0f}", f"{s.low:.0f} to {s.high:.0f}", s.votes, f"{s.win_rate:.0%}",
         f"{s.wins} / {s.ties} / {s.both_bad} / {s.losses}"]
        for s in board.standings
    ]  # fmt: skip


def plot(board: Board) -> Figure | None:
    """Each contender's score with its 95% interval, best at the top; None before any vote."""
    if not board.standings:
        return None
    shown = list(reversed(board.standings))
    fig = Figure(figsize=(8, 0.9 + 0.32 * len(shown)), dpi=100)
    ax = fig.subplots()
    scores = [s.score for s in shown]
    spread = [[s.score - s.low for s in shown], [s.high - s.score for s in shown]]
    ax.errorbar(scores, range(len(shown)), xerr=spread, fmt="o", color="#4f46e5", ecolor="#818cf8", capsize=3)
    ax.axvline(BASE, color="#9ca3af", linewidth=0.8, linestyle=":")
    ax.set_yticks(range(len(shown)), [s.contender.name for s in shown], fontsize=8)
    ax.set_xlabel(f"score (Elo scale; {BASE:.0f} is the average contender), with 95% bootstrap intervals")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def summary(board: Board, restriction: Restriction) -> str:
    """One line: what the board covers and how many votes it rests on."""
    where = as_text(restriction.describe())
    if not board.standings:
        return f"No votes yet between {where}: vote on a pair above to start the leaderboard."
    return (
        f"**{board.votes:,} vote{'' if board.votes == 1 else 's'}** between {where}. Score: a Bradley-Terry fit, a tie "
        f"or both bad counting half a win each. Interval: 95%, from {board.rounds} bootstrap refits (at least "
        "1.96 standard errors either side). A rank counts only the contenders whose interval lies wholly above."
    )


def exports(board: Board, restriction: Restriction) -> tuple[str, str]:
    """The board as CSV and JSON files to download, one folder per restriction, replaced whole each time."""
    key = hashlib.sha1(f"{restriction.model}\0{restriction.preset}".encode()).hexdigest()[:12]
    folder = EXPORTS / key
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix, text in (("csv", board.to_csv()), ("json", board.to_json())):
        path = folder / f"arena-leaderboard.{suffix}"
        partial = folder / f".{suffix}.{os.getpid()}.{id(board)}"
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)  # a download under way keeps reading the file it opened
        paths.append(str(path))
    return paths[0], paths[1]


def board_view(arena: Arena, restriction: Restriction) -> dict:
    """BoardWidgets.named()'s values for the arena's restriction."""
    board = arena.board(restriction)
    csv_path, json_path = exports(board, restriction)
    figure = plot(board)
    return {"summary": summary(board, restriction), "table": rows(board),
            "plot": gr.Plot(figure, visible=figure is not None), "csv": csv_path, "json": json_path}  # fmt: skip


def build() -> BoardWidgets:
    """The leaderboard's widgets (filled by board_view)."""
    gr.Markdown("### Leaderboard", elem_id="arena-board-title")
    text = gr.Markdown(elem_id="arena-board-summary")
    table = gr.Dataframe(
        headers=HEADERS, column_widths=WIDTHS, interactive=False, wrap=True, elem_id="arena-board", max_height=520
    )
    figure = gr.Plot(show_label=False, visible=False, elem_id="arena-plot")
    with gr.Row():
        refresh = gr.Button("Refresh", size="sm", elem_id="arena-refresh", scale=0)
        csv = gr.DownloadButton("Download CSV", size="sm", elem_id="arena-csv", scale=0)
        json = gr.DownloadButton("Download JSON", size="sm", elem_id="arena-json", scale=0)
    return BoardWidgets(text, table, figure, refresh, csv, json)
