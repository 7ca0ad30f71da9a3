"""Scoring a model's text: body-only perplexity, few-shot contexts and copied training spans.

Perplexity counts only the completion (body) tokens: the header is given at inference and
would flatter whichever model has seen the layout. The prompt and body are split where
training splits them (autowrite.formats), so evaluation scores the tokens training learnt.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from autowrite.formats import Task, split_example
from train.readers import Record


@dataclass
class Scored:
    """Summed negative log-likelihood and token count, overall and per group."""

    nll: float = 0.0
    tokens: int = 0
    groups: dict[str, list[float]] = field(default_factory=lambda: defaultdict(lambda: [0.0, 0]))

    def add(self, nll: float, tokens: int, group: str) -> None:
        """Add one example's score."""
        self.nll += nll
        self.tokens += tokens
        self.groups[group][0] += nll
        self.groups[group][1] += tokens

    @property
    def perplexity(self) -> float:
        """exp(mean NLL per token)."""
        return math.exp(self.nll / self.tokens) if self.tokens else float("nan")

    def group_perplexity(self) -> dict[str, float]:
        """Perplexity per group."""
        return {k: math.exp(n / t) for k, (n, t) in sorted(self.groups.items()) if t}


def _record_to_pair(record: Record, task: Task | str) -> tuple[str, str]:
    return split_example(task, record.item(task))


@dataclass
class Example:
    """A scored example: its record, prompt ids and body ids."""

    record: Record
    prompt_ids: list[int]
    body_ids: list[int]
    group: str


def tokenize_example(tokenizer, record: Record, task: Task | str, max_body_tokens: int) -> Example | None:
    """Prompt and body token ids split where training splits them; None when the body is empty."""
    task = Task(task)
    prompt, completion = _record_to_pair(record, task)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"] if prompt else []
    full_ids = tokenizer(prompt + completion, add_special_tokens=False)["input_ids"]
    shared = 0
    while shared < min(len(prompt_ids), len(full_ids)) and prompt_ids[shared] == full_ids[shared]:
        shared += 1
    body = full_ids[shared:][:max_body_tokens]
    if not body:
        return None
    # Ads are grouped too: listing titles by department, the ads that name none together.
    group = record.category or ("no category" if task is Task.AD else "all")
    return Example(record, full_ids[:shared], body, group)


def body_nll(model, context_ids: list[int], body_ids: list[int]) -> float:
    """Summed NLL of body_ids given context_ids (an empty context scores from the second token)."""
    import torch

    ids = torch.tensor([context_ids + body_ids])
    # Only the logits that predict body tokens are computed: the vocabulary projection is a
    # fifth of a 135M model's compute.
    keep = len(body_ids) + (1 if context_ids else 0)
    with torch.no_grad():
        logits = model(input_ids=ids, logits_to_keep=keep).logits[0].float()
    targets = torch.tensor(body_ids if context_ids else body_ids[1:])
    predictions = logits[:-1] if context_ids else logits[-len(body_ids) : -1]
    return float(torch.nn.functional.cross_entropy(predictions, targets, reduction="sum"))


def few_shot_context(
    tokenizer, example: Example, pool: list[Record], task: Task, k: int, budget: int, rng: random.Random
) -> list[int] | None:
    """k real training examples (same category where possible), each ending in EOS, then the prompt."""
    if k <= 0 or not pool:
        return None
    same = [r for r in pool if r.category == example.record.category] or pool
    shots = rng.sample(same, min(k, len(same)))
    eos = tokenizer.eos_token or "\n\n"
    text = "".join("".join(_record_to_pair(r, task)) + eos for r in shots)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    room = budget - len(example.prompt_ids) - len(example.body_ids)
    # Cut from the left so the last shots stay whole next to the prompt.
    return ids[-room:] + example.prompt_ids if room > 0 else example.prompt_ids


def span_hashes(token_lists: Sequence[Sequence[int]], n: int) -> set[int]:
    """Hashes of every n-token window of the given token lists."""
    seen: set[int] = set()
    for tokens in token_lists:
        for i in range(len(tokens) - n + 1):
            seen.add(hash(tuple(tokens[i : i + n])))
    return seen


def copies_span(tokens: Sequence[int], index: set[int], n: int) -> bool:
    """Whether any n-token window of tokens is in the index."""
    return any(hash(tuple(tokens[i : i + n])) in index for i in range(len(tokens) - n + 1))
