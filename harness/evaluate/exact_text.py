"""exact_text: the task-agnostic answer metric, the answer string as written."""

from __future__ import annotations

from harness.data.records import Example
from harness.evaluate.scorer import Scorer


class ExactText(Scorer):
    """Task-agnostic exact match: the answer string, whitespace-trimmed."""

    name = "exact_text"

    def score(self, prediction: str, example: Example) -> dict[str, float | None]:
        return {"exact_text": float(prediction.strip() == example.answer.strip())}

    def answer_key(self, prediction: str, example: Example) -> str:
        return prediction.strip()  # the text `score` compares: answers alike here score alike
