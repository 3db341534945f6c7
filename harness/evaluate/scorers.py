"""The scorers `evaluation.metrics` names, and when their answers may stop early.

One entry per answer-scoring family in `FAMILIES`; perplexity and latency are measured by the
evaluation itself, not scored from answer text. Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.evaluate.exact_text import ExactText
from harness.evaluate.metric import AnswerIsFinal, Metric
from harness.evaluate.sql import SqlMetric
from harness.models import cache_root
from harness.spec import EvaluationSpec

# family name -> its scorer; distilled SQL test suites are kept in the harness cache
FAMILIES: dict[str, Callable[[], Metric]] = {
    "exact_text": ExactText,
    "sql": lambda: SqlMetric(suite_cache=cache_root() / "sql-suites"),
}


def build_metrics(names: list[str]) -> list[Metric]:
    """The scorers of the families `names` lists, in `FAMILIES` order."""
    return [make() for family, make in FAMILIES.items() if family in names]


def stop_rule(spec: EvaluationSpec, metrics: list[Metric]) -> AnswerIsFinal | None:
    """When an answer may stop before its stop token: once every metric's scores are fixed
    (`evaluation.stop_at_final_answer`); never without a metric that reads the answer."""
    if not (spec.stop_at_final_answer and metrics):
        return None
    return lambda text: all(metric.answer_is_final(text) for metric in metrics)
