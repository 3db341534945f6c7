"""Error taxonomy: the one class each SQL answer falls into, so a report can say WHY answers fail.

Classes, first that applies: no SQL found (nothing extracted, or text that does not start
like a SQL statement); correct (the `execution_suite` verdict); the first
execution error met, read from SQLite's message (does not parse / unknown table or column /
timeout or row cap / other runtime error); otherwise wrong result.
"""

from __future__ import annotations

from harness.evaluate.sandbox import QueryResult
from harness.evaluate.sql.extract import looks_like_sql

OUTCOMES = (
    "outcome_no_sql",
    "outcome_parse_error",
    "outcome_unknown_name",
    "outcome_runtime_error",
    "outcome_timeout",
    "outcome_wrong_result",
    "outcome_correct",
)
_PARSE_ERRORS = ("syntax error", "incomplete input", "unrecognized token")
_UNKNOWN_NAMES = ("no such table", "no such column")


def classify(pred: str, pred_results: list[QueryResult], correct: bool | None) -> str | None:
    """The outcome class of one answer; None when its correctness cannot be judged (no usable gold)."""
    if not looks_like_sql(pred):
        return "outcome_no_sql"
    if correct is None:
        return None
    if correct:
        return "outcome_correct"
    for result in pred_results:
        if result.timed_out or result.truncated:
            return "outcome_timeout"
        if result.error is not None:
            message = result.error.lower()
            if any(text in message for text in _PARSE_ERRORS):
                return "outcome_parse_error"
            if any(text in message for text in _UNKNOWN_NAMES):
                return "outcome_unknown_name"
            return "outcome_runtime_error"
    return "outcome_wrong_result"


def one_hot(outcome: str | None) -> dict[str, float | None]:
    """Share keys for one answer: exactly one 1.0, or all None when it cannot be classified."""
    return {key: None if outcome is None else float(key == outcome) for key in OUTCOMES}
