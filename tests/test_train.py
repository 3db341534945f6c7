"""Training through real AutoTrain on the tiny LLaMA: adapters, validation loss, stops, failures."""

from __future__ import annotations

import math
import random

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM
from trl.trainer.utils import add_fused_lm_head

import harness.train
from harness.data import load_splits
from harness.events import EventChannel, Stopping, Validated
from harness.hardware import this_machine
from harness.models import resolve_model
from harness.spec import parse_spec
from harness.train import TrainingError, _lm_head_from_logits_on_cpu, train
from tests.conftest import assert_stops_after_answer, tiny_spec_dict

pytestmark = pytest.mark.train


@pytest.fixture(scope="module")
def tiny():
    spec = parse_spec(tiny_spec_dict())
    splits, _ = load_splits(spec.data)
    return spec, resolve_model(spec.model), splits


def test_adapter_is_peft_loadable_and_validation_loss_is_recorded(tiny, tmp_path):
    spec, model_dir, splits = tiny
    result = train(model_dir, splits, spec.train, spec.prompt, tmp_path)
    assert result.steps == result.planned_steps == 4
    assert [v.step for v in result.valid_losses] == [2, 4]
    assert all(v.loss > 0 for v in result.valid_losses)
    assert [h.loss for h in result.history if h.loss is not None]
    assert result.train_tokens == 4 * 2 * 128 and result.tokens_per_second > 0
    ends = result.step_end_seconds
    assert len(ends) == 4 and ends == sorted(ends) and ends[-1] <= result.train_seconds
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), result.adapter_dir)
    assert model.peft_config["default"].r == 4


def test_validation_hook_can_stop_training(tiny, tmp_path):
    spec, model_dir, splits = tiny
    seen = []
    channel = EventChannel()

    def stop_at_first_validation(event):
        if isinstance(event, Validated):
            seen.append(event.step)
            channel.request_stop("enough")
        elif isinstance(event, Stopping):
            seen.append(event.reason)

    channel.subscribe(stop_at_first_validation)
    result = train(model_dir, splits, spec.train, spec.prompt, tmp_path, channel)
    assert seen == [2, "enough"] and result.steps == 2 and result.stopped_early


def test_failure_surfaces_the_real_cause(tiny, tmp_path):
    spec, model_dir, splits = tiny
    bad = spec.train.model_copy(update={"lora": spec.train.lora.model_copy(update={"target_modules": "no_such_proj"})})
    with pytest.raises(TrainingError, match="no_such_proj"):
        train(model_dir, splits, bad, spec.prompt, tmp_path)


def test_a_tuned_model_stops_after_its_answer(tmp_path):
    """Train on one repeated pair until memorised: greedy decoding must end at <|im_end|>."""
    spec = parse_spec(tiny_spec_dict(**{"train.lr": 2e-2, "train.max_steps": 40, "train.batch_size": 4,
                                        "train.lora.r": 16, "train.lora.alpha": 32, "train.lora.dropout": 0.0,
                                        "train.warmup_ratio": 0.0}))
    assert_stops_after_answer(resolve_model(spec.model), spec, tmp_path)


def test_training_is_reproducible_whatever_the_global_rng_state(tiny, tmp_path):
    """The same spec gives the same run, also for the first training in a process (search trial 0)."""
    spec, model_dir, splits = tiny
    losses = []
    for state in (1, 2):
        random.seed(state)  # what earlier code in the process left behind
        result = train(model_dir, splits, spec.train, spec.prompt, tmp_path / str(state))
        losses.append([h.loss for h in result.history if h.loss is not None])
    assert losses[0] and losses[0] == losses[1]


def _per_token(add_head, model_dir, input_ids, labels):
    """The per-token outputs SFTTrainer reads, and the gradient they send back, for one LM-head patch."""
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    add_head(model, outputs=("log_probs", "entropy", "is_top1"))
    out = model(input_ids=input_ids, labels=labels, fused_lm_head=True)
    loss = -out.log_probs.sum() / out.label_mask.sum()
    loss.backward()
    return out, loss, model.model.norm.weight.grad, model(input_ids=input_ids).logits


