"""Base and tuned are timed on one PeftModel by switching the adapter; the switch must be exact."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from peft import LoraConfig, get_peft_model
from peft.tuners.lora import LoraLayer
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache
from transformers.cache_utils import DynamicLayer

from harness.evaluate.generation import (
    _Batch,
    _decode,
    _merged,
    generate,
    load_model,
    measure_latency,
    measure_latency_pair,
)
from harness.models import resolve_model
from harness.results import Sampling
from harness.spec import ModelSpec, TinyModel


def _logits(model, tokenizer, text: str) -> torch.Tensor:
    with torch.no_grad():
        return model(**tokenizer([text], return_tensors="pt", add_special_tokens=False)).logits


def _random_adapter(model_dir, out_dir):
    """A LoRA with non-zero B, so it changes the model from the first step."""
    torch.manual_seed(0)
    config = LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir), config).save_pretrained(out_dir)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(out_dir)  # as AutoTrain saves it
    return out_dir


def test_latency_pair_times_both_sides_and_leaves_the_weights_as_they_were(tmp_path):
    model_dir = resolve_model(ModelSpec(source="tiny"))
    _random_adapter(model_dir, tmp_path / "adapter")
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


def test_each_side_of_the_latency_pair_times_its_own_model(tmp_path):
    """Make the tuned model's first greedy token the stop token: tuned queries then stop after one
    token while base ones run to the limit, which shows which weights each side generated with."""
    model_dir = resolve_model(ModelSpec(source="tiny"))
    adapter = _random_adapter(model_dir, tmp_path / "adapter")
    text = "Count the rows of table t:"
    base, tokenizer = load_model(model_dir)
    merged, _ = load_model(model_dir, adapter)
    stop = int(_logits(merged, tokenizer, text)[0, -1].argmax())
    enc = tokenizer([text], return_tensors="pt", add_special_tokens=False)
    base_tokens = base.generate(**enc, do_sample=False, max_new_tokens=4, eos_token_id=stop, pad_token_id=tokenizer.pad_token_id)
    assert stop not in base_tokens[0, enc["input_ids"].shape[1] :].tolist()  # precondition of the test
    tokenizer.eos_token = tokenizer.convert_ids_to_tokens(stop)

    peft_model, _ = load_model(model_dir, adapter, merge=False)
    base_profile, tuned_profile = measure_latency_pair(peft_model, tokenizer, [text] * 3, max_new_tokens=4)
    assert [q.output_tokens for q in base_profile.queries] == [4, 4, 4]
    assert [q.output_tokens for q in tuned_profile.queries] == [1, 1, 1]


def test_base_and_tuned_models_decode_through_the_same_kernels(tmp_path):
    """Throughput and latency compare base with tuned: a difference must come from the weights'
    values, never from PyTorch taking another path for one model (trainable base weights against
    frozen merged ones once sent only the tuned model's prompt pass through a weight-copying bmm)."""
    model_dir = resolve_model(ModelSpec(source="tiny"))
    adapter = _random_adapter(model_dir, tmp_path / "adapter")
    ops = []
    for adapter_dir in (None, adapter):
        model, tokenizer = load_model(model_dir, adapter_dir)
        prompts = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in ("Count the rows of table t:", "Hi")]
        with torch.profiler.profile() as profiled:
            _decode(model, prompts, 3, eos_id=-1, pad_id=tokenizer.pad_token_id, batch_size=2)
        ops.append(Counter(event.name for event in profiled.events()))
    assert ops[0] == ops[1]
    assert "aten::bmm" not in ops[0]  # the LM head is one plain matmul per pass


def _reference_greedy(model, tokenizer, text: str, max_new_tokens: int) -> list[int]:
    """transformers' own `generate`, one unpadded prompt at a time: the plain path."""
    enc = tokenizer([text], return_tensors="pt", add_special_tokens=False)
    out = model.generate(**enc, do_sample=False, max_new_tokens=max_new_tokens, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)[0, enc["input_ids"].shape[1] :].tolist()
    return out[: out.index(tokenizer.eos_token_id) + 1] if tokenizer.eos_token_id in out else out


