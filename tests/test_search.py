"""Optuna search on the tiny model: real trainings, real journal-file and PostgreSQL storages."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from harness.errors import UserError
from harness.pipeline import run, search_only
from harness.report.content import search_view
from harness.results import load
from harness.runs import search_area
from harness.search import JOURNAL, apply_params, enqueue_spec_settings, open_study, params_at_edge, summarize_study
from harness.spec import CategoricalParam, FloatParam, IntParam, TrainSpec, parse_spec
from harness.trial_notes import TrialNotes
from tests.conftest import tiny_spec_dict, write_spec

HARNESS = [sys.executable, "-m", "harness.cli"]


def _spec_dict(**search) -> dict:
    spec = tiny_spec_dict(**{"train.max_steps": 6})
    spec["search"] = {
        "trials": 4,
        "sampler": "random",
        "space": {"lr": {"type": "categorical", "choices": [1e-5, 3e-2]}, "lora.r": {"type": "categorical", "choices": [4, 8]}},
        **search,
    }
    return spec


def test_space_values_apply_to_nested_train_fields():
    spec = apply_params(TrainSpec(), {"lr": 0.02, "lora.r": 8, "lora.dropout": 0.1})
    assert (spec.lr, spec.lora.r, spec.lora.dropout) == (0.02, 8, 0.1)
    with pytest.raises(ValueError, match=r"lora\.r"):
        apply_params(TrainSpec(), {"lora.r": 0})


@pytest.mark.train
def test_pruning_stops_bad_trials_early(tmp_path):
    result = search_only(parse_spec(_spec_dict(trials=5)), tmp_path)
    pruned = [t for t in result.trials if t.state == "pruned"]
    assert pruned, result.trials
    assert all(t.steps < t.planned_steps for t in pruned)
    assert result.steps_saved_by_pruning == sum(t.planned_steps - t.steps for t in pruned) > 0
    assert result.counts["complete"] + result.counts["pruned"] == 5
    assert all(t.intermediate_values for t in result.trials)


@pytest.mark.train
def test_failing_trial_is_recorded_and_the_study_goes_on(tmp_path):
    space = {"lora.target_modules": {"type": "categorical", "choices": ["all-linear", "no_such_proj"]}}
    result = search_only(parse_spec(_spec_dict(trials=2, space=space, pruner="none")), tmp_path)
    failed = [t for t in result.trials if t.state == "fail"]
    assert failed and all("no_such_proj" in t.fail_reason for t in failed)
    assert result.counts["complete"] == 2
    assert result.best_params == {"lora.target_modules": "all-linear"}


@pytest.mark.train
def test_resume_after_sigkill_mid_trial_requeues_the_trial(tmp_path):
    spec_dict = _spec_dict(trials=3, pruner="none", space={"lr": {"type": "float", "low": 1e-3, "high": 1e-2}})
    spec_dict["train"]["max_steps"] = 400  # long enough to be killed mid-trial
    path = write_spec(tmp_path / "s.yaml", spec_dict)
    worker = subprocess.Popen([*HARNESS, "search", str(path), "--runs-dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=Path(__file__).parents[1])
    spec = parse_spec(spec_dict)
    study = _wait_for(lambda: _running_trial(spec, tmp_path), timeout=120)
    time.sleep(3)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    killed = study.get_trials(states=(TrialState.RUNNING,))[0]

    spec_dict["train"]["max_steps"] = 4  # the resumed worker finishes quickly
    spec = parse_spec(spec_dict)
    spec.search.study_name = study.study_name  # same study although train.max_steps changed
    result = search_only(spec, tmp_path)
    trials = {t.number: t for t in result.trials}
    assert trials[killed.number].state == "fail"
    assert trials[killed.number].fail_reason == "worker process died mid-trial"
    retried = open_study(spec, search_area(tmp_path, spec.project))
    retry = [t for t in retried.trials if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE and retry[0].params == killed.params
    assert result.counts["complete"] == 3
    sampled = [t.params["lr"] for t in retried.trials if t.number != retry[0].number]
    assert len(sampled) == len(set(sampled)) == 3  # the resumed worker drew none of the killed one's values again


@pytest.mark.skipif(not os.environ.get("HARNESS_TEST_PG_URL"),
                    reason="needs PostgreSQL (apt-get install -y postgresql; then export HARNESS_TEST_PG_URL=$(bash .ci/start-postgres))")
@pytest.mark.train
def test_two_workers_share_one_postgres_study(tmp_path):
    url = os.environ["HARNESS_TEST_PG_URL"]
    spec_dict = _spec_dict(trials=4, pruner="none", study_name=f"shared-{uuid.uuid4().hex[:8]}")
    path = write_spec(tmp_path / "s.yaml", spec_dict)
    workers = [
        subprocess.Popen([*HARNESS, "worker", str(path), "--storage", url, "--runs-dir", str(tmp_path / f"w{i}")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=Path(__file__).parents[1])
        for i in range(2)
    ]
    for w in workers:
        assert w.wait(timeout=300) == 0, w.stderr.read().decode()[-2000:]
    study = optuna.load_study(study_name=spec_dict["search"]["study_name"], storage=url)
    finished = study.get_trials(states=(TrialState.COMPLETE,))
    numbers = [t.number for t in study.trials]
    assert len(numbers) == len(set(numbers)) and len(finished) >= 4
    pids = {TrialNotes.from_attrs(t.user_attrs).worker.split(":")[1] for t in finished}
    assert pids == {str(w.pid) for w in workers}  # both machines' workers really took trials


@pytest.mark.train
def test_best_params_are_retrained_on_the_full_budget(tmp_path):
    spec_dict = _spec_dict(trials=2, trial_train={"max_steps": 2})
    spec_dict["train"]["max_steps"] = 4
    results = load(run(parse_spec(spec_dict), tmp_path))
    search = results.search
    assert not search.reused_best_trial
    assert results.train_spec["lr"] == search.best_params["lr"]
    assert results.train_spec["lora"]["r"] == search.best_params["lora.r"]
    assert results.training.steps == 4 and len(search.trials) == 2
    assert all(t.planned_steps == 2 for t in search.trials)
    gap = results.optimism_gap  # valid_loss beside the same token-weighted loss on the test split
    assert (gap.objective, gap.test_metric, gap.direction) == ("valid_loss", "perplexity_answer", "minimize")
    assert gap.validation == search.best_values[0]
    assert gap.test == pytest.approx(math.log(results.evaluation.metrics["perplexity_answer"].tuned))
    assert gap.final_model_retrained and gap.final_validation == results.training.valid_losses[-1].loss
    assert gap.optimism == pytest.approx(gap.test - gap.validation)


@pytest.mark.train
def test_best_trial_adapter_is_reused_when_trials_had_the_full_budget(tmp_path):
    run_dir = run(parse_spec(_spec_dict(trials=2)), tmp_path)
    results = load(run_dir)
    search = results.search
    assert search.reused_best_trial
    assert results.training.adapter_dir == run_dir / "adapter"  # copied: the run stands alone
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
    assert "train" not in results.timings
    gap = results.optimism_gap
    assert gap.validation == search.best_values[0] and not gap.final_model_retrained and gap.final_validation is None
    area = search_area(tmp_path, "tiny")
    adapters = {t.number: (area / f"trial-{t.number:04d}" / "adapter").is_dir() for t in search.trials}
    assert adapters == {n: n == search.best_trial for n in adapters}  # only the best one is kept


@pytest.mark.train
def test_rerunning_the_same_spec_resumes_the_study(tmp_path):
    spec = parse_spec(_spec_dict(trials=2, pruner="none"))
    first = search_only(spec, tmp_path)
    again = search_only(parse_spec(_spec_dict(trials=3, pruner="none")), tmp_path)
    assert first.study_name == again.study_name
    assert [t.number for t in again.trials] == [0, 1, 2]
    assert again.trials[:2] == first.trials


def _running_trial(spec, runs_dir):
    path = search_area(runs_dir, spec.project) / JOURNAL
    if not path.exists():
        return None
    try:
        study = open_study(spec, search_area(runs_dir, spec.project))
    except Exception:
        return None
    return study if study.get_trials(states=(TrialState.RUNNING,)) else None


def _wait_for(check, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError("condition not met in time")


@pytest.mark.train
def test_metric_objective_on_the_validation_split_is_maximised(tmp_path):
    spec = parse_spec(_spec_dict(trials=2, pruner="none", objective="valid_sql"))
    result = search_only(spec, tmp_path)
    assert result.directions == ["maximize"]
    assert all(0.0 <= t.values[0] <= 1.0 for t in result.trials if t.state == "complete")


@pytest.mark.train
def test_perplexity_objective_is_minimised(tmp_path):
    """Regression: the direction used to come from the name's suffix, so perplexity was maximised."""
    space = {"lr": {"type": "float", "low": 1e-4, "high": 5e-2, "log": True}}
    spec_dict = _spec_dict(trials=3, pruner="none", objective="perplexity_answer", space=space)
    spec_dict["evaluation"]["metrics"] = ["perplexity"]
    result = search_only(parse_spec(spec_dict), tmp_path)
    values = {t.number: t.values[0] for t in result.trials if t.state == "complete"}
    assert len(set(values.values())) == 3, values  # three different perplexities to choose from
    assert result.directions == ["minimize"]
    assert values[result.best_trial] == min(values.values())


