"""The records that flow from the data stage to training and evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Example:
    """One prompt/answer pair.

    `prompt` is the user turn (e.g. schema + question), `answer` the gold completion (e.g. SQL).
    `meta` keeps every other column of the source row (db_path, category, difficulty, ...), so
    metrics can find what they need without the data stage knowing about them.
    """

    id: str
    prompt: str
    answer: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Splits:
    train: list[Example]
    valid: list[Example]
    test: list[Example]
    # Named sets scored like `test` and never trained, validated or searched on (the hold-out).
    evaluation_only: dict[str, list[Example]] = field(default_factory=dict)
