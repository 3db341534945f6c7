"""The one channel out of a training: typed events, as litgpt's `fabric.log_dict` is for its loops.

A training emits what happens (a step ended, validation loss measured, the trainer logged, it
ended) and never formats a line or reaches into a caller. Whoever cares subscribes: the console's
progress, the search's pruner, a launcher relaying a worker's events to the harness process, an
experiment tracker. A subscriber that wants the training to stop says so with `request_stop`;
the training looks at `stop_reason` after each validation and stops on every process alike.
Events are plain records that survive a round trip through JSON (`to_json` / `from_json`), so
the same types cross a process boundary unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

log = logging.getLogger("harness")


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrainingStarted(_Event):
    kind: Literal["started"] = "started"
    planned_steps: int
    processes: int  # worker processes across all machines


class StepEnded(_Event):
    """An optimizer step; `seconds` since training began, validation time excluded."""

    kind: Literal["step"] = "step"
    step: int
    planned_steps: int
    tokens_seen: int  # over all processes
    seconds: float


class Logged(_Event):
    """One of the trainer's log records (loss, learning rate, grad norm ... as the trainer names them)."""

    kind: Literal["logged"] = "logged"
    step: int
    values: dict[str, float]


class Validated(_Event):
    """Validation loss (token-weighted answer NLL on the held-out examples) after `step`."""

    kind: Literal["validated"] = "validated"
    step: int
    loss: float
    seconds: float  # time this validation took
    final: bool = False  # after the last step: a result, no longer a reason to stop


class Stopping(_Event):
    """Every rank agreed to stop after `step` at a subscriber's request (e.g. a pruner), before the planned end."""

    kind: Literal["stopping"] = "stopping"
    step: int
    reason: str


class TrainingEnded(_Event):
    kind: Literal["ended"] = "ended"
    steps: int
    planned_steps: int
    tokens_seen: int
    train_seconds: float
    validation_seconds: float
    stopped_early: bool
    stop_reason: str | None = None


TrainingEvent = Annotated[TrainingStarted | StepEnded | Logged | Validated | Stopping | TrainingEnded, Field(discriminator="kind")]
_EVENT = TypeAdapter(TrainingEvent)
Subscriber = Callable[[Any], None]  # receives every TrainingEvent


def to_json(event: _Event) -> str:
    return event.model_dump_json()


def from_json(line: str | bytes) -> _Event:
    return _EVENT.validate_json(line)


class EventSink(Protocol):
    """What a training emits into: an `EventChannel` in-process, a launcher's relay in a worker."""

    stop_reason: str | None

    def emit(self, event: _Event) -> None: ...


class Silent:
    """The sink of a worker rank that does not report (all but rank 0): it learns of stops from rank 0."""

    stop_reason: str | None = None

    def emit(self, event: _Event) -> None:
        pass


class EventChannel:
    """Delivers each event to every subscriber in subscription order, and carries stop requests
    back to the training."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self.stop_reason: str | None = None

    def subscribe(self, subscriber: Subscriber) -> Subscriber:
        self._subscribers.append(subscriber)
        return subscriber

    def emit(self, event: _Event) -> None:
        for subscriber in self._subscribers:
            subscriber(event)

    def request_stop(self, reason: str) -> None:
        """Ask the training to stop at its next chance (after the current validation); the first reason wins."""
        if self.stop_reason is None:
            self.stop_reason = reason
            log.info("training stop requested: %s", reason)
