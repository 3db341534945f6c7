"""search.parallel and resumed studies: per-trial sampler seeds, the journal storage, an exact
budget with several workers, and the worker processes' logs and failures."""

from __future__ import annotations

import logging
import threading
import time

import optuna
import pytest
from optuna.trial import TrialState

from harness import parallel, progress, search
from harness.errors import UserError
from harness.hardware import Machine, check_search_parallel
from harness.pipeline import search_only
from harness.search import BudgetMet, open_study, storage_url, study_name
from harness.spec import ComputeSpec, parse_spec
from harness.trial_notes import TrialNotes
from tests import parallel_targets
from tests.conftest import tiny_spec_dict


def _spec_dict(**search_settings) -> dict:
    """A continuous space: two trials can only share parameters if they share a sampler seed."""
    spec = tiny_spec_dict(**{"train.max_steps": 2})
    spec["search"] = {
        "trials": 6,
        "pruner": "none",
        "space": {"lr": {"type": "float", "low": 1e-4, "high": 5e-2, "log": True},
                  "lora.dropout": {"type": "float", "low": 0.0, "high": 0.3}},
        **search_settings,
    }
    return spec


def _draw(study: optuna.Study, n: int) -> list[tuple]:
    """What `n` trials sample, told a value each as a finished trial would be."""
    drawn = []
    for _ in range(n):
        trial = study.ask()
        params = (trial.suggest_float("lr", 1e-4, 5e-2, log=True), trial.suggest_float("lora.dropout", 0.0, 0.3))
        study.tell(trial, params[0])
        drawn.append(params)
    return drawn


# ---------------------------------------------------------------- sampling: no training


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_a_resumed_study_samples_no_parameters_twice(tmp_path, sampler):
    """Regression (issue 25): every process seeded its sampler alike, so a resumed run replayed trial 0's draws."""
    spec = parse_spec(_spec_dict(sampler=sampler))
    first = _draw(open_study(spec, tmp_path), 3)
    resumed = _draw(open_study(spec, tmp_path), 3)  # what a new process opening the same study samples
    assert len(set(first + resumed)) == 6, first + resumed


def test_two_workers_on_one_study_never_draw_the_same_parameters(tmp_path):
    spec = parse_spec(_spec_dict())
    one, two = open_study(spec, tmp_path), open_study(spec, tmp_path)
    drawn = [params for _ in range(3) for study in (one, two) for params in _draw(study, 1)]
    assert len(set(drawn)) == 6, drawn


def test_the_same_seed_gives_the_same_study_and_another_seed_another(tmp_path):
    spec = parse_spec(_spec_dict(seed=7))
    first = _draw(open_study(spec, tmp_path / "a"), 4)
    assert _draw(open_study(spec, tmp_path / "b"), 4) == first
    assert _draw(open_study(parse_spec(_spec_dict(seed=8)), tmp_path / "c"), 4) != first


# ---------------------------------------------------------------- storage


def test_a_new_search_area_keeps_its_study_in_a_journal_file(tmp_path):
    spec = parse_spec(_spec_dict())
    _draw(open_study(spec, tmp_path), 1)
    assert storage_url(spec, tmp_path) == str((tmp_path / search.JOURNAL).resolve())
    assert (tmp_path / search.JOURNAL).stat().st_size > 0 and not (tmp_path / "optuna.db").exists()


def test_a_study_in_an_older_areas_optuna_db_still_resumes(tmp_path):
    spec = parse_spec(_spec_dict())
    old = optuna.create_study(study_name=study_name(spec), storage=f"sqlite:///{tmp_path / 'optuna.db'}", directions=["minimize"])
    old.add_trial(optuna.trial.create_trial(params={"lr": 1e-3}, distributions={"lr": optuna.distributions.FloatDistribution(1e-4, 5e-2, log=True)},
                                            value=0.5))
    study = open_study(spec, tmp_path)
    assert [(t.number, t.params, t.value) for t in study.trials] == [(0, {"lr": 1e-3}, 0.5)]
    assert not (tmp_path / search.JOURNAL).exists()


def test_parallel_does_not_change_the_study(tmp_path):
    """Existing studies resume whatever search.parallel says: it is not part of the study's name."""
    assert study_name(parse_spec(_spec_dict(parallel=2))) == study_name(parse_spec(_spec_dict()))


# ---------------------------------------------------------------- the budget with several workers


def test_of_two_trials_started_together_for_the_last_place_only_the_first_trains(tmp_path):
    spec = parse_spec(_spec_dict(trials=3))
    study = open_study(spec, tmp_path)
    _draw(study, 2)
    first, second = study.ask(), study.ask()  # two workers found one place left at the same moment
    run = search._guarded(lambda trial: 0.5, budget=3)
    with pytest.raises(BudgetMet):
        run(second)
    assert run(first) == 0.5
    notes = TrialNotes.from_attrs(study.trials[second.number].user_attrs)
    assert notes.fail_reason.startswith("not run: trials started before it already fill the budget")


def test_a_trial_interrupted_by_ctrl_c_is_queued_again(tmp_path):
    study = open_study(parse_spec(_spec_dict()), tmp_path)
    trial = study.ask()
    trial.suggest_float("lr", 1e-4, 5e-2, log=True)

    def interrupted(trial):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        search._guarded(interrupted, budget=None)(trial)
    retry = study.get_trials(states=(TrialState.WAITING,))
    assert [(t.params, t.system_attrs["failed_trial"]) for t in retry] == [(trial.params, trial.number)]


