"""Evaluate a checkpoint against its base: body perplexity, memorisation, samples per rating.

    python -m train.evaluate --model checkpoints/autowrite-reviews-smollm2-135m-lora \
        --data runs/reviews/data/test.jsonl --limit 200 --json /tmp/eval.json --update-card

Perplexity counts only the completion (body) tokens: the header is given at inference and
would flatter whichever model has seen the layout. Three models are scored on the same
tokens: the base zero-shot, the base with k real training examples in its prompt
(few-shot), and the fine-tuned model.
"""

from __future__ import annotations

import json
import logging
import math
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autowrite.formats import RATINGS, Task, prompt_for, split_example
from autowrite.probe import POOLED, ToneProbe, probe_words
from train.cli import ConfigParser
from train.modeling import (
    adapter_base_name,
    configure_environment,
    default_threads,
    is_adapter_folder,
    load_causal_lm,
    resolve_base,
)
from train.prepare import usable
from train.readers import Record, read_files
from train.recipe import CARD_SAMPLING, CardConfig, EvalConfig, EvalError, read_training_config

log = logging.getLogger(__name__)

# Headlines with no sentiment of their own, so that samples for 1 and 5 stars differ only
# by the rating in the prompt.
NEUTRAL_HEADLINES = {
    "Books": "The novel",
    "Digital Music": "The new album",
    "Electronics": "Wireless headphones",
    "Home and Kitchen": "Coffee maker",
    "Movies and TV": "The DVD",
    "Gift Cards": "Gift card",
}


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


class SentimentProbe:
    """Word-count naive Bayes, one per category, trained on 1-2 against 4-5 star training reviews.

    It is the yardstick for "1-star and 5-star samples read differently": a probe that knows
    nothing of the fine-tuned model reads each sample and says how positive it is.

    Why one per category, with even odds: pooled, a category's own words carried its mix of
    ratings. Four in five music reviews are positive, so "album" read as praise. Within one
    category both classes share the topic words, which cancel, and the words left are the tone.

    Why each class's word rates are drawn toward the category's: with add-one smoothing over
    a vocabulary larger than a class (music's negatives are 25,000 words against 40,000 words
    of vocabulary), that class's rate of every common word is cut by more than half, so any
    music text read as praise, "a disappointing third release" included (balanced accuracy
    0.54 on the music test reviews). Drawn toward the category's rates with as many words'
    weight as the smaller class has, a word the small class never happened to use reads as
    neutral rather than as the other class (music 0.82; the mean over five categories 0.75 -> 0.80).
    """

    def __init__(self, records: Sequence[Record]) -> None:
        counts: dict[str, dict[bool, Counter]] = defaultdict(lambda: {True: Counter(), False: Counter()})
        for record in records:
            if record.rating is None or record.rating == 3:
                continue
            words = self.words(record.text)
            positive = record.rating >= 4
            counts[record.category or ""][positive].update(words)
            counts[POOLED][positive].update(words)
        # A category seen in one class alone cannot tell tone from topic.
        self.counts = {key: classes for key, classes in counts.items() if classes[True] and classes[False]}
        self.both = {key: c[True] + c[False] for key, c in self.counts.items()}
        self.totals = {key: {label: c.total() for label, c in classes.items()} for key, classes in self.counts.items()}
        # Per category: the words of both classes and the vocabulary size (add-one), for the
        # category's rates that each class is drawn toward, and the smaller class's word count.
        self.shrink = {
            key: (both.total() + len(both) + 1, min(self.totals[key].values())) for key, both in self.both.items()
        }
        self._probe = self.tone_probe() if self.counts else None

    @staticmethod
    def words(text: str) -> list[str]:
        """Lower-cased word tokens."""
        return probe_words(text)

    @property
    def ready(self) -> bool:
        """Whether any category had training documents of both classes."""
        return bool(self.counts)

    def tone_probe(self, min_count: int = 1, about: dict | None = None) -> ToneProbe:
        """The per-word weights this probe scores with, for words seen at least min_count times.

        With min_count 1 it reads every text exactly as this probe does; the file a checkpoint
        ships keeps fewer words (train/probe.py).
        """
        weights = {}
        for key, classes in self.counts.items():
            denominator, weight = self.shrink[key]
            totals = self.totals[key]
            words = {}
            for word, count in self.both[key].items():
                if count >= min_count:
                    prior = weight * (count + 1) / denominator
                    words[word] = math.log((classes[True][word] + prior) / (totals[True] + weight)) - math.log(
                        (classes[False][word] + prior) / (totals[False] + weight)
                    )
            weights[key] = words
        return ToneProbe(weights, about)

    def positive_probability(self, text: str, category: str | None = None) -> float:
        """P(positive | words) under the category's model (all categories pooled for an unknown one)."""
        return self._probe.positive_probability(text, category)