@pytest.mark.parametrize("batch_size", [8, 3])
@pytest.mark.parametrize("architecture", TinyModel.model_fields["architecture"].annotation.__args__)
def test_batched_decoding_gives_the_plain_greedy_tokens_while_rows_stop_at_different_steps(architecture, batch_size):
    """`generate` pads, sorts, batches, drops finished rows from the batch and its KV cache and
    (batch 3 of 8 prompts) lets waiting prompts join running rows; each answer must still be exactly
    what transformers' plain greedy `generate` writes for its prompt (fp32, every architecture the
    spec offers: their caches differ, e.g. Gemma 3's sliding layers)."""
    model, tokenizer = load_model(resolve_model(ModelSpec(source="tiny", tiny=TinyModel(architecture=architecture))))
    texts = ["Count the rows of table t:", "Hi", "SELECT name FROM singer WHERE age >", "List every song by Ann, newest first",
             "How many", "table: 1-10015132-16 columns: Player, Nationality Q: Who is from Canada?", "a b c d e f", "Why?"]
    max_new = 10
    unstopped = [_reference_greedy(model, tokenizer, text, max_new) for text in texts]
    # a stop token that one row writes (first at step k) and another row never writes: rows of the
    # batch then stop steps apart, some at the limit. Mid-way (k > 0) where the model allows it;
    # random tiny Gemma 3 repeats one token per row, so there a row stops at its first step.
    candidates = [(k == 0, row[k]) for row in unstopped for k in range(max_new)
                  if row[k] not in row[:k] and any(row[k] not in other for other in unstopped)]
    stop = min(candidates, key=lambda c: c[0])[1]
    tokenizer.eos_token = tokenizer.convert_ids_to_tokens(stop)
    expected = [_reference_greedy(model, tokenizer, text, max_new) for text in texts]
    lengths = [len(tokens) for tokens in expected]
    assert min(lengths) < max_new and max_new in lengths  # precondition: rows of one batch stop steps apart

    rows_per_call = _record_rows_per_forward(model)
    gens = generate(model, tokenizer, texts, max_new_tokens=max_new, batch_size=batch_size)
    assert gens.output_tokens == lengths
    assert gens.outputs == [tokenizer.decode(tokens, skip_special_tokens=True).strip() for tokens in expected]
    assert gens.cut == [n == max_new and tokens[-1] != stop for n, tokens in zip(lengths, expected)]
    if batch_size < len(texts) and _cache_can_join(model):
        # continuous batching: while prompts wait, every decoding step runs a full batch
        started = 0
        for width, rows in rows_per_call:
            started += rows if width > 1 else 0
            assert width > 1 or started == len(texts) or rows == batch_size
    timed = measure_latency(model, tokenizer, texts[:3], max_new_tokens=max_new)
    assert [q.output_tokens for q in timed.queries] == lengths[:3]


def _record_rows_per_forward(model) -> list[tuple[int, int]]:
    """(tokens per row, rows) of every forward call the model makes from now on."""
    calls: list[tuple[int, int]] = []
    model.register_forward_pre_hook(lambda _, args, kwargs: calls.append(tuple(kwargs["input_ids"].shape[::-1])), with_kwargs=True)
    return calls


def _cache_can_join(model) -> bool:
    return all(type(layer) is DynamicLayer for layer in DynamicCache(config=model.config).layers)


def test_a_batch_that_loses_its_longest_row_drops_the_columns_left_as_padding_and_decodes_on_unchanged():
    model, tokenizer = load_model(resolve_model(ModelSpec(source="tiny")))
    short, long = (tokenizer(text, add_special_tokens=False)["input_ids"]
                   for text in ("Hi", "table: 1-10015132-16 columns: Player, Nationality Q: Who is from Canada?"))
    (alone,), _ = _decode(model, [short], 6, eos_id=-1, pad_id=tokenizer.pad_token_id)  # never stops: 6 tokens

    batch, logits = _Batch.prefill(model, [0, 1], [short, long], tokenizer.pad_token_id)
    together = []
    for step in range(6):
        chosen = logits.argmax(-1)
        together.append(int(chosen[0]))
        if step == 2:  # the long row leaves: only the short row's own columns are left
            batch.keep(torch.tensor([True, False]))
            chosen = chosen[:1]
            assert batch.mask.shape[1] == len(short) + 2 and bool(batch.mask.all())
            assert all(layer.keys.shape[2] == batch.mask.shape[1] for layer in batch.cache.layers)
        logits = batch.step(model, chosen)
    assert together == alone


def test_an_answer_stopped_by_its_stop_token_on_the_last_allowed_step_is_not_cut():
    """`cut` marks answers the limit ended while still running, not those that used every token."""
    model, tokenizer = load_model(resolve_model(ModelSpec(source="tiny")))
    text = "Count the rows of table t:"
    reference = _reference_greedy(model, tokenizer, text, 6)
    tokenizer.eos_token = tokenizer.convert_ids_to_tokens(reference[-1])
    assert reference[-1] not in reference[:-1]  # precondition: the stop token comes first at step 6
    gens = generate(model, tokenizer, [text], max_new_tokens=6, batch_size=1)
    assert gens.output_tokens == [6] and gens.cut == [False]
    assert generate(model, tokenizer, [text], max_new_tokens=5, batch_size=1).cut == [True]