def test_a_worker_waits_for_a_running_trial_that_may_still_fail(tmp_path, monkeypatch):
    monkeypatch.setattr(search, "_POLL_S", 0.05)
    spec = parse_spec(_spec_dict(trials=3))
    study, storage = search._open_study(spec, tmp_path)
    _draw(study, 2)
    running = study.ask()  # another worker's last trial
    threading.Timer(0.5, lambda: study.tell(running, state=TrialState.FAIL)).start()
    started = time.monotonic()
    assert search._room_for_a_trial(study, storage, budget=3, deadline=None)  # its place is free again
    assert time.monotonic() - started >= 0.4
    study.tell(study.ask(), 0.1)
    assert not search._room_for_a_trial(study, storage, budget=3, deadline=None)


# ---------------------------------------------------------------- worker processes: no training


def _shares(n: int) -> list[parallel.Share]:
    return [parallel.Share(env={"WORKER": str(i)}, cores=None, description=f"test {i}") for i in range(1, n + 1)]


class _Notes(progress.Listener):
    def __init__(self):
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        self.notes.append(text)


def test_workers_log_records_and_notes_reach_the_parent_with_their_number(tmp_path, caplog):
    listener = _Notes()
    previous = progress.install(listener)
    try:
        parallel.run(parallel_targets.log_and_note, (), _shares(2), tmp_path, tick=lambda: None)
    finally:
        progress.install(previous)
    relayed = sorted(r.getMessage() for r in caplog.records if r.name == "harness" and r.levelno == logging.WARNING)
    assert relayed == ["[worker 1] hello from 1", "[worker 2] hello from 2"]
    assert sorted(listener.notes) == ["worker 1: note from 1", "worker 2: note from 2"]


def test_a_failing_worker_stops_the_others_and_its_cause_is_one_line(tmp_path):
    started = time.monotonic()
    with pytest.raises(UserError, match=r"^search worker 2 \(test 2\): search: the second worker cannot go on$"):
        parallel.run(parallel_targets.second_fails, (), _shares(2), tmp_path, tick=lambda: None)
    assert time.monotonic() - started < 60  # the sleeping worker was interrupted, not waited for


def test_a_worker_killed_by_a_signal_is_named_with_the_signal(tmp_path):
    with pytest.raises(parallel.WorkerFailed, match=r"search worker 1 \(test 1\) was killed by SIGKILL \(out of memory\?\)"):
        parallel.run(parallel_targets.killed, (), _shares(1), tmp_path, tick=lambda: None)


def test_each_worker_gets_its_own_gpu_or_an_equal_share_of_the_cores():
    gpus = parallel.shares(2, ["3", "5", "6"], [0, 1])
    assert [(s.env, s.cores) for s in gpus] == [({"CUDA_VISIBLE_DEVICES": "3"}, None), ({"CUDA_VISIBLE_DEVICES": "5"}, None)]
    cpus = parallel.shares(2, [], [0, 1, 2, 3, 4])
    assert [(s.env, s.cores) for s in cpus] == [({"OMP_NUM_THREADS": "2"}, {0, 1}), ({"OMP_NUM_THREADS": "2"}, {2, 3})]


def test_validate_refuses_more_workers_than_gpus_or_cores(monkeypatch):
    monkeypatch.setattr("harness.hardware.cpu_cores", lambda: [0, 1])
    gpu = Machine(cuda=True, cuda_bf16=True, cpu_flags=frozenset(), gpus=2)
    cpu = Machine(cuda=False, cuda_bf16=False, cpu_flags=frozenset())
    search_spec = parse_spec(_spec_dict(parallel=3)).search
    with pytest.raises(UserError, match=r"^search.parallel: 3 workers but this machine has 2 GPU\(s\)"):
        check_search_parallel(search_spec, ComputeSpec(), gpu)
    with pytest.raises(UserError, match=r"^search.parallel: 3 workers but this process may use 2 CPU core\(s\)"):
        check_search_parallel(search_spec, ComputeSpec(), cpu)
    two = parse_spec(_spec_dict(parallel=2)).search
    check_search_parallel(two, ComputeSpec(), gpu)
    check_search_parallel(two, ComputeSpec(), cpu)
    with pytest.raises(UserError, match=r"compute.processes \(2\) must be 1 or auto"):
        check_search_parallel(two, ComputeSpec(processes=2), gpu)
    with pytest.raises(UserError, match=r"search\.parallel"):
        parse_spec(_spec_dict(parallel=0))


# ---------------------------------------------------------------- real trainings


@pytest.mark.train
def test_six_trials_with_parallel_2_on_the_journal_finish_exactly_with_no_duplicate(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    spec_dict = _spec_dict(trials=6, parallel=2)
    spec = parse_spec(spec_dict)
    result = search_only(spec, tmp_path)
    assert result.storage.endswith(search.JOURNAL)
    assert result.counts["complete"] == 6  # not one more: the budget holds with two workers
    assert set(result.counts) <= {"complete", "fail"}  # nothing left running or waiting
    surplus = [t for t in result.trials if t.state == "fail"]
    assert all(t.fail_reason.startswith("not run:") and not t.params for t in surplus), surplus
    params = [tuple(sorted(t.params.items())) for t in result.trials if t.params]
    assert len(params) == len(set(params)) == 6, params
    assert [t.number for t in result.trials] == list(range(len(result.trials)))
    relayed = {r.getMessage().split("]")[0] for r in caplog.records if r.getMessage().startswith("[worker ")}
    assert relayed == {"[worker 1", "[worker 2"}


@pytest.mark.train
def test_a_resumed_search_samples_no_parameters_twice(tmp_path):
    first = search_only(parse_spec(_spec_dict(trials=2, sampler="random")), tmp_path)
    again = search_only(parse_spec(_spec_dict(trials=4, sampler="random")), tmp_path)
    assert again.trials[:2] == first.trials
    params = [tuple(sorted(t.params.items())) for t in again.trials]
    assert len(set(params)) == 4, params