@pytest.mark.train
def test_objective_that_cannot_be_computed_stops_the_study_at_once(tmp_path):
    """execution_match needs databases; WikiSQL rows have none, so no trial can ever measure it."""
    spec = parse_spec(_spec_dict(trials=4, pruner="none", objective="execution_match"))
    with pytest.raises(UserError, match=r"objective 'execution_match' could not be computed .*stopped the study after trial 0"):
        search_only(spec, tmp_path)
    study = open_study(spec, search_area(tmp_path, spec.project))
    assert [t.state for t in study.trials] == [TrialState.FAIL]


@pytest.mark.train
def test_second_objective_gives_a_pareto_front(tmp_path):
    spec = parse_spec(_spec_dict(trials=3, second_objective="adapter_mb"))
    result = search_only(spec, tmp_path)
    assert result.directions == ["minimize", "minimize"] and result.pareto_front
    sizes = {t.params["lora.r"]: t.values[1] for t in result.trials if t.state == "complete"}
    assert set(sizes) == {4, 8}, sizes  # this seed samples both ranks
    assert sizes[8] > sizes[4]  # rank 8 stores twice the LoRA weights of rank 4


# ---------------------------------------------------------------- pruning that saves compute, the spec's own settings


def _asha_dict(pruner: str) -> dict:
    """lr 3e-2 learns, 1e-5 barely moves: the spec's own lr (3e-2, trial 0) beats every 1e-5 trial at
    the first rung (step 2), and ASHA with factor 2 lets only the best of the first two go on."""
    rungs = {"min_resource": 2, "reduction_factor": 2} if pruner == "asha" else {}
    spec = _spec_dict(trials=4, pruner=pruner, **rungs)
    spec["train"]["lr"] = 3e-2
    return spec


