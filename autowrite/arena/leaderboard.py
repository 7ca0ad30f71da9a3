"""The leaderboard: a Bradley-Terry fit over the votes, with bootstrap 95% intervals.

P(i beats j) = sigmoid(b_i - b_j). A tie, and "both bad", count half a win to each side.
The votes are summed per pair of contenders first, so a fit costs the same for 100 votes
or 100,000. The strengths maximise the likelihood under a weak Gaussian prior (sd
PRIOR_SD), which keeps a contender that has only won finite; scipy's Newton-CG finds them.
The intervals resample the votes with replacement BOOTSTRAP_ROUNDS times (a multinomial
draw over the summed cells is the same resampling) and fit every round at once, as one
problem whose parts do not interact. An interval is never narrower than the fit's own
normal approximation (1.96 standard errors from its curvature): resampling three identical
votes gives three identical votes, and a bootstrap alone would call that certain. Scores are on the Elo scale (400 points: 10 to 1
odds) around 1000, as Chatbot Arena shows them.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from threadpoolctl import threadpool_limits

from autowrite.arena.contenders import Contender
from autowrite.arena.votes import Battle

# Why 200 rounds: the 2.5th and 97.5th percentiles are then the 5th and 195th of 200 fits,
# steady to a few points, and 10,000 votes refit in well under a second (benchmarks/arena.py).
BOOTSTRAP_ROUNDS = 200
# Why 1e-5: Newton-CG stops once the mean step is below this many logits, 0.002 Elo points,
# far below the 0.1 the board shows; tighter only costs iterations.
XTOL = 1e-5
PRIOR_SD = 3.0  # logits: a 95:5 record needs evidence; nothing the votes say is held back by it
ELO = 400 / math.log(10)
BASE = 1000.0
METHOD = (
    f"Bradley-Terry (ties and both-bad as half wins); 95% intervals from {BOOTSTRAP_ROUNDS} bootstrap rounds, "
    "at least 1.96 standard errors wide; Elo scale around 1000"
)
CHOICE_CODES = {"a": 0, "b": 1, "tie": 2, "both_bad": 3}  # a tie and both bad fit alike; the record keeps them apart
FIELDS = ("rank", "contender", "model", "preset", "score", "low", "high", "votes", "wins", "ties", "both_bad",
          "losses", "win_rate")  # fmt: skip


@dataclass(frozen=True)
class Standing:
    """One contender's row: its score with its interval, and its record."""

    contender: Contender
    rank: int  # 1 + the contenders whose interval lies wholly above this one's
    score: float
    low: float
    high: float
    votes: int
    wins: int
    ties: int
    both_bad: int
    losses: int

    @property
    def win_rate(self) -> float:
        """Wins plus half the ties and both-bads, over its votes."""
        return (self.wins + (self.ties + self.both_bad) / 2) / self.votes if self.votes else 0.0

    def as_dict(self) -> dict:
        """The row by FIELDS, rounded for reading."""
        c = self.contender
        values = (self.rank, c.name, c.model, c.preset, round(self.score, 1), round(self.low, 1), round(self.high, 1),
                  self.votes, self.wins, self.ties, self.both_bad, self.losses, round(self.win_rate, 4))  # fmt: skip
        return dict(zip(FIELDS, values, strict=True))


@dataclass(frozen=True)
class Board:
    """The standings, best first, and what they rest on."""

    standings: list[Standing]
    votes: int
    rounds: int = BOOTSTRAP_ROUNDS

    def as_dict(self) -> dict:
        """The board as the API and the JSON export give it."""
        return {"votes": self.votes, "method": METHOD, "contenders": [s.as_dict() for s in self.standings]}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False)

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(s.as_dict() for s in self.standings)
        return out.getvalue()


def standings(battles: Sequence[Battle], rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0) -> Board:
    """The board for these votes; the same votes and seed give the same board."""
    names = sorted({c for b in battles for c in (b.a, b.b)})
    if not names:
        return Board([], 0, rounds)
    index = {c: i for i, c in enumerate(names)}
    a = np.array([index[b.a] for b in battles])
    b = np.array([index[b.b] for b in battles])
    choice = np.array([CHOICE_CODES[v.choice] for v in battles])
    count = np.array([v.count for v in battles])
    total = int(count.sum())
    cells, first, second = _cells(a, b, np.minimum(choice, 2), count, len(names))
    point = _fit(cells[None], first, second, len(names), np.zeros(len(names)))[0]
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(total, cells.ravel() / total, size=rounds).reshape(rounds, *cells.shape)
    fits = _fit(draws.astype(float), first, second, len(names), np.tile(point, rounds))
    centred = fits - fits.mean(axis=1, keepdims=True)
    score = BASE + ELO * (point - point.mean())
    spread = 1.96 * ELO * _standard_errors(point, cells, first, second)
    low = np.minimum(BASE + ELO * np.percentile(centred, 2.5, axis=0), score - spread)
    high = np.maximum(BASE + ELO * np.percentile(centred, 97.5, axis=0), score + spread)
    record = _records(a, b, choice, count, len(names))
    rows = [
        Standing(c, 1 + int(np.sum(low > high[i])), float(score[i]), float(low[i]), float(high[i]), *record[i])
        for i, c in enumerate(names)
    ]
    return Board(sorted(rows, key=lambda s: (-s.score, s.contender)), total, rounds)


