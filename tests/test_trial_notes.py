"""A trial's notes round-trip through Optuna's user attributes (harness.trial_notes)."""

from __future__ import annotations

import optuna

from harness.trial_notes import TrialNotes

NOTES = TrialNotes(worker="host:12", spec_settings=True, steps=3, planned_steps=8, train_seconds=1.5,
                   train_tokens=3072, valid_loss=0.25, adapter_dir="/runs/p/search/trial-0001/adapter", fail_reason=None)


def test_notes_round_trip_through_a_real_study_storage() -> None:
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    study.add_trial(optuna.trial.create_trial(value=1.0, user_attrs=NOTES.as_attrs()))
    assert TrialNotes.from_attrs(study.trials[0].user_attrs) == NOTES


def test_only_fields_that_differ_from_the_defaults_are_stored() -> None:
    assert TrialNotes().as_attrs() == {}
    assert TrialNotes(steps=0, spec_settings=False).as_attrs() == {"steps": 0}


def test_keys_written_by_someone_else_are_ignored() -> None:
    assert TrialNotes.from_attrs({"steps": 2, "note_from_a_newer_version": "x"}) == TrialNotes(steps=2)
