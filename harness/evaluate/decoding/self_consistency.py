"""self_consistency: several sampled answers per example, the one most of them agree with is kept.

Wang et al. (2022), as text-to-SQL decoders use it (DIN-SQL, DAIL-SQL): `evaluation.self_consistency`
says how many candidates are drawn and how (temperature, top-p, seed). Candidates are the same
answer when the answer family says so (`Scorer.answer_key`: for SQL, the same rows on the
example's databases; else the same text); the largest group wins, the earliest sampled on a tie,
and candidates that cannot count (SQL that does not run) lose to any that can. The kept answer is
then scored exactly like a greedy one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from typing import TYPE_CHECKING

from harness.evaluate.decoding.mode import AnswerKey, DecodingMode
from harness.results import Sampling, Vote

if TYPE_CHECKING:
    from harness.spec import EvaluationSpec


class SelfConsistency(DecodingMode):
    name = "self_consistency"
    votes = True

    def sampling(self, spec: EvaluationSpec) -> Sampling:
        return spec.self_consistency

    def choose(self, candidates: list[str], same_answer: AnswerKey) -> tuple[int, Vote]:
        return vote([same_answer(text) for text in candidates])


def vote(keys: list[Hashable | None]) -> tuple[int, Vote]:
    """The index of the first candidate of the largest group of equal keys (ties: the group whose
    first candidate came earliest; None keys form no group), and the vote's counts. Where no
    candidate counts, the first one is kept."""
    sizes = Counter(key for key in keys if key is not None)
    largest = max(sizes.values(), default=0)
    chosen = next((i for i, key in enumerate(keys) if key is not None and sizes[key] == largest), 0)
    uncounted = sum(key is None for key in keys)
    return chosen, Vote(samples=len(keys), groups=len(sizes), agreeing=largest, uncounted=uncounted)