def test_cpu_lm_head_gives_trls_fused_outputs_and_loss(tiny):
    """On CPU the bridge replaces trl's slow fused LM head; SFTTrainer must see the same numbers."""
    _, model_dir, _ = tiny
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(0, 200, (2, 24), generator=generator)
    with torch.no_grad():
        predicted = AutoModelForCausalLM.from_pretrained(model_dir)(input_ids=input_ids).logits.argmax(-1)
    labels = input_ids.clone()
    labels[:, 2:12] = predicted[:, 1:11]  # label = the model's top token: is_top1 must say yes there
    labels[0, :5] = -100  # a masked prompt
    ours = _per_token(_lm_head_from_logits_on_cpu, model_dir, input_ids, labels)
    trls = _per_token(add_fused_lm_head, model_dir, input_ids, labels)
    for field in ("log_probs", "entropy", "is_top1", "label_mask"):
        torch.testing.assert_close(getattr(ours[0], field), getattr(trls[0], field))
    assert 0 < ours[0].is_top1.sum() < ours[0].label_mask.sum() == 2 * 23 - 4
    assert not ours[0].log_probs[0, :4].any()
    torch.testing.assert_close(ours[1], trls[1])
    torch.testing.assert_close(ours[2], trls[2])  # the same gradient reaches the model
    torch.testing.assert_close(ours[3], trls[3])  # without the flag (generate, validation): the model's own logits


def test_training_on_cpu_takes_the_bridged_lm_head_with_trls_loss(tiny, tmp_path, monkeypatch):
    """One step each way: the loss before any update is trl's own. (Later losses drift apart from float
    rounding, which AdamW's sign-like first updates of the zero-initialised LoRA matrices amplify.)"""
    spec, model_dir, splits = tiny
    one_step = spec.train.model_copy(update={"max_steps": 1})
    patched = []
    monkeypatch.setattr(harness.train, "_lm_head_from_logits_on_cpu",
                        lambda model, **kwargs: patched.append(model) or _lm_head_from_logits_on_cpu(model, **kwargs))
    bridged = train(model_dir, splits, one_step, spec.prompt, tmp_path / "bridged")
    assert len(patched) == 1
    monkeypatch.setattr(harness.train, "_lm_head_from_logits_on_cpu", add_fused_lm_head)
    fused = train(model_dir, splits, one_step, spec.prompt, tmp_path / "fused")
    losses = [[h.loss for h in run.history if h.loss is not None] for run in (bridged, fused)]
    assert len(losses[0]) == 1 and losses[0] == pytest.approx(losses[1], rel=1e-5)


def test_auto_precision_trains_in_what_this_machine_computes_natively(tiny, tmp_path):
    """`auto` reaches AutoTrain resolved (bf16 here only with native bf16), never as the word 'auto'."""
    spec, model_dir, splits = tiny
    auto = spec.train.model_copy(update={"mixed_precision": "auto", "max_steps": 1})
    run = train(model_dir, splits, auto, spec.prompt, tmp_path)
    assert run.autotrain_params["mixed_precision"] == ("bf16" if this_machine().native_bf16 else None)


@pytest.mark.skipif(not this_machine().native_bf16, reason="no native bf16 on this machine (validate refuses it here)")
def test_bf16_mixed_precision_trains_through_autotrain(tiny, tmp_path):
    """`train.mixed_precision: bf16` reaches the Trainer through AutoTrain's own switch and really
    changes the arithmetic: same seed and data, other losses, still finite, adapter still loadable."""
    spec, model_dir, splits = tiny
    bf16 = spec.train.model_copy(update={"mixed_precision": "bf16"})
    runs = {name: train(model_dir, splits, s, spec.prompt, tmp_path / name) for name, s in (("fp32", spec.train), ("bf16", bf16))}
    assert runs["bf16"].autotrain_params["mixed_precision"] == "bf16"
    losses = {name: [h.loss for h in r.history if h.loss is not None] for name, r in runs.items()}
    assert len(losses["bf16"]) == 4 and all(math.isfinite(x) for x in losses["bf16"])
    assert losses["bf16"] != losses["fp32"]
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=0.05)  # rounding, not a different run
    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), runs["bf16"].adapter_dir)
