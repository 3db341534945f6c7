"""End to end on the embedded SmolLM2 with a very small step budget (about two minutes on 2 cores)."""

from __future__ import annotations

import pytest
from peft import PeftModel
from transformers import AutoModelForCausalLM

from harness.cli import main
from harness.results import load
from tests.conftest import write_spec

pytestmark = [pytest.mark.slow, pytest.mark.train]


def test_sqlcoder_style_run_on_smollm2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    spec = {
        "project": "smollm2-e2e",
        "data": {"source": "builtin:sql", "subset": 300, "split": {"valid": 8, "test": 12, "group_by": "group"}},
        "prompt": {"system": "Write one SQLite query that answers the question. Reply with SQL only."},
        "train": {"lr": 2e-3, "max_steps": 3, "batch_size": 4, "block_size": 256, "eval_every": 3, "eval_examples": 8},
        "evaluation": {"metrics": ["sql", "perplexity", "latency"], "max_new_tokens": 48, "latency_samples": 2, "bootstrap_resamples": 500},
    }
    assert main(["run", str(write_spec(tmp_path / "s.yaml", spec))]) == 0
    run_dir = next((tmp_path / "runs" / "smollm2-e2e").iterdir())
    results = load(run_dir)
    ev = results.evaluation
    assert ev.n == 12 and results.training.steps == 3
    assert results.model.architecture == "LlamaForCausalLM"
    for key in ("execution_match", "exact_match", "structural_match", "perplexity_answer", "latency_total_s"):
        assert ev.metrics[key].n > 0, key
    # Even three steps on SQL lower the gold answers' perplexity: the adapter really learned.
    assert ev.metrics["perplexity_answer"].tuned < ev.metrics["perplexity_answer"].base
    base_model = AutoModelForCausalLM.from_pretrained(results.model.dir)
    assert PeftModel.from_pretrained(base_model, run_dir / "adapter").peft_config["default"].r == 16
    assert (run_dir / "report.md").is_file()
    assert "verdict: " in capsys.readouterr().out
