"""The token inspector's steps and branches, against the backend's own logits on a tiny model."""

from __future__ import annotations

import pytest
import torch

from autowrite import decode, inputs, sampling
from autowrite.backends.base import BackendError
from autowrite.local import LocalModel
from autowrite.service import Request, UserError
from autowrite.settings import SamplingSettings
from tests.decoding import last

SAMPLED = SamplingSettings(temperature=0.8, top_k=20, top_p=0.95, max_new_tokens=12, seed=5)
GREEDY = SamplingSettings(do_sample=False, repetition_penalty=1.3, max_new_tokens=12, seed=5)


def inspected(backend, settings, forced=None, prompt="The sound quality"):
    ids = backend.encode(prompt)
    return ids, last(decode.sample_many(backend, ids, [settings], options=decode.Options(inspect=True, forced=forced)))[
        0
    ]


@pytest.mark.parametrize("settings", [SAMPLED, GREEDY], ids=["sampled", "greedy"])
def test_each_step_lists_the_ten_likeliest_tokens_with_raw_and_adjusted_chances(tiny_backend, settings):
    ids, sample = inspected(tiny_backend, settings)
    assert sample.steps is not None and len(sample.steps) == sample.tokens > 0
    written = list(ids)
    for step in sample.steps:
        logits = tiny_backend.next_logits(written).float()
        raw = torch.softmax(logits, -1)
        adjusted = torch.softmax(sampling.adjust(logits, settings, written), -1)
        if not settings.do_sample:
            adjusted = torch.nn.functional.one_hot(torch.argmax(adjusted), raw.numel()).float()
        top = torch.topk(raw, decode.INSPECT_TOP).indices.tolist()
        assert [a.token_id for a in step.alternatives][: decode.INSPECT_TOP] == top
        for alternative in step.alternatives:
            assert alternative.raw == pytest.approx(float(raw[alternative.token_id]), rel=1e-4, abs=1e-7)
            assert alternative.adjusted == pytest.approx(float(adjusted[alternative.token_id]), rel=1e-4, abs=1e-7)
            assert alternative.text == tiny_backend.decode([alternative.token_id])
        assert step.token_id in [a.token_id for a in step.alternatives]
        assert step.raw == pytest.approx(float(raw[step.token_id]), rel=1e-4)
        assert not step.forced
        if step.token_id == tiny_backend.eos_token_id:
            break
        written.append(step.token_id)
    assert "".join(step.text for step in sample.steps) == sample.text


def test_inspecting_changes_no_text(tiny_backend):
    ids = tiny_backend.encode("The sound quality")
    plain = last(decode.sample_many(tiny_backend, ids, [SAMPLED, GREEDY]))
    seen = last(decode.sample_many(tiny_backend, ids, [SAMPLED, GREEDY], options=decode.Options(inspect=True)))
    assert [s.text for s in plain] == [s.text for s in seen]
    assert all(s.steps is None for s in plain)


def test_a_branch_writes_the_chosen_token_then_draws_from_the_same_stream(tiny_backend):
    _, original = inspected(tiny_backend, SAMPLED)
    step = 3
    alternative = next(a for a in original.steps[step].alternatives if a.token_id != original.steps[step].token_id)
    _, branched = inspected(tiny_backend, SAMPLED, forced={step: alternative.token_id})
    assert [s.token_id for s in branched.steps[:step]] == [s.token_id for s in original.steps[:step]]
    assert branched.steps[step].token_id == alternative.token_id and branched.steps[step].forced
    # The draw at the branch still happens: after it, each step's random race is the
    # original's. Re-run the branch's later steps by hand with the original's generator.
    ids = tiny_backend.encode("The sound quality")
    generator = sampling.make_generator(SAMPLED.seed)
    written = list(ids)
    for index, expected in enumerate(branched.steps):
        choice = sampling.choose(tiny_backend.next_logits(written), SAMPLED, written, generator)
        token = alternative.token_id if index == step else choice
        assert token == expected.token_id
        if token == tiny_backend.eos_token_id:
            break
        written.append(token)
    again = inspected(tiny_backend, SAMPLED, forced={step: alternative.token_id})[1]
    assert again.text == branched.text


def test_a_branch_token_outside_the_vocabulary_is_refused_before_decoding(tiny_backend):
    model = LocalModel(tiny_backend)
    with pytest.raises(BackendError, match="not in this model's vocabulary"):
        model.stream_many("The sound", [SAMPLED], forced={2: tiny_backend.vocab_size})


def test_the_service_branches_and_inspects(tiny_service):
    request = Request(model="tiny-gpt2", text="This speaker")
    settings = tiny_service.settings("tiny-gpt2")
    base = last(tiny_service.stream(request, settings, inspect=True)).samples[0]
    chosen = base.steps[1].alternatives[-1].token_id
    branched = last(tiny_service.stream(request, settings, inspect=True, branch={1: chosen})).samples[0]
    assert branched.steps[1].token_id == chosen and branched.steps[0] == base.steps[0]
    with pytest.raises(UserError, match="vocabulary"):
        last(tiny_service.stream(request, settings, branch={0: 999_999}))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("4", "step:token pairs"),
        ("4:", "step:token pairs"),
        ("²:3", "step:token pairs"),
        ("-1:3", "step:token pairs"),
        ("12:3", "from 0 to 11"),
        ("2:3,2:4", "once"),
        (",".join(f"{i}:1" for i in range(inputs.MAX_BRANCH_TOKENS + 1)), "at most"),
        (7, "step:token pairs"),
    ],
)
def test_branch_values_are_checked_by_name(value, message):
    with pytest.raises(inputs.InputError, match=message) as error:
        inputs.parse_branch(value, 12)
    assert "branch" in str(error.value)


def test_branch_text_round_trips():
    assert inputs.parse_branch(inputs.branch_text({9: 1, 2: 300}), 12) == {2: 300, 9: 1}
    assert inputs.parse_branch(None, 12) == inputs.parse_branch("", 12) == {}