@pytest.mark.train
def test_asha_prunes_and_its_saving_is_the_pruned_trials_unrun_steps(tmp_path):
    result = search_only(parse_spec(_asha_dict("asha")), tmp_path)
    pruned = [t for t in result.trials if t.state == "pruned"]
    assert pruned, result.trials
    assert all(t.steps < t.planned_steps == 6 for t in pruned)
    assert result.steps_saved_by_pruning == sum(t.planned_steps - t.steps for t in pruned)
    assert result.steps_run == sum(t.steps for t in result.trials)
    assert result.tokens_run == sum(t.train_tokens for t in result.trials) > 0
    assert result.counts["complete"] + result.counts["pruned"] == 4
    assert result.pruner.startswith("asha (first rung at step 2, 1 in 2")
    first = result.trials[0]
    assert first.spec_settings and first.params == {"lr": 3e-2, "lora.r": 4} and result.spec_settings_trial == 0
    assert [t.number for t in result.trials if t.spec_settings] == [0]
    saved = f"Pruning saved {result.steps_saved_by_pruning} of {result.steps_run + result.steps_saved_by_pruning} planned steps"
    assert saved in search_view(result, None, {}).compute


@pytest.mark.train
def test_pruner_none_runs_every_trial_to_its_end(tmp_path):
    result = search_only(parse_spec(_asha_dict("none")), tmp_path)
    assert result.counts == {"complete": 4}
    assert result.steps_saved_by_pruning == 0 and result.steps_run == 4 * 6
    assert "no trial was pruned" in search_view(result, None, {}).compute


