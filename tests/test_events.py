"""The training event channel: every event survives the JSON round trip a launched worker's relay
makes, subscribers hear events in order, and the first stop request wins."""

from __future__ import annotations

import pytest

from harness.events import (
    EventChannel,
    Logged,
    StepEnded,
    Stopping,
    TrainingEnded,
    TrainingStarted,
    Validated,
    from_json,
    to_json,
)

EVENTS = [
    TrainingStarted(planned_steps=30, processes=2),
    StepEnded(step=3, planned_steps=30, tokens_seen=3072, seconds=1.25),
    Logged(step=3, values={"loss": 2.5, "learning_rate": 1e-3, "grad_norm": 0.7}),
    Validated(step=10, loss=0.61, seconds=0.4, final=False),
    Stopping(step=10, reason="pruned at step 10"),
    TrainingEnded(steps=10, planned_steps=30, tokens_seen=10240, train_seconds=4.0, validation_seconds=0.4,
                  stopped_early=True, stop_reason="pruned at step 10"),
]


@pytest.mark.parametrize("event", EVENTS, ids=[type(e).__name__ for e in EVENTS])
def test_every_event_round_trips_through_json(event):
    again = from_json(to_json(event))
    assert type(again) is type(event) and again == event


def test_subscribers_hear_every_event_in_order_and_the_first_stop_reason_wins():
    channel, heard = EventChannel(), []
    channel.subscribe(lambda e: heard.append(("first", type(e).__name__)))
    channel.subscribe(lambda e: heard.append(("second", type(e).__name__)))
    for event in EVENTS[:2]:
        channel.emit(event)
    assert heard == [("first", "TrainingStarted"), ("second", "TrainingStarted"),
                     ("first", "StepEnded"), ("second", "StepEnded")]
    channel.request_stop("pruned at step 10")
    channel.request_stop("a later reason")
    assert channel.stop_reason == "pruned at step 10"
