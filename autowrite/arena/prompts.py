"""What a pair is asked to write: a prompt typed by the person, or one drawn from the models' examples.

A drawn review gets random stars and a random category, so the contenders are judged over
the whole range the review checkpoint was trained for; a drawn ad names a category half
the time, as the ads it was trained on do.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from autowrite.catalog import Entry
from autowrite.formats import CATEGORIES, RATINGS, Task

# Openers for a model whose card gives no examples: what people start a review or ad with.
OPENERS = {
    Task.REVIEW: ("I bought this for", "After a month of use", "The quality"),
    Task.AD: ("Introducing the", "Stay connected with"),
    Task.FREE: ("This product is", "My favourite kitchen gadget"),
}


@dataclass(frozen=True)
class Prompt:
    """The fields of a pair's prompt, as the service's Request reads them."""

    task: Task
    text: str
    rating: int = 5
    category: str = ""
    headline: str = ""
    origin: str = "typed"  # or "drawn"

    def describe(self) -> str:
        """The prompt in words for the page: what is asked, then the text it starts with."""
        if self.task == Task.REVIEW:
            about = f"A {self.rating}-star review of {self.category or 'Electronics'}"
            about += f', titled "{self.headline}"' if self.headline else ""
        elif self.task == Task.AD:
            about = f"An ad for {self.category}" if self.category else "An ad"
        else:
            about = "Free text"
        return f'{about}, starting "{self.text}"'


def drawn(rng: random.Random, task: Task, entries: Sequence[Entry]) -> Prompt:
    """A prompt of this task from the examples of the models that will write it, with random fields."""
    examples = [e for entry in entries if entry.task == task for e in entry.examples]
    examples = examples or [e for entry in entries for e in entry.examples] or list(OPENERS[task])
    text = rng.choice(examples)
    if task == Task.REVIEW:
        return Prompt(task, text, rng.choice(RATINGS), rng.choice(CATEGORIES), origin="drawn")
    if task == Task.AD:
        category = rng.choice(CATEGORIES) if rng.random() < 0.5 else ""
        return Prompt(task, text, category=category, origin="drawn")
    return Prompt(task, text, origin="drawn")
