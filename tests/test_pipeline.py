"""The CLI over the whole pipeline on the tiny model: run, then evaluate and report again."""

from __future__ import annotations

import json

from harness.cli import main
from tests.conftest import tiny_spec_dict, write_spec


def test_run_then_eval_and_report_from_the_run_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    spec_path = write_spec(tmp_path / "tiny.yaml", tiny_spec_dict())
    assert main(["run", str(spec_path)]) == 0
    (run_dir,) = (tmp_path / "runs" / "tiny").iterdir()
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "ok" and results["evaluation"]["n"] == 8
    assert {"spec.yaml", "results.json", "report.md", "report.html", "report.json", "adapter", "logs"} <= {p.name for p in run_dir.iterdir()}
    assert results["training"]["adapter_dir"] == str(run_dir / "adapter")

    monkeypatch.chdir(tmp_path.parent)  # eval works from anywhere: paths in results are absolute
    assert main(["eval", str(run_dir)]) == 0
    again = json.loads((run_dir / "eval.json").read_text())["evaluation"]
    assert again["metrics"]["exact_text"] == results["evaluation"]["metrics"]["exact_text"]  # greedy: reproducible

    out = tmp_path / "pair"
    assert main(["eval", "--spec", str(spec_path), "--adapter", str(run_dir / "adapter"), "--out", str(out)]) == 0
    assert json.loads((out / "eval.json").read_text())["evaluation"]["n"] == 8

    (run_dir / "report.md").unlink()
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "report.md").read_text().startswith("# tiny")
    assert main(["run", str(spec_path), "--runs-dir", str(tmp_path / "runs")]) == 0
    assert len(list((tmp_path / "runs" / "tiny").iterdir())) == 2  # a re-run never overwrites


def test_eval_of_a_directory_that_is_not_an_adapter(tmp_path, capsys):
    spec_path = write_spec(tmp_path / "tiny.yaml", tiny_spec_dict())
    assert main(["eval", "--spec", str(spec_path), "--adapter", str(tmp_path)]) == 2
    assert "not a PEFT adapter directory" in capsys.readouterr().err
