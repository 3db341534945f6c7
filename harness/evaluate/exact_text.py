"""exact_text: the task-agnostic answer metric, the answer string as written."""

from __future__ import annotations

from harness.data.records import Example
from harness.evaluate.metric import Metric


class ExactText(Metric):
    """Task-agnostic exact match: the answer string, whitespace-trimmed."""

    name = "exact_text"

    def score(self, prediction: str, example: Example) -> dict[str, float | None]:
        return {"exact_text": float(prediction.strip() == example.answer.strip())}
