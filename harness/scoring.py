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


@torch.no_grad()
def score_answers(
    model, tokenizer, inputs: list[str], answers: list[str], *, batch_size: int = 8, answer_only: bool = True
) -> list[TokenNll]:
    """NLL of each `answer` after its rendered `input`; with answer_only=False the whole
    sequence (prompt included, minus the first token) is scored instead."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    results: list[TokenNll] = []
    try:
        for start in range(0, len(inputs), batch_size):
            batch = list(zip(inputs[start : start + batch_size], answers[start : start + batch_size]))
            ids, labels = [], []
            for prompt, answer in batch:
                p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
                a = tokenizer(answer, add_special_tokens=False)["input_ids"]
                ids.append(p + a)
                labels.append(([-100] * len(p) if answer_only else p) + a)
            width = max(len(x) for x in ids)
            pad = tokenizer.pad_token_id
            input_ids = torch.tensor([x + [pad] * (width - len(x)) for x in ids], device=device)
            attention = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids], device=device)
            target = torch.tensor([y + [-100] * (width - len(y)) for y in labels], device=device)
            logits = model(input_ids=input_ids, attention_mask=attention).logits.float()
            shifted = target[:, 1:]
            nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), shifted, ignore_index=-100, reduction="none")
            for row_nll, row_target in zip(nll, shifted):
                mask = row_target != -100
                results.append(TokenNll(nll=float(row_nll[mask].sum()), tokens=int(mask.sum())))
    finally:
        model.train(was_training)
    return results


def mean_loss(scores: list[TokenNll]) -> float:
    """Token-weighted mean NLL (log perplexity), not a mean of per-example means."""
    tokens = sum(s.tokens for s in scores)
    return sum(s.nll for s in scores) / max(tokens, 1)
