"""Base and tuned are timed on one PeftModel by switching the adapter; the switch must be exact."""

from __future__ import annotations

import torch
from peft import LoraConfig, get_peft_model
from peft.tuners.lora import LoraLayer
from transformers import AutoModelForCausalLM, AutoTokenizer

from harness.evaluate.generation import _merged, load_model, measure_latency_pair
from harness.models import resolve_model
from harness.spec import ModelSpec


def _logits(model, tokenizer, text: str) -> torch.Tensor:
    with torch.no_grad():
        return model(**tokenizer([text], return_tensors="pt", add_special_tokens=False)).logits


def test_latency_pair_times_both_sides_and_leaves_the_weights_as_they_were(tmp_path):
    model_dir = resolve_model(ModelSpec(source="tiny"))
    config = LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir), config).save_pretrained(tmp_path / "adapter")
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(tmp_path / "adapter")  # as AutoTrain saves it
    text = "Count the rows of table t:"
    base, tokenizer = load_model(model_dir)
    merged, _ = load_model(model_dir, tmp_path / "adapter")
    base_logits, tuned_logits = _logits(base, tokenizer, text), _logits(merged, tokenizer, text)
    assert not torch.allclose(base_logits, tuned_logits, atol=1e-3)  # the adapter changes the model

    peft_model, _ = load_model(model_dir, tmp_path / "adapter", merge=False)
    base_profile, tuned_profile = measure_latency_pair(peft_model, tokenizer, [text, text + " now", "Hi"], max_new_tokens=4)

    assert len(base_profile.queries) == len(tuned_profile.queries) == 3
    assert all(q.total_s > 0 and 1 <= q.output_tokens <= 4 for q in base_profile.queries + tuned_profile.queries)
    with peft_model.disable_adapter():
        assert torch.allclose(_logits(peft_model, tokenizer, text), base_logits, atol=1e-4)
    lora_layers = [m for m in peft_model.modules() if isinstance(m, LoraLayer)]
    with _merged(peft_model):  # tuned is timed merged, like the evaluated model
        assert lora_layers and all(m.merged for m in lora_layers)
        assert torch.allclose(_logits(peft_model, tokenizer, text), tuned_logits, atol=1e-4)
    assert not any(m.merged for m in lora_layers)
    assert torch.allclose(_logits(peft_model, tokenizer, text), tuned_logits, atol=1e-4)  # unmerged LoRA
