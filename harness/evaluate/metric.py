"""The one abstraction a metric implements: score one prediction against one example."""

from __future__ import annotations

import abc
from collections.abc import Callable
from enum import StrEnum

from harness.data.records import Example

# An answer's text -> whether generation may stop there (the metrics' `answer_is_final`).
AnswerIsFinal = Callable[[str], bool]


class Metric(abc.ABC):
    """Per-example scorer. Returns named scores in [0, 1] (or None where it does not apply).

    Scores are per example so the evaluator can bootstrap confidence intervals on base-vs-tuned
    differences and break results down by any `meta` column.
    """

    name: str

    @abc.abstractmethod
    def score(self, prediction: str, example: Example) -> dict[str, float | None]:
        """Scores for one model output; keys are stable metric names (e.g. "execution_match")."""

    def judged_by(self, example: Example) -> StrEnum | None:
        """How this metric reached its verdict on `example` (e.g. which databases it ran on), for
        the report to count per set; None when it judges every example the same way."""
        return None

    def answer_is_final(self, prediction: str) -> bool:
        """True once no continuation of `prediction` can change its scores: generation may stop there.
        False (never stop early) unless a metric knows where its answers end."""
        return False


def judged_by(metrics: list[Metric], example: Example) -> StrEnum | None:
    """How the metrics reached their verdict on `example`: the first metric that says."""
    return next((basis for metric in metrics if (basis := metric.judged_by(example)) is not None), None)
