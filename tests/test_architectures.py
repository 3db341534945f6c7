"""Every architecture family users reach for trains through the real AutoTrain path and evaluates.

Each one is a tiny random model built from its config (`model.tiny.architecture`) with the
embedded SmolLM2 tokenizer: a few LoRA steps through `harness.train.train`, then the evaluator's
greedy generation and gold-answer perplexity, base against tuned. A failure here is a bug in the
harness or its stack bridges, never a skip.
"""

from __future__ import annotations

import json
import math
import time

import pytest

from harness.data import load_splits
from harness.evaluate.pair import evaluate_pair
from harness.models import resolve_model
from harness.spec import TinyModel, parse_spec
from harness.train import train
from tests.conftest import tiny_spec_dict

pytestmark = pytest.mark.train

ARCHITECTURES = TinyModel.model_fields["architecture"].annotation.__args__
# the class transformers builds for each (Gemma 3 text-only, not the multimodal wrapper)
MODEL_CLASSES = {
    "llama": "LlamaForCausalLM",
    "qwen2": "Qwen2ForCausalLM",
    "qwen3": "Qwen3ForCausalLM",
    "gemma3": "Gemma3ForCausalLM",
    "smollm3": "SmolLM3ForCausalLM",
    "mistral": "MistralForCausalLM",
    "phi3": "Phi3ForCausalLM",
}


def test_every_spec_architecture_is_covered_here():
    assert sorted(ARCHITECTURES) == sorted(MODEL_CLASSES)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_architecture_trains_and_evaluates(architecture, tmp_path, record_property):
    started = time.perf_counter()
    spec = parse_spec(
        tiny_spec_dict(**{"model.tiny.architecture": architecture, "evaluation.metrics": ["exact_text", "perplexity"]})
    )
    model_dir = resolve_model(spec.model)
    config = json.loads((model_dir / "config.json").read_text())
    assert config["architectures"] == [MODEL_CLASSES[architecture]]
    splits, _ = load_splits(spec.data)

    result = train(model_dir, splits, spec.train, spec.prompt, tmp_path)
    assert result.steps == 4 and result.train_tokens == 4 * 2 * 128
    assert (result.adapter_dir / "adapter_model.safetensors").is_file()
    assert all(math.isfinite(v.loss) for v in result.valid_losses)

    evaluation = evaluate_pair(model_dir, result.adapter_dir, splits.test, spec.prompt, spec.evaluation)
    assert evaluation.n == len(splits.test) == 8
    assert evaluation.throughput["tuned"].tokens > 0  # it generated
    perplexity = evaluation.metrics["perplexity_answer"]
    # four steps at lr 5e-3 move a random model towards the SQL answers: the adapter took effect
    assert perplexity.tuned < perplexity.base, perplexity
    record_property("seconds", round(time.perf_counter() - started, 1))