@pytest.mark.train
def test_resuming_does_not_queue_the_spec_settings_again(tmp_path):
    spec_dict = _spec_dict(trials=1, pruner="none")
    spec_dict["train"]["lr"] = 3e-2
    first = search_only(parse_spec(spec_dict), tmp_path)
    assert [t.params for t in first.trials] == [{"lr": 3e-2, "lora.r": 4}]
    spec_dict["search"]["trials"] = 3
    again = search_only(parse_spec(spec_dict), tmp_path)
    assert len(again.trials) == 3 and [t.number for t in again.trials if t.spec_settings] == [0]
    assert again.spec_settings_trial == 0


def test_spec_settings_outside_the_space_are_not_queued(tmp_path):
    spec = parse_spec(_spec_dict())  # train.lr 5e-3 is not one of the choices 1e-5, 3e-2
    study = open_study(spec, tmp_path)
    enqueue_spec_settings(study, spec)
    assert study.trials == []
    spec.train.lr = 3e-2
    enqueue_spec_settings(study, spec)
    enqueue_spec_settings(study, spec)  # a second worker, or a resumed run, finds it queued
    assert [(t.state, t.system_attrs["fixed_params"], t.user_attrs) for t in study.trials] == [
        (TrialState.WAITING, {"lr": 3e-2, "lora.r": 4}, {"spec_settings": True})
    ]


def _add_trials(study: optuna.Study, rows: list[tuple]) -> None:
    """Finished trials straight into the real storage: (state, lr, value, steps, planned, spec settings)."""
    lr = optuna.distributions.CategoricalDistribution([1e-5, 3e-2, 1e-3, 1e-4])
    r = optuna.distributions.CategoricalDistribution([4, 8])
    for state, rate, value, steps, planned, own in rows:
        notes = TrialNotes(steps=steps, planned_steps=planned, train_tokens=100 * steps, train_seconds=0.5 * steps,
                           spec_settings=own)
        study.add_trial(optuna.trial.create_trial(
            state=state, params={"lr": rate, "lora.r": 4}, distributions={"lr": lr, "lora.r": r},
            value=value, user_attrs=notes.as_attrs(),
            intermediate_values={steps: value if value is not None else 9.0}))


