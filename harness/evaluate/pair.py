"""Evaluate stage: base vs tuned on the same held-out prompts, with paired bootstrap CIs.

Per-example scores are kept for both models so every difference gets a confidence interval and
any `meta` column (category, difficulty) can break results down.
"""

from __future__ import annotations

import gc
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness import metrics as registry
from harness.data.prompts import render_prompt
from harness.data.records import Example
from harness.errors import UserError
from harness.evaluate.constraints import Constraint
from harness.evaluate.generation import (
    AnswerIsFinal,
    compile_grammars,
    generate,
    load_model,
    measure_latency,
    measure_latency_pair,
)
from harness.evaluate.metric import Metric, judged_by
from harness.evaluate.sql import SqlMetric
from harness.evaluate.sql.grammar import SqlSchemaConstraint
from harness.evaluate.stats import CONFIDENCE, bootstrap, comparison, distribution, holm, perplexity
from harness.hardware import evaluation_dtype, this_machine
from harness.models import cache_root
from harness.results import (
    BreakdownGroup,
    Comparison,
    Decoding,
    Evaluation,
    ExampleRow,
    ExecutionBasis,
    Latency,
    QueryTiming,
    Throughput,
    Verdict,
    mean_present,
)
from harness.scoring import score_answers
from harness.spec import EvaluationSpec, PromptSpec

log = logging.getLogger("harness")


class ExactText(Metric):
    """Task-agnostic exact match: the answer string, whitespace-trimmed."""

    name = "exact_text"

    def score(self, prediction: str, example: Example) -> dict[str, float | None]:
        return {"exact_text": float(prediction.strip() == example.answer.strip())}


# A decoding mode's constraint; greedy has none. SQL's is the only one so far.
CONSTRAINTS: dict[str, Constraint] = {"constrained": SqlSchemaConstraint()}


def build_metrics(names: list[str]) -> list[Metric]:
    """The scorers `evaluation.metrics` names; distilled SQL test suites are kept in the harness cache."""
    metrics: list[Metric] = []
    if "exact_text" in names:
        metrics.append(ExactText())
    if "sql" in names:
        metrics.append(SqlMetric(suite_cache=cache_root() / "sql-suites"))
    return metrics



def stop_rule(spec: EvaluationSpec, metrics: list[Metric]) -> AnswerIsFinal | None:
    """When an answer may stop before its stop token: once every metric's scores are fixed
    (`evaluation.stop_at_final_answer`); never without a metric that reads the answer."""
    if not (spec.stop_at_final_answer and metrics):
        return None
    return lambda text: all(metric.answer_is_final(text) for metric in metrics)


@dataclass
class ModelRun:
    """Everything measured for one model on the evaluation prompts."""

    outputs: list[str]
    output_tokens: list[int]
    cut_at_limit: int  # answers still running when max_new_tokens ended them
    scores: dict[str, list[float | None]]
    answer_nll: list[tuple[float, int]]
    sequence_nll: list[tuple[float, int]]
    batched_seconds: float
    batched_tokens_per_s: float
    latency: list[QueryTiming]
    judged_by: list[ExecutionBasis | None]


def run_model(
    model_dir: Path,
    adapter_dir: Path | None,
    examples: list[Example],
    prompt: PromptSpec,
    spec: EvaluationSpec,
    metrics: list[Metric],
    dtype: str = "float32",
    *,
    time_queries: bool = True,
    decoding: str = "greedy",
    score_gold: bool = True,
) -> ModelRun:
    """Generate, score and (unless `time_queries` is off) time one model on the evaluation prompts,
    decoding as `decoding` says; `score_gold` off skips perplexity (it does not depend on decoding)."""
    label = ("tuned" if adapter_dir else "base") + ("" if decoding == "greedy" else f", {decoding}")
    grammars = decoding_grammars(decoding, examples)
    model, tokenizer = load_model(model_dir, adapter_dir, dtype)
    inputs = [render_prompt(tokenizer, prompt, ex.prompt) for ex in examples]
    log.info("%s: generating %d answers (batch %d, %s, <= %d tokens)", label, len(inputs), spec.batch_size, decoding, spec.max_new_tokens)
    is_final = stop_rule(spec, metrics)
    gens = generate(model, tokenizer, inputs, max_new_tokens=spec.max_new_tokens, batch_size=spec.batch_size,
                    label=label, grammars=grammars, is_final=is_final)
    scores: dict[str, list[float | None]] = {}
    for output, ex in zip(gens.outputs, examples):
        for metric in metrics:
            for key, value in metric.score(output, ex).items():
                scores.setdefault(key, []).append(value)
    answer_nll = sequence_nll = []
    if score_gold and "perplexity" in spec.metrics:
        log.info("%s: scoring gold answers (perplexity)", label)
        answers = [ex.answer + tokenizer.eos_token for ex in examples]
        scored = score_answers(model, tokenizer, inputs, answers, batch_size=spec.batch_size)
        answer_nll = [(s.answer.nll, s.answer.tokens) for s in scored]
        sequence_nll = [(s.sequence.nll, s.sequence.tokens) for s in scored]
    latency = []
    if time_queries and "latency" in spec.metrics:
        log.info("%s: timing %d batch-1 queries", label, min(spec.latency_samples, len(inputs)))
        profile = measure_latency(model, tokenizer, inputs[: spec.latency_samples], max_new_tokens=spec.max_new_tokens,
                                  is_final=is_final)
        latency = profile.queries
    del model
    gc.collect()
    return ModelRun(
        outputs=gens.outputs,
        output_tokens=gens.output_tokens,
        cut_at_limit=sum(gens.cut),
        scores=scores,
        answer_nll=answer_nll,
        sequence_nll=sequence_nll,
        batched_seconds=gens.seconds,
        batched_tokens_per_s=gens.tokens_per_second,
        latency=latency,
        judged_by=[judged_by(metrics, ex) for ex in examples],
    )


