"""Token log-likelihood of gold answers given prompts (the model's probability of the known answer;
`harness score` judges answer text instead).

Shared by training (validation loss for pruning) and evaluation (perplexity), so the number
Optuna optimises is the same quantity the report shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TokenNll:
    """Summed negative log-likelihood over `tokens` scored tokens of one example."""

    nll: float
    tokens: int


@dataclass(frozen=True)
class ExampleNll:
    """One example scored in one forward pass: the answer tokens alone, and the whole sequence
    (prompt included, minus the first token) — the two perplexities the report shows. `sequence`
    is None where only answers were asked for."""

    answer: TokenNll
    sequence: TokenNll | None


@torch.no_grad()
def example_nll(model, tokenizer, inputs: list[str], answers: list[str], *, batch_size: int = 8,
                whole_sequence: bool = True) -> list[ExampleNll]:
    """NLL of each `answer` after its rendered `input`, and of the whole sequence, in input order.

    Sequences are batched by length, so a batch pads its rows to about their own length rather
    than to the longest sequence of the whole set (the scores do not depend on it beyond float
    rounding). Without `whole_sequence` (validation during training) the LM head and softmax run
    only from the batch's first answer position on: most of a sequence is prompt."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    prompts = [tokenizer(prompt, add_special_tokens=False)["input_ids"] for prompt in inputs]
    sequences = [p + tokenizer(answer, add_special_tokens=False)["input_ids"] for p, answer in zip(prompts, answers)]
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    results: list[ExampleNll | None] = [None] * len(sequences)
    try:
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            ids, prompt_lengths = [sequences[i] for i in batch], [len(prompts[i]) for i in batch]
            width = max(len(x) for x in ids)
            pad = tokenizer.pad_token_id
            input_ids = torch.tensor([x + [pad] * (width - len(x)) for x in ids], device=device)
            attention = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids], device=device)
            # position t predicts token t + 1: answer tokens are predicted from p_len - 1 on
            first = 0 if whole_sequence else min(prompt_lengths) - 1
            kept = torch.arange(first, width - 1, device=device)
            logits = model(input_ids=input_ids, attention_mask=attention, logits_to_keep=kept).logits
            # log-softmax straight into fp32 (no separate fp32 copy of bf16 logits), over rows of the
            # (position, vocabulary) matrix, the faster layout on CPU (bench/README.md)
            targets = input_ids[:, first + 1 :]
            nll = -torch.log_softmax(logits, dim=-1, dtype=torch.float32).gather(-1, targets[..., None]).squeeze(-1)
            for i, row, length, p_len in zip(batch, nll, attention.sum(1).tolist(), prompt_lengths):
                results[i] = ExampleNll(answer=_summed(row[p_len - 1 - first : length - 1 - first]),
                                        sequence=_summed(row[: length - 1]) if whole_sequence else None)
    finally:
        model.train(was_training)
    return results


def _summed(nll: torch.Tensor) -> TokenNll:
    return TokenNll(nll=float(nll.sum()), tokens=nll.numel())


def mean_loss(scores: list[TokenNll]) -> float:
    """Token-weighted mean NLL (log perplexity), not a mean of per-example means."""
    tokens = sum(s.tokens for s in scores)
    return sum(s.nll for s in scores) / max(tokens, 1)