@dataclass
class Models:
    """The fine-tuned model, a way to run the base, and the tokenizer."""

    finetuned: Any
    base: Any | None  # a separate base model for full fine-tunes; None when the adapter is disabled instead
    tokenizer: Any
    is_adapter: bool

    @contextmanager
    def use(self, which: str) -> Iterator[Any]:
        """The model to run for "base" or "finetuned"."""
        if which == "finetuned":
            yield self.finetuned
        elif self.is_adapter:
            with self.finetuned.disable_adapter():
                yield self.finetuned
        else:
            yield self.base


def load_models(folder: Path, base: str | None) -> Models:
    """The checkpoint (adapter on its base, or a full model) and its base, in eval mode."""
    if not folder.is_dir():
        raise EvalError(f"{folder}: no such checkpoint folder")
    if is_adapter_folder(folder):
        from peft import PeftModel

        base_model, tokenizer = load_causal_lm(resolve_base(base or adapter_base_name(folder)))
        if (folder / "tokenizer_config.json").exists():
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(folder)
        model = PeftModel.from_pretrained(base_model, folder).eval()
        return Models(model, None, tokenizer, is_adapter=True)
    finetuned, tokenizer = load_causal_lm(folder)
    base_name = base or read_training_config(folder).get("base_model") or "embedded"
    base_model, _ = load_causal_lm(resolve_base(base_name))
    return Models(finetuned.eval(), base_model.eval(), tokenizer, is_adapter=False)


def _generate(model, tokenizer, prompt: str, sampling: dict[str, Any], seed: int, max_new_tokens: int) -> list[int]:
    return _generate_many(model, tokenizer, prompt, sampling, seed, 1, max_new_tokens)[0]


def _generate_many(
    model, tokenizer, prompt: str, sampling: dict[str, Any], seed: int, n: int, max_new_tokens: int
) -> list[list[int]]:
    """n sampled continuations of one prompt, in one batch, each cut at its end-of-text token."""
    import torch

    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")
    torch.manual_seed(seed)
    with torch.no_grad():
        out = model.generate(
            **ids,
            do_sample=True,
            num_return_sequences=n,
            max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **sampling,
        )
    continuations = []
    for row in out[:, ids["input_ids"].shape[1] :].tolist():
        if tokenizer.eos_token_id in row:
            row = row[: row.index(tokenizer.eos_token_id)]
        continuations.append(row)
    return continuations


def _sample_prompt(tokenizer, example: Example) -> str:
    # Free text has an empty prompt; its first words stand in, as a user would type them.
    return tokenizer.decode(example.prompt_ids or example.body_ids[:8])


def _sampling(folder: Path) -> dict[str, Any]:
    # The card's sampling settings; a checkpoint trained elsewhere samples as a card of ours would.
    card = read_training_config(folder).get("card") or {}
    settings = CardConfig.from_dict({k: v for k, v in card.items() if k in CARD_SAMPLING}).sampling
    # The length of each sample is the evaluation's own (max_new_tokens), not the card's.
    return {name: getattr(settings, name) for name in ("temperature", "top_k", "top_p", "repetition_penalty")}