def evaluate_pair(
    model_dir: Path,
    adapter_dir: Path,
    examples: list[Example],
    prompt: PromptSpec,
    spec: EvaluationSpec,
    dtype: str = "float32",
) -> Evaluation:
    """The base-vs-tuned comparison (the `evaluation` part of results.json)."""
    examples = spec.evaluated(examples)
    dtype = evaluation_dtype(dtype, this_machine())
    metrics = build_metrics(spec.metrics)
    first, *others = spec.decoding

    def both(mode: str, score_gold: bool) -> tuple[ModelRun, ModelRun]:
        options = {"time_queries": False, "decoding": mode, "score_gold": score_gold}
        return (run_model(model_dir, None, examples, prompt, spec, metrics, dtype, **options),
                run_model(model_dir, adapter_dir, examples, prompt, spec, metrics, dtype, **options))

    base, tuned = both(first, score_gold=True)
    if "latency" in spec.metrics:  # batch-1 timing is greedy's: it prices the model, not the decoding
        base.latency, tuned.latency = _time_pair(model_dir, adapter_dir, examples, prompt, spec, dtype, stop_rule(spec, metrics))
    evaluation = compare_runs(base, tuned, examples, spec, first, dtype)
    for mode in others:
        evaluation.decodings[mode] = compare_runs(*both(mode, score_gold=False), examples, spec, mode, dtype)
    return evaluation


def check_decodings(spec: EvaluationSpec, example_sets: list[list[Example]]) -> None:
    """Every example a run will decode under a constrained mode has what its grammar needs
    (e.g. a schema): checked before training, so a run cannot fail on it at the end."""
    for mode in spec.decoding:
        for examples in example_sets:
            decoding_grammars(mode, spec.evaluated(examples))


def decoding_grammars(mode: str, examples: list[Example]) -> list[str] | None:
    """Each example's grammar under `mode` (None for plain greedy), all built before generating."""
    constraint = CONSTRAINTS.get(mode)
    if constraint is None:
        return None
    lark = []
    for example in examples:
        try:
            lark.append(constraint.grammar(example))
        except ValueError as exc:
            raise UserError(f"evaluation.decoding '{mode}': example {example.id}: {exc}") from None
    return compile_grammars(lark)


