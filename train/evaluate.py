"""Evaluate a checkpoint against its base: body perplexity, memorisation, samples per rating.

    python -m train.evaluate --model checkpoints/autowrite-reviews-smollm2-135m-lora \
        --data runs/reviews/data/test.jsonl --limit 200 --json /tmp/eval.json --update-card

Perplexity counts only the completion (body) tokens (train.metrics says why). Three models
are scored on the same tokens: the base zero-shot, the base with k real training examples
in its prompt (few-shot), and the fine-tuned model. The rating check reads samples with
train.probe's SentimentProbe.
"""

from __future__ import annotations

import json
import logging
import random
import sys
import time
from pathlib import Path
from typing import Any

from autowrite.formats import RATINGS, Task, prompt_for
from train.cli import ConfigParser
from train.metrics import Example, Scored, body_nll, copies_span, few_shot_context, span_hashes, tokenize_example
from train.modeling import Models, configure_environment, default_threads, load_models
from train.prepare import stratified, usable
from train.probe import SentimentProbe, balanced_accuracy
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
    return {
        "samples_per_category": config.rating_samples,
        "categories": categories,
        "probe_balanced_accuracy_on_test": balanced_accuracy(probe, [e.record for e in examples]),
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
