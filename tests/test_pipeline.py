"""The CLI over the whole pipeline on the tiny model: run, then evaluate and report again."""

from __future__ import annotations

import pytest

from harness import runs
from harness.cli import main
from harness.results import load, load_eval
from tests.conftest import WIKISQL_TRAIN, tiny_spec_dict, write_spec


@pytest.mark.train
def test_run_then_eval_and_report_from_the_run_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    # an evaluation-only benchmark file, scored beside the test split (five WikiSQL rows)
    (tmp_path / "bench.jsonl").write_text("\n".join(WIKISQL_TRAIN.read_text().splitlines()[-5:]) + "\n")
    spec = tiny_spec_dict(**{"evaluation.benchmarks": [{"name": "later-rows", "source": "bench.jsonl"}]})
    spec_path = write_spec(tmp_path / "tiny.yaml", spec)
    assert main(["run", str(spec_path)]) == 0
    (run_dir,) = (tmp_path / "runs" / "tiny").iterdir()
    results = load(run_dir)
    assert results.evaluation.n == 8 and len(results.evaluation.examples) == 8
    assert list(results.evaluation_sets) == ["later-rows"] and results.evaluation_sets["later-rows"].n == 5
    assert not results.evaluation_sets["later-rows"].latency  # timed on the test split only
    assert "## How far the gain travels" in (run_dir / "report.md").read_text()
    assert {runs.SPEC, runs.RESULTS, *runs.REPORT_FILES, runs.ADAPTER_DIR, runs.LOGS_DIR} <= {p.name for p in run_dir.iterdir()}
    assert results.training.adapter_dir == run_dir / runs.ADAPTER_DIR

    monkeypatch.chdir(tmp_path.parent)  # eval works from anywhere: paths in results are absolute
    assert main(["eval", str(run_dir)]) == 0
    again = load_eval(run_dir / runs.EVAL).evaluation
    # greedy decoding repeats itself answer by answer (an accuracy of a random model is ~0 either way)
    outputs = [(ex.id, ex.base, ex.tuned) for ex in results.evaluation.examples]
    assert [(ex.id, ex.base, ex.tuned) for ex in again.examples] == outputs
    assert any(base != tuned for _, base, tuned in outputs)  # the adapter changed something to repeat

    out = tmp_path / "pair"
    assert main(["eval", "--spec", str(spec_path), "--adapter", str(run_dir / "adapter"), "--out", str(out)]) == 0
    pair = load_eval(out / runs.EVAL)
    assert pair.evaluation.n == 8 and pair.evaluation_sets["later-rows"].n == 5

    (run_dir / "report.md").unlink()
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "report.md").read_text().startswith("# tiny")
    assert main(["run", str(spec_path), "--runs-dir", str(tmp_path / "runs")]) == 0
    assert len(list((tmp_path / "runs" / "tiny").iterdir())) == 2  # a re-run never overwrites


def test_eval_of_a_directory_that_is_not_an_adapter(tmp_path, capsys):
    spec_path = write_spec(tmp_path / "tiny.yaml", tiny_spec_dict())
    assert main(["eval", "--spec", str(spec_path), "--adapter", str(tmp_path)]) == 2
    assert "not a PEFT adapter directory" in capsys.readouterr().err