def _default_train_data(folder: Path) -> list[str]:
    run_dir = read_training_config(folder).get("run_dir")
    candidate = Path(run_dir) / "data" / "train.jsonl" if run_dir else None
    return [str(candidate)] if candidate and candidate.exists() else []


def _rating_prompts(task: Task, categories: list[str], per_rating: int) -> list[tuple[str, str, int]]:
    """(prompt, category, rating) for sample generations; ads and free text use the bare prompt."""
    if task is Task.AD:
        # Each department the test ads name, and the bare "Ad:" marker of the ads that name none.
        return [
            (prompt_for(task, category=c), c, 0) for c in ["", *[c for c in categories if c]] for _ in range(per_rating)
        ]
    if task is not Task.REVIEW:
        return []  # free text has no prompt of its own, so no samples
    prompts = []
    for index in range(per_rating):
        category = categories[index % len(categories)]
        headline = NEUTRAL_HEADLINES.get(category, "My purchase")
        for rating in RATINGS:
            prompts.append(
                (prompt_for(Task.REVIEW, category=category, rating=rating, headline=headline), category, rating)
            )
    return prompts


def main(config: EvalConfig) -> dict[str, Any]:
    """Run the evaluation and return its results; write them as JSON when config.json names a file."""
    configure_environment()
    import torch

    torch.set_num_threads(config.threads or default_threads())
    started = time.time()
    folder = Path(config.model)
    task = Task(config.task or read_training_config(folder).get("task") or "review")
    models = load_models(folder, config.base)
    examples = _test_examples(config, task, models.tokenizer)
    train_paths = config.train_data or _default_train_data(folder)
    train_records: list[Record] = []
    if train_paths:
        train_records, _ = read_files(train_paths)
        train_records = [r for r in train_records if usable(r, task)]

    scores = _perplexities(config, task, models, examples, train_records, started)
    results: dict[str, Any] = {
        "model": str(folder),
        "task": task.value,
        "data": [str(p) for p in config.data],
        "n_examples": len(examples),
        "n_tokens": scores["base"].tokens,
        "max_body_tokens": config.max_body_tokens,
        "base_perplexity": scores["base"].perplexity,
        "few_shot_perplexity": scores["few_shot"].perplexity if scores["few_shot"].tokens else None,
        "few_shot_k": config.few_shot_k if scores["few_shot"].tokens else 0,
        "finetuned_perplexity": scores["finetuned"].perplexity,
        "per_group": {
            group: {
                "base": scores["base"].group_perplexity().get(group),
                "few_shot": scores["few_shot"].group_perplexity().get(group),
                "finetuned": scores["finetuned"].group_perplexity().get(group),
                "n_tokens": scores["base"].groups[group][1],
            }
            for group in sorted(scores["base"].groups)
        },
    }
    results["reduction_vs_base"] = 1 - results["finetuned_perplexity"] / results["base_perplexity"]
    results.update(_generations(config, task, models, examples, train_records, folder))
    results["seconds"] = round(time.time() - started, 1)
    if config.json:
        Path(config.json).parent.mkdir(parents=True, exist_ok=True)
        Path(config.json).write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    return results


def stratified(records: list[Record], per_category: int, seed: int) -> list[Record]:
    """Up to per_category records of each category, seeded, grouped by category in name order."""
    groups: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        groups[record.category].append(record)
    rng = random.Random(seed)
    return [r for name in sorted(groups) for r in rng.sample(groups[name], min(per_category, len(groups[name])))]


def _test_examples(config: EvalConfig, task: Task, tokenizer) -> list[Example]:
    """The usable test records, a seeded sample of config.limit of them, tokenized."""
    records, _ = read_files(config.data)
    records = [r for r in records if usable(r, task)]
    if not records:
        raise EvalError(f"no records in {', '.join(config.data)} can be used for the {task.value} task")
    if config.per_category > 0:
        records = stratified(records, config.per_category, config.seed)
    rng = random.Random(config.seed)
    if len(records) > config.limit:
        records = rng.sample(records, config.limit)
    return [e for e in (tokenize_example(tokenizer, r, task, config.max_body_tokens) for r in records) if e]


