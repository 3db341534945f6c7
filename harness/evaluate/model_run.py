"""One model on the evaluation prompts: its answers, their scores, perplexity and batch-1 timing.

Answers are decoded as the decoding mode says (`harness.evaluate.decoding`): its grammar, its token
choice, its candidates per example (one prompt per candidate, all in one batched pass), and its
choice among them, grouped by the first scorer's `answer_key`; the kept answers are scored.
"""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from harness.data.prompts import render_prompt
from harness.data.records import Example
from harness.evaluate.decoding import MODES, decoding_grammars
from harness.evaluate.generation import generate, load_model, measure_latency, measure_latency_pair
from harness.evaluate.scorer import AnswerIsFinal, Scorer, answer_key, judged_by
from harness.evaluate.scorers import stop_rule
from harness.likelihood import example_nll
from harness.metrics import Family
from harness.results import ExecutionBasis, QueryTiming, Vote
from harness.spec import EvaluationSpec, PromptSpec

log = logging.getLogger("harness")


@dataclass
class ModelRun:
    """Everything measured for one model on the evaluation prompts."""

    outputs: list[str]  # the answer each example kept
    output_tokens: list[int]
    cut_at_limit: int  # kept answers still running when max_new_tokens ended them
    scores: dict[str, list[float | None]]
    answer_nll: list[tuple[float, int]]
    sequence_nll: list[tuple[float, int]]
    batched_seconds: float
    batched_tokens_per_s: float
    generated_tokens: int  # every candidate's, kept or not: what the batched pass cost
    latency: list[QueryTiming]
    judged_by: list[ExecutionBasis | None]
    votes: list[Vote | None]  # how each example's answer was chosen among its candidates (None: no vote)


def run_model(
    model_dir: Path,
    adapter_dir: Path | None,
    examples: list[Example],
    prompt: PromptSpec,
    spec: EvaluationSpec,
    scorers: list[Scorer],
    dtype: str = "float32",
    *,
    time_queries: bool = True,
    decoding: str = "greedy",
    score_gold: bool = True,
) -> ModelRun:
    """Generate, score and (unless `time_queries` is off) time one model on the evaluation prompts,
    decoding as `decoding` says; `score_gold` off skips perplexity (it does not depend on decoding)."""
    label = ("tuned" if adapter_dir else "base") + ("" if decoding == "greedy" else f", {decoding}")
    mode = MODES[decoding]
    n = mode.candidates(spec)
    grammars = decoding_grammars(decoding, examples)
    model, tokenizer = load_model(model_dir, adapter_dir, dtype)
    inputs = [render_prompt(tokenizer, prompt, ex.prompt) for ex in examples]
    log.info("%s: generating %d answers (batch %d, %s, <= %d tokens)", label, n * len(inputs), spec.batch_size, decoding,
             spec.max_new_tokens)
    is_final = stop_rule(spec, scorers)
    gens = generate(model, tokenizer, [text for text in inputs for _ in range(n)], max_new_tokens=spec.max_new_tokens,
                    batch_size=spec.batch_size, label=label, is_final=is_final, sampling=mode.sampling(spec),
                    grammars=None if grammars is None else [grammar for grammar in grammars for _ in range(n)])
    kept, votes = [], []  # example i's candidates are outputs i*n .. i*n + n-1
    for i, ex in enumerate(examples):
        chosen, vote = mode.choose(gens.outputs[i * n:(i + 1) * n], partial(answer_key, scorers, example=ex))
        kept.append(i * n + chosen)
        votes.append(vote)
    outputs = [gens.outputs[k] for k in kept]
    scores: dict[str, list[float | None]] = {}
    for output, ex in zip(outputs, examples):
        for scorer in scorers:
            for key, value in scorer.score(output, ex).items():
                scores.setdefault(key, []).append(value)
    answer_nll = sequence_nll = []
    if score_gold and Family.PERPLEXITY in spec.metrics:
        log.info("%s: scoring gold answers (perplexity)", label)
        answers = [ex.answer + tokenizer.eos_token for ex in examples]
        scored = example_nll(model, tokenizer, inputs, answers, batch_size=spec.batch_size)
        answer_nll = [(s.answer.nll, s.answer.tokens) for s in scored]
        sequence_nll = [(s.sequence.nll, s.sequence.tokens) for s in scored]
    latency = []
    if time_queries and Family.LATENCY in spec.metrics:
        log.info("%s: timing %d batch-1 queries", label, min(spec.latency_samples, len(inputs)))
        profile = measure_latency(model, tokenizer, inputs[: spec.latency_samples], max_new_tokens=spec.max_new_tokens,
                                  is_final=is_final)
        latency = profile.queries
    del model
    gc.collect()
    return ModelRun(
        outputs=outputs,
        output_tokens=[gens.output_tokens[k] for k in kept],
        cut_at_limit=sum(gens.cut[k] for k in kept),
        scores=scores,
        answer_nll=answer_nll,
        sequence_nll=sequence_nll,
        batched_seconds=gens.seconds,
        batched_tokens_per_s=gens.tokens_per_second,
        generated_tokens=sum(gens.output_tokens),
        latency=latency,
        judged_by=[judged_by(scorers, ex) for ex in examples],
        votes=votes,
    )


def time_pair(
    model_dir: Path, adapter_dir: Path, examples: list[Example], prompt: PromptSpec, spec: EvaluationSpec, dtype: str,
    is_final: AnswerIsFinal | None,
) -> tuple[list[QueryTiming], list[QueryTiming]]:
    model, tokenizer = load_model(model_dir, adapter_dir, dtype, merge=False)
    inputs = [render_prompt(tokenizer, prompt, ex.prompt) for ex in examples[: spec.latency_samples]]
    log.info("timing %d batch-1 queries, base and tuned alternating", len(inputs))
    profiles = measure_latency_pair(model, tokenizer, inputs, max_new_tokens=spec.max_new_tokens, is_final=is_final)
    del model
    gc.collect()
    return profiles[0].queries, profiles[1].queries