def _cells(
    a: np.ndarray, b: np.ndarray, outcome: np.ndarray, count: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Votes summed per pair of contenders (i < j): counts of i won, j won, tie; and each pair's i and j."""
    low, high = np.minimum(a, b), np.maximum(a, b)
    flipped = a != low  # the first-named side of the vote is the pair's j
    relative = np.where(outcome == 2, 2, np.where(flipped, 1 - outcome, outcome))
    codes, which = np.unique(low * k + high, return_inverse=True)
    cells = np.zeros((len(codes), 3))
    np.add.at(cells, (which, relative), count)
    return cells, codes // k, codes % k


def _fit(cells: np.ndarray, first: np.ndarray, second: np.ndarray, k: int, start: np.ndarray) -> np.ndarray:
    """Strengths (rounds x k) maximising each round's likelihood under the prior, all rounds at once."""
    rounds = cells.shape[0]
    won = cells[..., 0] + cells[..., 2] / 2  # the first side's wins, a tie half of one
    played = cells.sum(axis=-1)
    incidence = np.zeros((len(first), k))
    incidence[np.arange(len(first)), first] = 1.0
    incidence[np.arange(len(first)), second] = -1.0
    precision = 1 / PRIOR_SD**2

    def loss(x: np.ndarray) -> tuple[float, np.ndarray]:
        strengths = x.reshape(rounds, k)
        gap = strengths @ incidence.T
        log_p = -np.logaddexp(0, -gap)  # log P(the first side wins); log P(it loses) is log_p - gap
        value = -np.sum(played * log_p - (played - won) * gap) + precision / 2 * np.sum(strengths**2)
        gradient = (played * np.exp(log_p) - won) @ incidence + precision * strengths
        return value, gradient.ravel()

    def curvature(x: np.ndarray, v: np.ndarray) -> np.ndarray:
        strengths, direction = x.reshape(rounds, k), v.reshape(rounds, k)
        p = expit(strengths @ incidence.T)
        return ((played * p * (1 - p) * (direction @ incidence.T)) @ incidence + precision * direction).ravel()

    # One BLAS thread: the products are small, and OpenBLAS's threads spinning against the
    # decoder for a 2-core machine made the fit up to ten times slower (benchmarks/arena.py).
    with threadpool_limits(limits=1, user_api="blas"):
        result = minimize(loss, start, jac=True, hessp=curvature, method="Newton-CG", options={"xtol": XTOL})
    return result.x.reshape(rounds, k)


def _standard_errors(point: np.ndarray, cells: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Each centred strength's standard error from the fit's curvature (the prior's included)."""
    k = len(point)
    p = expit(point[first] - point[second])
    weight = cells.sum(axis=-1) * p * (1 - p)
    curvature = np.eye(k) / PRIOR_SD**2
    np.add.at(curvature, (first, first), weight)
    np.add.at(curvature, (second, second), weight)
    np.add.at(curvature, (first, second), -weight)
    np.add.at(curvature, (second, first), -weight)
    centring = np.eye(k) - 1 / k
    return np.sqrt(np.diag(centring @ np.linalg.inv(curvature) @ centring.T))


def _records(
    a: np.ndarray, b: np.ndarray, choice: np.ndarray, count: np.ndarray, k: int
) -> list[tuple[int, int, int, int, int]]:
    """Each contender's votes, wins, ties, both-bads and losses."""

    def tally(sides: np.ndarray, said: int) -> np.ndarray:
        return np.bincount(sides[choice == said], count[choice == said], minlength=k).astype(int)

    wins = tally(a, 0) + tally(b, 1)
    losses = tally(b, 0) + tally(a, 1)
    ties = tally(a, 2) + tally(b, 2)
    bad = tally(a, 3) + tally(b, 3)
    votes = wins + losses + ties + bad
    return [(int(votes[i]), int(wins[i]), int(ties[i]), int(bad[i]), int(losses[i])) for i in range(k)]
