"""Answer and sequence NLL from one forward pass agree with the model's own loss."""

from __future__ import annotations

import math

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from harness.likelihood import example_nll, mean_loss
from harness.models import resolve_model
from harness.spec import ModelSpec


def test_scores_match_huggingface_loss_with_masked_labels():
    model_dir = resolve_model(ModelSpec(source="tiny"))
    model, tokenizer = AutoModelForCausalLM.from_pretrained(model_dir), AutoTokenizer.from_pretrained(model_dir)
    # longest first: batched by length, the scores must still come back in input order
    prompts = ["A much longer prompt about the table t and its columns:", "Count rows of t:", "Columns of t:"]
    answers = [" SELECT a FROM t;", " SELECT 1;", " SELECT a, b FROM t WHERE a > 1;"]
    scored = example_nll(model, tokenizer, prompts, answers, batch_size=2)  # padded batches
    for (prompt, answer), s in zip(zip(prompts, answers), scored):
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([p + tokenizer(answer, add_special_tokens=False)["input_ids"]])
        labels = ids.clone()
        labels[0, : len(p)] = -100
        with torch.no_grad():
            answer_loss = model(input_ids=ids, labels=labels).loss.item()
            sequence_loss = model(input_ids=ids, labels=ids).loss.item()
        assert s.answer.tokens == ids.shape[1] - len(p) and s.sequence.tokens == ids.shape[1] - 1
        assert math.isclose(s.answer.nll / s.answer.tokens, answer_loss, rel_tol=1e-4)
        assert math.isclose(s.sequence.nll / s.sequence.tokens, sequence_loss, rel_tol=1e-4)
    weighted = sum(s.answer.nll for s in scored) / sum(s.answer.tokens for s in scored)
    assert math.isclose(mean_loss([s.answer for s in scored]), weighted)

    # answers alone (validation): the head runs from each batch's first answer position, same numbers
    answers_only = example_nll(model, tokenizer, prompts, answers, batch_size=2, whole_sequence=False)
    assert all(s.sequence is None for s in answers_only)
    for alone, both in zip(answers_only, scored):
        assert alone.answer.tokens == both.answer.tokens
        assert math.isclose(alone.answer.nll, both.answer.nll, rel_tol=1e-5)
