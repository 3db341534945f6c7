"""harness.report.view: every record of the view model round-trips through JSON unchanged (report.json
is its dump), and every record the module defines is one the report really builds."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from pydantic import BaseModel

from harness.report import build_view, leaderboard, view
from harness.results import Leaderboard, LeaderboardRow
from tests.report_fixtures import comparison, demo_evaluation, demo_results, make_run_dir, suite_example, trial, typed

RECORDS = sorted((cls for _, cls in inspect.getmembers(view, inspect.isclass)
                  if issubclass(cls, view._View) and cls is not view._View), key=lambda cls: cls.__name__)


def _everything_results() -> dict:
    """A run with every section the view has: decodings, evaluation-only sets, refinements, a single-
    objective search with the spec's own trial, an optimism gap and importances."""
    results = demo_results()
    evaluation = results["evaluation"]
    evaluation["examples"] = [suite_example(i, *flags) for i, flags in enumerate([(True, True), (True, False), (False, False)])]
    for ex in evaluation["examples"]:  # one SQL error class per answer: a table of counts
        ex["base_scores"].update(outcome_wrong_result=1.0, outcome_correct=0.0)
        ex["tuned_scores"].update(outcome_wrong_result=0.0, outcome_correct=1.0)
    evaluation["metrics"]["execution_suite"] = comparison(0.30, 0.55, 0.15, 0.35)
    constrained = demo_evaluation()
    constrained["decoding"]["strategy"] = "constrained"
    evaluation["decodings"] = {"constrained": constrained}
    results["evaluation_sets"] = {"unseen": demo_evaluation()}
    trials = [trial(0, "complete", 1e-3, 16, [0.9]), trial(1, "complete", 2e-3, 8, [0.6])]
    trials[0]["spec_settings"] = True
    results["search"].update(objectives=["valid_loss"], directions=["minimize"], best_trial=1, best_values=[0.6], trials=trials,
                             pareto_front=None, counts={"complete": 2}, spec_settings_trial=0, param_importances={"lr": 0.8, "lora.r": 0.2})
    results["optimism_gap"] = {"objective": "valid_loss", "direction": "minimize", "validation": 0.6, "test_metric": "perplexity_answer",
                               "test": 0.7, "final_model_retrained": False}
    return results


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[type, list[BaseModel]]:
    """Every view record instance the report builds for a full run and a sweep, by type."""
    report = build_view(make_run_dir(tmp_path_factory.mktemp("everything"), _everything_results()))
    row = LeaderboardRow(name="a", source="tiny", run_dir=Path("runs/a"), parameters=1000,
                         metrics={"exact_match": typed(0.1, 0.2, 0.05, 0.15)}, tokens_per_s={"base": 10.0, "tuned": 12.0})
    board = leaderboard.build(Leaderboard(project="p", sweep_dir=Path("runs/p/sweep"), headline="exact_match",
                                          rows=[row, LeaderboardRow(name="b", source="x", error="OSError: gone")]))
    found: dict[type, list[BaseModel]] = {}

    def walk(value) -> None:
        if isinstance(value, BaseModel):
            found.setdefault(type(value), []).append(value)
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(report)
    walk(board)
    return found


@pytest.mark.parametrize("record", RECORDS, ids=lambda cls: cls.__name__)
def test_record_round_trips_through_json(record: type[BaseModel], built: dict[type, list[BaseModel]]):
    instances = built.get(record)
    assert instances, f"the report never builds a {record.__name__}"
    for instance in instances:
        assert record.model_validate_json(instance.model_dump_json()) == instance
        assert record.model_validate(instance.model_dump()) == instance


def test_records_are_frozen(built: dict[type, list[BaseModel]]):
    headline = built[view.Headline][0]
    with pytest.raises(ValueError, match="frozen"):
        headline.verdict = "something else"
