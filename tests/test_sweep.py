"""A sweep (`model.sources`): each model through the whole pipeline, one leaderboard, failures
recorded, finished models resumed; and the spec checks that guard it."""

from __future__ import annotations

import json

import pytest
import yaml

from harness import results, runs, sweep
from harness.cli import main
from harness.report import leaderboard
from harness.spec import parse_spec
from tests.conftest import tiny_spec_dict, write_spec

QWEN2 = {"source": "tiny", "tiny": {"architecture": "qwen2", "layers": 2, "hidden_size": 64, "heads": 4,
                                    "intermediate_size": 128}}


def sweep_spec_dict(*sources, **overrides) -> dict:
    spec = tiny_spec_dict(**overrides)
    spec["project"] = "sweep"
    spec["model"] = {"sources": list(sources), "tiny": spec["model"]["tiny"]}
    return spec


def broken_checkpoint(tmp_path):
    """Passes every check (a directory with a config.json) but holds no weights: fails when loaded."""
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}))
    return folder


@pytest.mark.train
def test_sweep_runs_every_model_records_a_failure_and_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    spec_path = write_spec(tmp_path / "sweep.yaml", sweep_spec_dict("tiny", QWEN2, str(broken_checkpoint(tmp_path))))
    assert main(["run", str(spec_path)]) == 1  # one model failed: the sweep says so in its exit code
    out = capsys.readouterr().out
    assert "failed: broken:" in out and "2 of 3 models finished" in out

    sweep_dir = runs.sweep_area((tmp_path / "runs").resolve(), "sweep")
    board = results.load_leaderboard(sweep_dir)
    assert [r.name for r in board.rows] == ["tiny-llama", "tiny-qwen2", "broken"]
    assert board.headline == "exact_match"  # WikiSQL rows have no database: the first candidate measured
    broken = board.rows[2]
    assert not broken.finished and broken.metrics == {} and broken.parameters is None
    assert (broken.run_dir / runs.FAILED).is_file()  # it failed inside its own run directory
    assert broken.run_dir.parent == sweep_dir / "sweep-broken"

    finished = board.rows[:2]
    records = [results.load(r.run_dir) for r in finished]
    for row, record in zip(finished, records):
        assert row.finished and not row.resumed
        assert row.run_dir.parent == sweep_dir / f"sweep-{row.name}"
        assert (row.run_dir / "report.html").is_file()  # each model keeps its own report
        # every number of the row is its run's own
        assert row.metrics == {k: record.evaluation.metrics[k] for k in ("exact_match", "exact_text", "perplexity_answer")}
        assert row.parameters == record.model.parameters
        assert row.train_seconds == record.training.train_seconds > 0
        assert row.tokens_per_s == {side: t.tokens_per_s for side, t in record.evaluation.throughput.items()}
        assert row.adapter_mb == (record.training.adapter_dir / "adapter_model.safetensors").stat().st_size / 2**20
    assert [r.model.architecture for r in records] == ["LlamaForCausalLM", "Qwen2ForCausalLM"]
    assert records[0].model.parameters != records[1].model.parameters  # qwen2's attention has biases
    # same data split, prompts and budget for both
    assert records[0].data == records[1].data and records[0].train_spec == records[1].train_spec
    assert [e.id for e in records[0].evaluation.examples] == [e.id for e in records[1].evaluation.examples]

    md = (sweep_dir / "leaderboard.md").read_text()
    assert "tiny-llama" in md and "tiny-qwen2" in md and broken.error in md
    assert "Exact match (normalised SQL)" in md and "Perplexity, answer tokens only" in md  # the registry's labels
    html = (sweep_dir / "leaderboard.html").read_text()
    assert "sweep-tiny-qwen2/" in html and "report.html" in html
    assert {p.name for p in (sweep_dir / runs.PLOTS_DIR).iterdir()} == {"accuracy_vs_size.png", "accuracy_vs_cost.png"}

    # a re-run keeps the finished models (no new run, adapters untouched) and retries the failed one
    adapters = {r.name: (r.run_dir / runs.ADAPTER_DIR / "adapter_model.safetensors").stat().st_mtime_ns for r in finished}
    assert main(["run", str(spec_path)]) == 1
    again = results.load_leaderboard(sweep_dir)
    for before, after in zip(finished, again.rows[:2]):
        assert after.resumed and after.run_dir == before.run_dir and after.metrics == before.metrics
        assert runs.run_dirs(sweep_dir, f"sweep-{before.name}") == [before.run_dir]
        assert (before.run_dir / runs.ADAPTER_DIR / "adapter_model.safetensors").stat().st_mtime_ns == adapters[before.name]
    assert len(runs.run_dirs(sweep_dir, "sweep-broken")) == 2 and again.rows[2].run_dir != broken.run_dir

    # a changed spec does not count as finished; the same one does
    spec = parse_spec(sweep_spec_dict("tiny", QWEN2, str(tmp_path / "broken")), base_dir=tmp_path)
    llama = spec.sweep_specs()["tiny-llama"]
    assert sweep.finished_run(llama, sweep_dir) == finished[0].run_dir
    longer = llama.model_copy(update={"train": llama.train.model_copy(update={"max_steps": 5})})
    assert sweep.finished_run(longer, sweep_dir) is None

    # ranked by the tuned headline, the failed model listed apart
    view = leaderboard.build(again)
    tuned = [r.headline.tuned for r in view.rows]
    assert tuned == sorted(tuned, reverse=True) and [r.name for r in view.failed] == ["broken"]

    written = (sweep_dir / "leaderboard.md").read_text()
    assert written.count("(resumed)") == 2
    (sweep_dir / "leaderboard.md").unlink()
    assert main(["report", str(sweep_dir)]) == 0  # regenerated from leaderboard.json alone, same bytes
    assert (sweep_dir / "leaderboard.md").read_text() == written


