"""Evaluate stage: base vs tuned on the same held-out prompts, with paired bootstrap CIs.

Per-example scores are kept for both models so every difference gets a confidence interval and
any `meta` column (category, difficulty) can break results down. The parts: `scorers` (which
metrics), `decoding` (which modes), `model_run` (one model's answers and timings), `record`
(the typed comparison), `verdict` (the policy), `objective` (a search trial's score).
"""

from __future__ import annotations

from pathlib import Path

from harness.data.records import Example
from harness.evaluate.model_run import ModelRun, run_model, time_pair
from harness.evaluate.record import compare_runs
from harness.evaluate.scorers import build_metrics, stop_rule
from harness.hardware import evaluation_dtype, this_machine
from harness.metrics import Family
from harness.results import Evaluation
from harness.spec import EvaluationSpec, PromptSpec


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
    if Family.LATENCY in spec.metrics:  # batch-1 timing is greedy's: it prices the model, not the decoding
        base.latency, tuned.latency = time_pair(model_dir, adapter_dir, examples, prompt, spec, dtype, stop_rule(spec, metrics))
    evaluation = compare_runs(base, tuned, examples, spec, first, dtype)
    for mode in others:
        evaluation.decodings[mode] = compare_runs(*both(mode, score_gold=False), examples, spec, mode, dtype)
    return evaluation