def _perplexities(
    config: EvalConfig, task: Task, models: Models, examples: list[Example], train_records: list[Record], started: float
) -> dict[str, Scored]:
    """Body scores of the base zero-shot, the base few-shot (with training records) and the fine-tuned model."""
    tokenizer = models.tokenizer
    scores = {"base": Scored(), "few_shot": Scored(), "finetuned": Scored()}
    # Free text has no prompt: its body follows an end-of-text token, as in packed training,
    # so that its first token is scored too, as in every other model's context.
    start = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    for which, key in (("base", "base"), ("base", "few_shot"), ("finetuned", "finetuned")):
        if key == "few_shot" and (not train_records or config.few_shot_k <= 0):
            continue
        shot_rng = random.Random(config.seed)
        with models.use(which) as model:
            for example in examples:
                context = example.prompt_ids or start
                if key == "few_shot":
                    context = few_shot_context(
                        tokenizer, example, train_records, task, config.few_shot_k, config.max_context_tokens, shot_rng
                    )
                scored = len(example.body_ids) - (0 if context else 1)  # see body_nll
                scores[key].add(body_nll(model, context, example.body_ids), scored, example.group)
        log.info("%s perplexity %.2f (%.0f s)", key, scores[key].perplexity, time.time() - started)
    return scores


def _generations(
    config: EvalConfig, task: Task, models: Models, examples: list[Example], train_records: list[Record], folder: Path
) -> dict[str, Any]:
    """Memorisation shares, sample generations per rating, and how far the rating moves their tone."""
    tokenizer = models.tokenizer
    sampling = _sampling(folder)
    out: dict[str, Any] = {"sampling": sampling}
    if config.memorisation_samples > 0 and train_records:
        out["memorisation"] = _memorisation(config, task, models, examples, train_records, sampling)
    categories = sorted({e.record.category for e in examples if e.record.category}) or [""]
    probe = SentimentProbe(train_records) if task is Task.REVIEW else None
    if probe is not None and not probe.ready:
        probe = None
    if config.samples_per_rating > 0:
        samples = []
        with models.use("finetuned") as model:
            for i, (prompt, category, rating) in enumerate(
                _rating_prompts(task, categories, config.samples_per_rating)
            ):
                text = tokenizer.decode(
                    _generate(model, tokenizer, prompt, sampling, config.seed + 100 + i, config.max_new_tokens)
                )
                sample = {"prompt": prompt, "category": category, "rating": rating, "text": text.strip()}
                if probe is not None:
                    sample["positive_probability"] = round(probe.positive_probability(text, category), 3)
                samples.append(sample)
        out["samples"] = samples
    if probe is not None and config.rating_samples > 0:
        out["rating_conditioning"] = _rating_conditioning(config, models, probe, categories, sampling, examples)
    return out


def _memorisation(
    config: EvalConfig,
    task: Task,
    models: Models,
    examples: list[Example],
    train_records: list[Record],
    sampling: dict[str, Any],
) -> dict[str, Any]:
    """Shares of sampled continuations, and of the human test texts, that copy a training span."""
    tokenizer = models.tokenizer
    train_bodies = []
    for record in train_records:
        tokenized = tokenize_example(tokenizer, record, task, 10**9)
        if tokenized:
            train_bodies.append(tokenized.body_ids)
    index = span_hashes(train_bodies, config.span_tokens)
    picks = random.Random(config.seed + 1).sample(examples, min(config.memorisation_samples, len(examples)))
    shares: dict[str, float] = {}
    copied_examples: list[dict[str, str]] = []
    for which in ("base", "finetuned"):
        hits = 0
        with models.use(which) as model:
            for i, example in enumerate(picks):
                new = _generate(
                    model,
                    tokenizer,
                    _sample_prompt(tokenizer, example),
                    sampling,
                    config.seed + i,
                    config.max_new_tokens,
                )
                if copies_span(new, index, config.span_tokens):
                    hits += 1
                    if which == "finetuned" and len(copied_examples) < 3:
                        copied_examples.append({"sample": tokenizer.decode(new)})
        shares[which] = hits / len(picks)
    shares["test_references"] = sum(copies_span(e.body_ids, index, config.span_tokens) for e in examples) / len(
        examples
    )
    return {
        "span_tokens": config.span_tokens,
        "n_samples": len(picks),
        "max_new_tokens": config.max_new_tokens,
        "share_with_copied_span": shares,
        "copied_examples": copied_examples,
    }