def _time_pair(
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


def score_adapter(
    model_dir: Path, adapter_dir: Path, examples: list[Example], prompt: PromptSpec, spec: EvaluationSpec, dtype: str = "float32"
) -> dict[str, float]:
    """Tuned-model-only means on `examples` (e.g. the validation split), for search objectives."""
    examples = spec.evaluated(examples)
    tuned = run_model(model_dir, adapter_dir, examples, prompt, spec, build_metrics(spec.metrics),
                      evaluation_dtype(dtype, this_machine()), decoding=spec.decoding[0])
    means = {key: mean_present(values) for key, values in tuned.scores.items()}
    out = {key: value for key, value in means.items() if value is not None}
    if tuned.answer_nll:
        out["perplexity_answer"] = float(perplexity(np.array(tuned.answer_nll, dtype=float)))
    if tuned.latency:
        out["latency_ms"] = 1000 * float(np.mean([q.total_s for q in tuned.latency]))
    return out


def compare_runs(base: ModelRun, tuned: ModelRun, examples: list[Example], spec: EvaluationSpec,
                 decoding: str = "greedy", dtype: str = "float32") -> Evaluation:
    boot = {"n_resamples": spec.bootstrap_resamples, "seed": 0}
    boots = {key: bootstrap(base.scores[key], tuned.scores[key], **boot) for key in base.scores}
    boots["output_tokens"] = bootstrap(base.output_tokens, tuned.output_tokens, **boot)
    if base.answer_nll:
        for key, attr in (("perplexity_answer", "answer_nll"), ("perplexity_sequence", "sequence_nll")):
            boots[key] = bootstrap(getattr(base, attr), getattr(tuned, attr), statistic=perplexity, **boot)
    if base.latency:
        base_series, tuned_series = _timing_series(base.latency), _timing_series(tuned.latency)
        for key in base_series:
            boots[f"latency_{key}"] = bootstrap(base_series[key], tuned_series[key], **boot)
    metrics = {key: comparison(b, CONFIDENCE, spec.bootstrap_resamples) for key, b in boots.items()}
    for key, interval in holm({key: boots[key] for key in registry.accuracy_family(boots)}, CONFIDENCE).items():
        metrics[key].adjusted = interval
    return Evaluation(
        n=len(examples),
        decoding=Decoding(strategy=decoding, max_new_tokens=spec.max_new_tokens, batch_size=spec.batch_size,
                          stops_at_final_answer=spec.stop_at_final_answer, dtype=dtype),
        metrics=metrics,
        verdict=verdict(metrics, CONFIDENCE),
        throughput={
            name: Throughput(seconds=run.batched_seconds, tokens_per_s=run.batched_tokens_per_s, tokens=sum(run.output_tokens),
                             cut_at_limit=run.cut_at_limit)
            for name, run in (("base", base), ("tuned", tuned))
        },
        latency={
            name: Latency(
                queries=run.latency,
                **{key: distribution(values) for key, values in _timing_series(run.latency).items()},
                batch1_tokens_per_s=sum(q.output_tokens for q in run.latency) / max(sum(q.total_s for q in run.latency), 1e-9),
            )
            for name, run in (("base", base), ("tuned", tuned))
            if run.latency
        },
        breakdown=_breakdown(base, tuned, examples, spec.breakdown),
        judged_by=dict(Counter(basis for basis in base.judged_by if basis is not None)),
        examples=[
            ExampleRow(
                id=ex.id,
                prompt=ex.prompt,
                gold=ex.answer,
                base=b_out,
                tuned=t_out,
                meta={k: ex.meta[k] for k in spec.breakdown if k in ex.meta},
                base_scores={k: v[i] for k, v in base.scores.items()},
                tuned_scores={k: v[i] for k, v in tuned.scores.items()},
                judged_by=base.judged_by[i],
            )
            for i, (ex, b_out, t_out) in enumerate(zip(examples, base.outputs, tuned.outputs))
        ],
    )


def _timing_series(queries: list[QueryTiming]) -> dict[str, list[float | None]]:
    """Each batch-1 timing across the queries, by its `Latency` field name."""
    return {
        "total_s": [q.total_s for q in queries],
        "ttft_s": [q.ttft_s for q in queries],
        "tpot_s": [q.tpot_s for q in queries],
    }


def verdict(metrics: dict[str, Comparison], confidence: float) -> Verdict:
    """Three-way, after Holm over the accuracy family, anchored on the headline metric: "better"
    needs the headline itself to improve significantly with no member significantly worse (a higher
    parse rate while execution accuracy stays put is not a better model); "worse" when the headline
    is significantly worse, or when it did not move and members only got worse; else inconclusive."""
    family = [key for key in registry.accuracy_family(metrics) if metrics[key].adjusted]
    moved = {key: metrics[key] for key in family if metrics[key].adjusted.significant}
    better = [key for key, c in moved.items() if (c.diff > 0) == (registry.METRICS[key].better == registry.Better.HIGHER)]
    worse = [key for key in moved if key not in better]
    headline = registry.headline(family)
    if headline in better:
        outcome = "inconclusive" if worse else "better"
    elif headline in worse or (worse and not better):
        outcome = "worse"
    else:
        outcome = "inconclusive"
    return Verdict(outcome=outcome, headline=headline, family=family, better=better, worse=worse, confidence=confidence)


def _breakdown(base: ModelRun, tuned: ModelRun, examples: list[Example], columns: list[str]) -> dict[str, dict[str, BreakdownGroup]]:
    """Mean of each score per value of each meta column (e.g. per category), base and tuned."""
    out: dict[str, dict] = {}
    for column in columns:
        values = sorted({str(ex.meta[column]) for ex in examples if column in ex.meta})
        if not values:
            continue
        out[column] = {}
        for value in values:
            idx = [i for i, ex in enumerate(examples) if str(ex.meta.get(column)) == value]
            out[column][value] = BreakdownGroup(
                n=len(idx),
                **{
                    side: {key: mean_present([scores[i] for i in idx]) for key, scores in run.scores.items()}
                    for side, run in (("base", base), ("tuned", tuned))
                },
            )
    return out

