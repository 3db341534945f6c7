"""The one abstraction a metric family implements: score one answer against one example.

A `Scorer` is the evaluate-side half of a family; `harness.metrics.Metric` declares the keys it
produces (label, unit, direction). `harness.evaluate.scorers.FAMILIES` lists the families that
have one: those are the families that judge an answer's text.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Hashable
from enum import StrEnum

from harness.data.records import Example

# An answer's text -> whether generation may stop there (the scorers' `answer_is_final`).
AnswerIsFinal = Callable[[str], bool]


class Scorer(abc.ABC):
    """Per-example scorer. Returns named scores in [0, 1] (or None where it does not apply).

    Scores are per example so the evaluator can bootstrap confidence intervals on base-vs-tuned
    differences and break results down by any `meta` column.
    """

    name: str

    @abc.abstractmethod
    def score(self, prediction: str, example: Example) -> dict[str, float | None]:
        """Scores for one model output; keys are stable metric names (e.g. "execution_match")."""

    def judged_by(self, example: Example) -> StrEnum | None:
        """How this scorer reached its verdict on `example` (e.g. which databases it ran on), for
        the report to count per set; None when it judges every example the same way."""
        return None

    def answer_is_final(self, prediction: str) -> bool:
        """True once no continuation of `prediction` can change its scores: generation may stop there.
        False (never stop early) unless a scorer knows where its answers end."""
        return False

    def answer_key(self, prediction: str, example: Example) -> Hashable | None:
        """What two answers to `example` share when they are the same answer, for a vote among
        candidates (None: this answer cannot count, e.g. SQL that does not run). By default the
        text with its whitespace runs made one space; a family that can tell more (SQL: the rows
        an answer returns) says so."""
        return normalized_text(prediction)


def normalized_text(prediction: str) -> str:
    """An answer's text with whitespace runs made one space and the ends trimmed."""
    return " ".join(prediction.split())


def answer_key(scorers: list[Scorer], prediction: str, example: Example) -> Hashable | None:
    """What a vote groups answers by: the first scorer's `answer_key` (the headline family comes
    first, `harness.evaluate.scorers.FAMILIES`), the normalised text where no scorer reads answers."""
    return scorers[0].answer_key(prediction, example) if scorers else normalized_text(prediction)


def judged_by(scorers: list[Scorer], example: Example) -> StrEnum | None:
    """How the scorers reached their verdict on `example`: the first scorer that says."""
    return next((basis for scorer in scorers if (basis := scorer.judged_by(example)) is not None), None)