def _rating_conditioning(
    config: EvalConfig,
    models: Models,
    probe: SentimentProbe,
    categories: list[str],
    sampling: dict[str, Any],
    examples: list[Example],
) -> dict[str, Any]:
    """How far the asked-for rating moves the tone of samples, for the base and the fine-tuned model.

    Both models get the same prompts and seeds: each category at 1 and at 5 stars under a
    neutral headline, config.rating_samples samples each. A sample reads as asked when the
    probe puts a 1-star sample below 0.5 and a 5-star one above it.
    """
    tokenizer = models.tokenizer
    by_model: dict[str, dict[str, dict[str, float]]] = {}
    for which in ("base", "finetuned"):
        by_rating: dict[str, dict[str, float]] = {}
        with models.use(which) as model:
            for rating in (1, 5):
                probabilities = []
                for j, category in enumerate(categories):
                    headline = NEUTRAL_HEADLINES.get(category, "My purchase")
                    prompt = prompt_for(Task.REVIEW, category=category, rating=rating, headline=headline)
                    seed = config.seed + 1000 + 10 * j + rating
                    for new in _generate_many(
                        model, tokenizer, prompt, sampling, seed, config.rating_samples, config.max_new_tokens
                    ):
                        probabilities.append(probe.positive_probability(tokenizer.decode(new), category))
                as_asked = [(p > 0.5) == (rating == 5) for p in probabilities]
                by_rating[str(rating)] = {
                    "mean_positive_probability": round(sum(probabilities) / len(probabilities), 3),
                    "read_as_asked": round(sum(as_asked) / len(as_asked), 3),
                }
        by_model[which] = by_rating
    # Balanced: most test reviews are positive (music), and a probe that calls everything
    # praise would score 0.8 on plain accuracy.
    recalls = []
    for positive in (False, True):
        texts = [e.record for e in examples if e.record.rating in ((4, 5) if positive else (1, 2))]
        if texts:
            hits = sum((probe.positive_probability(r.text, r.category) > 0.5) == positive for r in texts)
            recalls.append(hits / len(texts))
    accuracy = sum(recalls) / len(recalls) if len(recalls) == 2 else None
    return {
        "samples_per_category": config.rating_samples,
        "categories": categories,
        "probe_balanced_accuracy_on_test": accuracy,
        "models": by_model,
    }


def build_parser() -> ConfigParser:
    """The command line: every EvalConfig field."""
    return ConfigParser(EvalConfig, prog="python -m train.evaluate", description=__doc__.split("\n")[0])


def parse_args(argv: list[str]) -> EvalConfig:
    """An EvalConfig from command-line arguments."""
    (config,) = build_parser().parse(argv)
    return config


if __name__ == "__main__":
    # Only the command line turns results into Markdown, through train.card, which writes all of
    # a card; the module itself, as train.finetune imports it, returns data and needs no card code.
    from train.card import write_evaluation

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        config = parse_args(sys.argv[1:])
        outcome = main(config)
    except EvalError as error:
        sys.exit(f"error: {error}")
    card = Path(config.model) / "README.md" if config.update_card else None
    print(write_evaluation(outcome, card=card, markdown=config.markdown))
    print(
        json.dumps(
            {
                k: outcome[k]
                for k in ("base_perplexity", "few_shot_perplexity", "finetuned_perplexity", "n_examples", "n_tokens")
            },
            indent=2,
        )
    )
