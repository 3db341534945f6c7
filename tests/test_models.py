"""Model sources: the embedded GGUF comes back with a working tokenizer; offline hub ids fail clearly."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import scan_cache_dir
from transformers import AutoConfig, AutoTokenizer, GenerationConfig

from harness.errors import UserError
from harness.models import describe_model, resolve_model
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


def _put_in_hub_cache(model_dir: Path, hub_cache: Path, repo_id: str, commit: str) -> Path:
    """Lay a checkpoint out as `huggingface_hub` caches a download: snapshots/<commit> + refs/main."""
    repo = hub_cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(model_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return repo


def test_hub_id_in_the_local_cache_resolves_offline_with_its_commit(tmp_path):
    repo_id, commit = "tiny-org/tiny-llama", "0123456789abcdef0123456789abcdef01234567"
    hub_cache = tmp_path / "hub"
    tiny_dir = resolve_model(ModelSpec(source="tiny"))
    _put_in_hub_cache(tiny_dir, hub_cache, repo_id, commit)
    assert [r.repo_id for r in scan_cache_dir(hub_cache).repos] == [repo_id]  # the layout huggingface_hub reads
    # huggingface_hub reads HF_HUB_OFFLINE and HF_HUB_CACHE at import: a fresh process, as a user runs it
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(hub_cache)}
    script = (
        "import json, sys; from harness.models import resolve_model, describe_model; from harness.spec import ModelSpec; "
        "print(json.dumps(describe_model(resolve_model(ModelSpec(source=sys.argv[1], revision=sys.argv[2] or None)))))"
    )
    for revision in ("", commit):
        done = subprocess.run([sys.executable, "-c", script, repo_id, revision], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        described = json.loads(done.stdout.splitlines()[-1])
        assert described["revision"] == commit
        assert described["dir"] == str(hub_cache / f"models--{repo_id.replace('/', '--')}" / "snapshots" / commit)
    done = subprocess.run([sys.executable, "-c", script, repo_id, "f" * 40], env=env, capture_output=True, text=True)
    assert done.returncode != 0 and f"cannot fetch '{repo_id}'" in done.stderr


def test_models_outside_the_hub_cache_have_no_revision():
    assert describe_model(resolve_model(ModelSpec(source="tiny")))["revision"] is None


@pytest.mark.parametrize("architecture", ["llama", "gemma3"])  # gemma3 ties its embeddings
def test_parameter_count_from_the_weight_headers_matches_the_loaded_model(architecture):
    from transformers import AutoModelForCausalLM

    model_dir = resolve_model(ModelSpec(source="tiny", tiny=TinyModel(architecture=architecture)))
    assert describe_model(model_dir)["parameters"] == AutoModelForCausalLM.from_pretrained(model_dir).num_parameters()


def test_a_checkpoint_of_bin_weights_has_no_parameter_count(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    (tmp_path / "pytorch_model.bin").write_bytes(b"\0" * 16)
    assert describe_model(tmp_path)["parameters"] is None


def test_the_gguf_import_reads_each_file_once_and_leaves_gguf_as_it_was():
    import gguf

    from harness.models import _gguf_read_once

    before = gguf.GGUFReader, gguf.get_tensor_name_map
    with _gguf_read_once():
        assert gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 2) is gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 2)
    assert (gguf.GGUFReader, gguf.get_tensor_name_map) == before
    assert gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 2) is not gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 2)


@pytest.mark.slow
def test_the_embedded_model_imports_to_the_weights_transformers_reads_from_its_gguf(tmp_path, monkeypatch):
    """Reading each GGUF file once must not change what the import writes."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from harness.models import _embedded_gguf

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path))
    imported = load_file(resolve_model(ModelSpec()) / "model.safetensors")
    gguf = _embedded_gguf()
    plain = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32).state_dict()
    assert imported.keys() <= plain.keys()
    assert all(torch.equal(imported[name], plain[name]) for name in imported)