@pytest.mark.train  # no training happens, but each model fails inside AutoTrain's loading
def test_a_failed_model_is_recorded_and_the_sweep_goes_on(tmp_path, capsys):
    first, second = broken_checkpoint(tmp_path), tmp_path / "other"
    first.rename(second)
    broken_checkpoint(tmp_path)
    spec_path = write_spec(tmp_path / "sweep.yaml", sweep_spec_dict(str(tmp_path / "broken"), str(second)))
    assert main(["run", str(spec_path), "--runs-dir", str(tmp_path / "runs")]) == 1
    board = results.load_leaderboard(runs.sweep_area(tmp_path / "runs", "sweep"))
    assert [(r.name, r.finished) for r in board.rows] == [("broken", False), ("other", False)]  # the second still ran
    assert all(r.error and (r.run_dir / runs.FAILED).is_file() for r in board.rows)
    assert board.headline is None
    err_lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("failed: ")]
    assert err_lines == [f"failed: {r.name}: {r.error}" for r in board.rows]
    md = (board.sweep_dir / "leaderboard.md").read_text()
    assert all(r.error in md for r in board.rows) and "0 finished" in (board.sweep_dir / "leaderboard.html").read_text()


def test_sweep_specs_share_everything_but_the_model(tmp_path):
    raw = sweep_spec_dict("tiny", {**QWEN2, "name": "qwen"}, **{"search.study_name": "study", "search.space": {}})
    spec = parse_spec(raw, base_dir=tmp_path)
    specs = spec.sweep_specs()
    assert list(specs) == ["tiny-llama", "qwen"]
    llama, qwen = specs.values()
    assert (llama.model.tiny.architecture, qwen.model.tiny.architecture) == ("llama", "qwen2")
    assert llama.model.sources is None and qwen.model.sources is None  # each one a single-model spec
    assert (llama.project, qwen.project) == ("sweep-tiny-llama", "sweep-qwen")  # own run folder and search area
    assert (llama.search.study_name, qwen.search.study_name) == ("study-tiny-llama", "study-qwen")  # never a shared study
    for part in ("data", "prompt", "train", "evaluation"):
        assert getattr(llama, part) == getattr(qwen, part) == getattr(spec, part)
    # a saved single-model spec reads back as one model
    assert parse_spec(yaml.safe_load(qwen.to_yaml())).model.source == "tiny"


def test_sweep_spec_keeps_a_secret_of_one_entry_as_its_placeholder(tmp_path, monkeypatch):
    monkeypatch.setenv("HUB_TOKEN", "hf_secret")
    raw = sweep_spec_dict("tiny", {"source": "tiny", "name": "other", "token": "${HUB_TOKEN}"})
    specs = parse_spec(raw, base_dir=tmp_path).sweep_specs()
    assert specs["other"].model.token == "hf_secret"
    assert "hf_secret" not in specs["other"].to_yaml() and "${HUB_TOKEN}" in specs["other"].to_yaml()
    assert "${HUB_TOKEN}" not in specs["tiny-llama"].to_yaml()


@pytest.mark.parametrize(
    "model, message",
    [
        ({"source": "tiny", "sources": ["tiny"]}, "field 'model': set model.source (one model) or model.sources (a sweep), not both"),
        ({"sources": []}, "field 'model.sources': the list is empty"),
        ({"sources": ["tiny", "tiny"]}, "model.sources.1: name 'tiny-llama' is also entry 0's"),
        ({"sources": ["tiny", "missing.gguf"]}, "model.source: GGUF file"),
        ({"sources": ["tiny", {"sorce": "tiny"}]}, "unknown key 'model.sources.1.sorce' (did you mean 'source'?)"),
    ],
)
def test_validate_rejects_a_bad_sweep(tmp_path, capsys, model, message):
    raw = tiny_spec_dict()
    raw["model"] = model
    spec_path = write_spec(tmp_path / "bad.yaml", raw)
    assert main(["validate", str(spec_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert main(["run", str(spec_path)]) == 2  # run makes the same checks before writing anything
    assert not (tmp_path / "runs").exists()


def test_validate_names_every_model_of_a_sweep(tmp_path, capsys):
    spec_path = write_spec(tmp_path / "ok.yaml", sweep_spec_dict("tiny", QWEN2))
    assert main(["validate", str(spec_path)]) == 0
    assert "model tiny-llama, tiny-qwen2" in capsys.readouterr().out


def test_single_model_steps_refuse_a_sweep_spec(tmp_path, capsys):
    spec_path = write_spec(tmp_path / "ok.yaml", sweep_spec_dict("tiny", QWEN2, **{"search.trials": 1}))
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    assert main(["eval", "--spec", str(spec_path), "--adapter", str(adapter)]) == 2
    assert "model.sources names a sweep of models" in capsys.readouterr().err
    assert main(["search", str(spec_path)]) == 2
    assert "model.sources names a sweep of models" in capsys.readouterr().err
