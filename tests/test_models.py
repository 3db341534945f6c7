"""Model sources: the embedded GGUF comes back with a working tokenizer; offline hub ids fail clearly."""

from __future__ import annotations

import json

import pytest
from transformers import AutoConfig, AutoTokenizer, GenerationConfig

from harness.errors import UserError
from harness.models import resolve_model
from harness.spec import ModelSpec, TinyModel


@pytest.mark.slow  # dequantises the embedded SmolLM2 on a cold cache
def test_embedded_model_has_chatml_eos_pad_and_max_length():
    model_dir = resolve_model(ModelSpec())
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.eos_token_id == 2
    assert tokenizer.pad_token_id == 2 and tokenizer.model_max_length == 8192
    assert AutoConfig.from_pretrained(model_dir).eos_token_id == 2
    assert GenerationConfig.from_pretrained(model_dir).eos_token_id == 2
    assert AutoConfig.from_pretrained(model_dir).architectures == ["LlamaForCausalLM"]
    assert resolve_model(ModelSpec()) == model_dir  # cached, not rebuilt


def test_tiny_model_follows_the_spec_and_shares_the_tokenizer():
    spec = ModelSpec(source="tiny", tiny=TinyModel(layers=3, hidden_size=32, heads=2, intermediate_size=64))
    config = json.loads((resolve_model(spec) / "config.json").read_text())
    assert (config["num_hidden_layers"], config["hidden_size"], config["eos_token_id"]) == (3, 32, 2)
    assert AutoTokenizer.from_pretrained(resolve_model(spec)).eos_token == "<|im_end|>"


def test_offline_hub_id_fails_with_the_id_and_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match=r"cannot fetch 'meta-llama/Llama-2-7b-hf'.*set model.source to that directory"):
        resolve_model(ModelSpec(source="meta-llama/Llama-2-7b-hf"))


def test_local_directory_without_config_is_rejected(tmp_path):
    with pytest.raises(UserError, match=r"no config\.json"):
        resolve_model(ModelSpec(source=str(tmp_path)))