@pytest.mark.parametrize(("objective", "best", "sentence"), [
    ("valid_loss", 1, "Search improved validation loss from 0.7 (your settings, trial 0) to 0.4 (trial 1)."),
    ("valid_sql", 2, "Search improved valid sql (parses) from 70.0% (your settings, trial 0) to 90.0% (trial 2)."),
])
def test_the_best_trial_is_the_lowest_loss_or_the_highest_score(tmp_path, objective, best, sentence):
    spec = parse_spec(_spec_dict(objective=objective))
    study = open_study(spec, tmp_path)
    C = TrialState.COMPLETE
    _add_trials(study, [(C, 3e-2, 0.7, 6, 6, True), (C, 1e-5, 0.4, 6, 6, False), (C, 1e-3, 0.9, 6, 6, False), (C, 1e-4, 0.6, 6, 6, False)])
    result = summarize_study(study, spec, tmp_path)
    assert (result.study.best_trial, result.study.best_values) == (best, [[0.7, 0.4, 0.9, 0.6][best]])
    assert result.best_train_spec.lr == [3e-2, 1e-5, 1e-3, 1e-4][best]
    assert search_view(result.study, None, {}).spec_settings.sentence == sentence


@pytest.mark.parametrize(("objective", "values"), [("valid_loss", [0.4, 0.7]), ("valid_sql", [0.9, 0.6])])
def test_spec_settings_that_stay_best_are_not_called_improved(tmp_path, objective, values):
    spec = parse_spec(_spec_dict(objective=objective))
    study = open_study(spec, tmp_path)
    _add_trials(study, [(TrialState.COMPLETE, 3e-2, values[0], 6, 6, True), (TrialState.COMPLETE, 1e-5, values[1], 6, 6, False)])
    view = search_view(summarize_study(study, spec, tmp_path).study, None, {}).spec_settings
    assert view.improved is False and view.sentence.startswith("Search did not improve on your settings")


def test_compute_saved_counts_only_the_pruned_trials_unrun_steps(tmp_path):
    spec = parse_spec(_spec_dict())
    study = open_study(spec, tmp_path)
    C, P = TrialState.COMPLETE, TrialState.PRUNED
    # a complete trial that ended before its plan (its data ran out) saved nothing: pruning did not stop it
    _add_trials(study, [(C, 3e-2, 0.5, 8, 8, True), (P, 1e-5, 0.9, 2, 8, False), (P, 1e-4, 0.8, 4, 8, False), (C, 1e-3, 0.6, 6, 8, False)])
    record = summarize_study(study, spec, tmp_path).study
    assert (record.steps_run, record.steps_saved_by_pruning) == (8 + 2 + 4 + 6, 6 + 4)
    assert (record.tokens_run, record.train_seconds_run) == (100 * 20, 0.5 * 20)
    assert record.counts == {"complete": 2, "pruned": 2}
    compute = search_view(record, None, {}).compute
    assert "20 optimizer steps, 2,000 training tokens" in compute
    assert "Pruning saved 10 of 30 planned steps (33%)" in compute


def test_edge_warning_fires_at_the_edges_and_not_in_the_middle():
    space = {
        "lr": FloatParam(type="float", low=1e-4, high=1e-1, log=True),
        "dropout": FloatParam(type="float", low=0.0, high=0.5),
        "lora.r": CategoricalParam(type="categorical", choices=[8, 16, 32]),
        "lora.alpha": IntParam(type="int", low=8, high=64),
        "lora.target_modules": CategoricalParam(type="categorical", choices=["all-linear", "q_proj", "v_proj"]),
        "batch_size": CategoricalParam(type="categorical", choices=[2, 4]),
    }
    edges = params_at_edge({"lr": 1.5e-4, "dropout": 0.48, "lora.r": 32, "lora.alpha": 60, "lora.target_modules": "v_proj",
                            "batch_size": 4}, space)
    assert [(e.name, e.side) for e in edges] == [("lr", "low"), ("dropout", "high"), ("lora.r", "high"), ("lora.alpha", "high")]
    # 1e-3 is 0.9% of the linear range but a third of the log range: in the middle of what was searched
    middle = params_at_edge({"lr": 1e-3, "dropout": 0.25, "lora.r": 16, "lora.alpha": 36}, space)
    assert middle == []
    assert [e.side for e in params_at_edge({"lr": 9e-2, "lora.r": 8}, space)] == ["high", "low"]
