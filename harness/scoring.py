"""Token log-likelihood of answers given prompts.

Shared by training (validation loss for pruning) and evaluation (perplexity), so the number
Optuna optimises is the same quantity the report shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class TokenNll:
    """Summed negative log-likelihood over `tokens` scored tokens of one example."""

    nll: float
    tokens: int


@dataclass(frozen=True)
class Scored:
    """One example scored in one forward pass: the answer tokens alone, and the whole sequence
    (prompt included, minus the first token) — the two perplexities the report shows."""

    answer: TokenNll
    sequence: TokenNll


@torch.no_grad()
def score_answers(model, tokenizer, inputs: list[str], answers: list[str], *, batch_size: int = 8) -> list[Scored]:
    """NLL of each `answer` after its rendered `input`, and of the whole sequence, in input order.

    Sequences are batched by length, so a batch pads its rows to about their own length rather
    than to the longest sequence of the whole set (the scores do not depend on it beyond float rounding)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    prompts = [tokenizer(prompt, add_special_tokens=False)["input_ids"] for prompt in inputs]
    sequences = [p + tokenizer(answer, add_special_tokens=False)["input_ids"] for p, answer in zip(prompts, answers)]
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    results: list[Scored | None] = [None] * len(sequences)
    try:
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            ids, prompt_lengths = [sequences[i] for i in batch], [len(prompts[i]) for i in batch]
            width = max(len(x) for x in ids)
            pad = tokenizer.pad_token_id
            input_ids = torch.tensor([x + [pad] * (width - len(x)) for x in ids], device=device)
            attention = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids], device=device)
            logits = model(input_ids=input_ids, attention_mask=attention).logits.float()
            # over rows of the flattened (position, vocabulary) matrix: 2.3x faster on CPU than over the
            # transposed (batch, vocabulary, position) view, whose softmax runs across strided memory
            targets = input_ids[:, 1:]
            nll = F.cross_entropy(logits[:, :-1].flatten(0, 1), targets.flatten(), reduction="none").view_as(targets)
            for i, row, length, p_len in zip(batch, nll, attention.sum(1).tolist(), prompt_lengths):
                # position t predicts token t + 1: answer tokens are predicted from p_len - 1 on
                answer_part, sequence_part = row[p_len - 1 : length - 1], row[: length - 1]
                results[i] = Scored(
                    answer=TokenNll(nll=float(answer_part.sum()), tokens=answer_part.numel()),
                    sequence=TokenNll(nll=float(sequence_part.sum()), tokens=sequence_part.numel()),
                )
    finally:
        model.train(was_training)
    return results


def mean_loss(scores: list[TokenNll]) -> float:
    """Token-weighted mean NLL (log perplexity), not a mean of per-example means."""
    tokens = sum(s.tokens for s in scores)
    return sum(s.nll for s in scores) / max(tokens, 1)
