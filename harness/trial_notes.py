"""What a search trial records beside its parameters and values, as one typed record.

Optuna keeps such notes as free-form user attributes (string keys, JSON values) in its storage,
where other workers and later runs read them back. `TrialNotes` is the only place their names
and types are spelled: search.py writes a trial's notes with `as_attrs` and reads any stored
trial's with `from_attrs`, so a key cannot be misspelt on one side only. A leaf module: it knows
neither Optuna nor the rest of the harness.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class TrialNotes:
    worker: str | None = None  # "host:pid" of the process that ran it (orphan recovery reads it)
    spec_settings: bool = False  # it runs the spec's own train values: the baseline the search must beat
    steps: int | None = None  # optimizer steps actually run (fewer than planned when pruned)
    planned_steps: int | None = None
    train_seconds: float | None = None
    train_tokens: int | None = None
    valid_loss: float | None = None  # the last held-out loss training computed
    adapter_dir: str | None = None  # where its adapter was saved (only kept for the best trials)
    fail_reason: str | None = None

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> TrialNotes:
        """The notes stored as user attributes; keys this record does not know are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in attrs.items() if key in known})

    def as_attrs(self) -> dict[str, Any]:
        """The notes that differ from the defaults, keyed as Optuna stores them."""
        defaults = TrialNotes()
        return {key: value for key, value in asdict(self).items() if value != getattr(defaults, key)}
