"""Model cards for trained checkpoints: Hub metadata, the training command, the eval tables, a loss curve.

Every line of a card's Markdown is written in this package, the evaluation section included:
evaluation returns results as data and this package renders them.

- text: the card's text (metadata the app reads, training, use) around its evaluation section.
- evaluation: the evaluation section's tables and samples.
- loss_curve: the loss curve the card shows.
- stats: a finished run's numbers.
- files: README.md and the run's stats written into a checkpoint folder, rendered again, the
  evaluation section replaced; `python -m train.card FOLDER...` renders cards again.
"""

from train.card.evaluation import render_evaluation
from train.card.files import (
    STATS_FILE,
    build_parser,
    read_eval_section,
    rewrite_card,
    update_eval_section,
    write_card,
    write_evaluation,
)
from train.card.loss_curve import write_loss_curve
from train.card.stats import TrainStats
from train.card.text import EVAL_END, EVAL_START, NOT_EVALUATED, metadata, render, widget_prompts

__all__ = [
    "EVAL_END",
    "EVAL_START",
    "NOT_EVALUATED",
    "STATS_FILE",
    "TrainStats",
    "build_parser",
    "metadata",
    "read_eval_section",
    "render",
    "render_evaluation",
    "rewrite_card",
    "update_eval_section",
    "widget_prompts",
    "write_card",
    "write_evaluation",
    "write_loss_curve",
]