def test_an_answer_stops_where_it_is_final_and_is_a_prefix_of_the_unstopped_one():
    """`is_final` ends a row at the first token after which its text is final, in batched decoding
    and in batch-1 timing alike; up to there the tokens are those of the unstopped run."""
    model, tokenizer = load_model(resolve_model(ModelSpec(source="tiny")))
    texts = ["Count the rows of table t:", "Hi", "SELECT name FROM singer WHERE age >", "Why?"]
    max_new = 12
    full = generate(model, tokenizer, texts, max_new_tokens=max_new, batch_size=len(texts))
    reference = [_reference_greedy(model, tokenizer, text, max_new) for text in texts]
    lengths = sorted({len(out) for out in full.outputs})
    threshold = lengths[len(lengths) // 2]  # some rows reach it before the limit, the shortest do not

    def is_final(text: str) -> bool:
        return len(text) >= threshold

    def decoded(tokens: list[int]) -> str:
        return tokenizer.decode(tokens, skip_special_tokens=True).strip()

    expected = [next((tokens[:k] for k in range(1, len(tokens) + 1) if is_final(decoded(tokens[:k]))), tokens)
                for tokens in reference]
    assert any(len(e) < len(r) for e, r in zip(expected, reference))  # precondition: some rows stop early
    stopped = generate(model, tokenizer, texts, max_new_tokens=max_new, batch_size=len(texts), is_final=is_final)
    assert stopped.output_tokens == [len(e) for e in expected]
    assert stopped.outputs == [decoded(e) for e in expected]
    timed = measure_latency(model, tokenizer, texts, max_new_tokens=max_new, is_final=is_final)
    assert [q.output_tokens for q in timed.queries] == [len(e) for e in expected]


@pytest.mark.slow
def test_stopping_at_the_final_answer_keeps_every_score_on_smollm2():
    """On the embedded model's real answers (SQL, prose, fences), stopping once the SQL is final
    changes no score of any example and writes fewer tokens."""
    from harness.data import load_splits
    from harness.evaluate.model_run import run_model
    from harness.evaluate.scorers import build_metrics
    from harness.spec import parse_spec

    spec = parse_spec({"project": "stop", "data": {"source": "builtin:sql", "subset": 200, "split": {"valid": 4, "test": 8}},
                       "prompt": {"system": "Write one SQLite query that answers the question."},
                       "evaluation": {"metrics": ["sql"], "max_new_tokens": 40, "batch_size": 8}})
    splits, _ = load_splits(spec.data)
    model_dir = resolve_model(spec.model)
    runs = {stop: run_model(model_dir, None, splits.test, spec.prompt,
                            spec.evaluation.model_copy(update={"stop_at_final_answer": stop}), build_metrics(["sql"]))
            for stop in (False, True)}
    assert runs[True].scores == runs[False].scores
    assert sum(runs[True].output_tokens) < sum(runs[False].output_tokens)


def test_sampled_answers_are_the_same_for_the_same_seed_whatever_the_batch():
    """Each answer draws from its own generator, seeded by the sampling seed and its place: a rerun,
    or another batch size, draws the same answers; another seed draws others. A nucleus too small
    for a second token leaves only the most likely one: greedy's answers."""
    model_dir = resolve_model(ModelSpec(source="tiny"))
    model, tokenizer = load_model(model_dir)
    prompts = ["Count the rows of table t:"] * 4 + ["Name every singer from France:"] * 2
    sampling = Sampling(samples=2, temperature=1.0, seed=3)

    def sampled(batch_size: int, drawn: Sampling) -> list[str]:
        return generate(model, tokenizer, prompts, max_new_tokens=6, batch_size=batch_size, sampling=drawn).outputs

    first = sampled(3, sampling)
    assert sampled(3, sampling) == first
    assert sampled(6, sampling) == first
    assert len(set(first[:4])) > 1  # one prompt four times: four draws, not one answer copied
    assert sampled(3, sampling.model_copy(update={"seed": 4})) != first
    greedy = generate(model, tokenizer, prompts, max_new_tokens=6, batch_size=3).outputs
    assert sampled(3, sampling.model_copy(update={"top_p": 1e-6})) == greedy != first
