"""The Bradley-Terry leaderboard: a known ranking recovered within its intervals, ties as half wins, exports."""

from __future__ import annotations

import csv
import io
import json
import math

from autowrite.arena.contenders import Contender
from autowrite.arena.leaderboard import BASE, ELO, standings
from autowrite.arena.votes import Battle
from benchmarks.arena import simulated

# Known strengths (logits), best last; a tie's chance is set so each side's expected score
# stays sigmoid(gap), which is what counting a tie as half a win estimates.
STRENGTHS = {Contender("m", name): value for name, value in zip("ABCDEF", (-1.0, -0.6, -0.2, 0.2, 0.6, 1.0))}


def test_a_known_ranking_is_recovered_within_its_intervals():
    board = standings(simulated(STRENGTHS, 3000, seed=11, both_bad=0.3))
    assert board.votes == 3000
    assert [s.contender.preset for s in board.standings] == list("FEDCBA")
    mean = sum(STRENGTHS.values()) / len(STRENGTHS)
    for s in board.standings:
        true = BASE + ELO * (STRENGTHS[s.contender] - mean)
        assert s.low <= true <= s.high, (s.contender, s.low, true, s.high)
        assert s.low < s.score < s.high and s.high - s.low < 60  # about 3,000 votes: intervals of some 40 points
    assert [s.rank for s in board.standings] == [1, 2, 3, 4, 5, 6]  # 0.4 logits apart: no two intervals overlap


def test_ties_are_half_wins_and_the_record_adds_up():
    x, y = Contender("m", "x"), Contender("m", "y")
    board = standings([Battle(x, y, "a"), Battle(y, x, "tie"), Battle(x, y, "both_bad"), Battle(y, x, "a")] * 5)
    rows = {s.contender: s for s in board.standings}
    assert (rows[x].wins, rows[x].ties, rows[x].both_bad, rows[x].losses, rows[x].votes) == (5, 5, 5, 5, 20)
    assert rows[x].win_rate == rows[y].win_rate == 0.5
    assert abs(rows[x].score - rows[y].score) < 1e-3  # as many wins as losses: level, whatever the ties
    assert abs(rows[x].score + rows[y].score - 2 * BASE) < 1e-6


def test_a_contender_that_only_wins_stays_finite_and_uncertain():
    x, y = Contender("m", "x"), Contender("m", "y")
    board = standings([Battle(x, y, "a")] * 3)
    top = board.standings[0]
    assert top.contender == x and math.isfinite(top.score) and top.high - top.low > 0
    assert board.standings[1].rank == 1  # three votes: the intervals overlap, so both share the first rank


def test_the_same_votes_give_the_same_board_and_it_exports():
    battles = simulated(STRENGTHS, 400, seed=3)
    board = standings(battles)
    assert board == standings(battles)
    assert standings([]).standings == []
    rows = list(csv.DictReader(io.StringIO(board.to_csv())))
    assert [r["contender"] for r in rows] == [s.contender.name for s in board.standings]
    assert sum(int(r["votes"]) for r in rows) == 2 * 400
    exported = json.loads(board.to_json())
    assert exported["votes"] == 400 and "Bradley-Terry" in exported["method"]
    assert exported["contenders"][0]["score"] == round(board.standings[0].score, 1)
