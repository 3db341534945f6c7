"""The metric families that judge an answer's text, each with its scorer, and when answers may stop early.

A family has a `FAMILIES` entry exactly when it scores answer text: `build_metrics`, the families
`harness score` accepts (`TEXT_FAMILIES`) and a vote among sampled answers all read it. The other
`evaluation.metrics` families (perplexity, latency) are measured on the model itself by the
evaluation. Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.evaluate.exact_text import ExactText
from harness.evaluate.scorer import AnswerIsFinal, Scorer
from harness.evaluate.sql import SqlMetric
from harness.metrics import Family
from harness.models import cache_root
from harness.spec import EvaluationSpec

# family -> its scorer, the family that carries the headline first (a vote groups answers by the
# first scorer's `answer_key`); distilled SQL test suites are kept in the harness cache
FAMILIES: dict[Family, Callable[[], Scorer]] = {
    Family.SQL: lambda: SqlMetric(suite_cache=cache_root() / "sql-suites"),
    Family.EXACT_TEXT: ExactText,
}
TEXT_FAMILIES = tuple(FAMILIES)


def build_metrics(names: list[str]) -> list[Scorer]:
    """The scorers of the families `names` lists, in `FAMILIES` order."""
    return [make() for family, make in FAMILIES.items() if family in names]


def stop_rule(spec: EvaluationSpec, scorers: list[Scorer]) -> AnswerIsFinal | None:
    """When an answer may stop before its stop token: once every scorer's scores are fixed
    (`evaluation.stop_at_final_answer`); never without a scorer that reads the answer."""
    if not (spec.stop_at_final_answer and scorers):
        return None
    return lambda text: all(scorer.answer_is_final(text) for scorer in scorers)
