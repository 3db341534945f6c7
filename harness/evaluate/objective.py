"""A trial's search objective measured on the validation split: the tuned model alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.data.records import Example
from harness.evaluate.model_run import run_model
from harness.evaluate.scorers import build_metrics
from harness.evaluate.stats import perplexity
from harness.hardware import evaluation_dtype, this_machine
from harness.results import mean_present
from harness.spec import EvaluationSpec, PromptSpec


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
