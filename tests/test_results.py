"""The results record: what an older or broken results.json does to `harness report` and `harness eval`."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.results import SCHEMA_VERSION


@pytest.mark.parametrize("command", ["report", "eval"])
def test_results_from_before_the_schema_version_fail_with_one_line(tmp_path, capsys, command):
    unversioned = {"project": "old", "status": "ok", "evaluation": {"n": 8, "metrics": {}}, "training": {"adapter_dir": "a"}}
    (tmp_path / "results.json").write_text(json.dumps(unversioned))
    assert main([command, str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    expected = (f"error: {tmp_path}/results.json: results schema version 1, this harness reads version {SCHEMA_VERSION}; "
                "re-run the spec (or use the harness version that wrote it) to get a report")
    assert err == [expected]


def test_a_results_file_with_a_wrong_field_names_the_field(tmp_path, capsys):
    (tmp_path / "results.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION, "project": "p"}))
    assert main(["report", str(tmp_path)]) == 2
    assert f"results.json: field 'run_dir': Field required (schema version {SCHEMA_VERSION})" in capsys.readouterr().err


def test_a_version_3_file_reads_its_benchmarks_as_evaluation_sets(tmp_path):
    from harness import results
    from tests.report_fixtures import demo_evaluation, demo_results

    old = {**demo_results(), "schema_version": 3, "benchmarks": {"unseen": demo_evaluation()}}
    (tmp_path / "results.json").write_text(json.dumps(old))
    record = results.load(tmp_path)
    assert record.schema_version == SCHEMA_VERSION == 5 and list(record.evaluation_sets) == ["unseen"]
    assert record.evaluation_sets["unseen"].n == 200
    assert "benchmarks" not in record.model_dump() and record.model_dump()["schema_version"] == SCHEMA_VERSION
    assert main(["report", str(tmp_path)]) == 0 and "## How far the gain travels" in (tmp_path / "report.md").read_text()


def test_a_version_4_eval_file_reads_its_benchmarks_as_evaluation_sets_and_a_version_4_run_is_unchanged(tmp_path):
    """Version 4 renamed the field in RunResults only; EvalResults followed in version 5."""
    from harness import results
    from tests.report_fixtures import demo_evaluation, demo_results

    old_eval = {"schema_version": 4, "project": "p", "adapter_dir": str(tmp_path / "adapter"),
                "evaluation": demo_evaluation(), "benchmarks": {"unseen": demo_evaluation()}}
    (tmp_path / "eval.json").write_text(json.dumps(old_eval))
    record = results.load_eval(tmp_path / "eval.json")
    assert record.schema_version == SCHEMA_VERSION and list(record.evaluation_sets) == ["unseen"]
    assert "benchmarks" not in record.model_dump()

    old_run = {**demo_results(), "schema_version": 4, "evaluation_sets": {"unseen": demo_evaluation()}}
    (tmp_path / "results.json").write_text(json.dumps(old_run))
    assert list(results.load(tmp_path).evaluation_sets) == ["unseen"]
