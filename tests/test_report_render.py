"""harness.report.render: the view model as report.md, report.html (escaped: model outputs are
untrusted) and report.json (every key documented), from hand-written results.json fixtures."""

from __future__ import annotations

import html
from pathlib import Path

import pytest

from harness.report import write_reports
from harness.report.render import fence, md_cell
from tests.report_fixtures import (
    comparison,
    demo_evaluation,
    demo_results,
    make_run_dir,
    report_json,
    suite_example,
    trial,
)

README = Path(__file__).resolve().parents[1] / "harness" / "report" / "README.md"


@pytest.fixture
def demo_run(tmp_path: Path) -> Path:
    write_reports(run_dir := make_run_dir(tmp_path))
    return run_dir


def test_demo_markdown_and_json(demo_run: Path):
    md, data = (demo_run / "report.md").read_text(), report_json(demo_run)
    assert "| Execution accuracy (single database) **(headline)** | 200 | 42.0% | 73.5% | +31.5 pts | [+25.0, +38.0] | — | +75.0% | better |" in md
    assert "200 held-out test examples, both models decoded greedily in float32 weights with the same prompts." in md
    assert [b["column"] for b in data["breakdown"]] == ["category", "difficulty"]
    assert [r["value"] for r in data["breakdown"][1]["rows"]] == ["easy", "medium", "hard"]
    assert "### Execution accuracy (single database) by difficulty" in md and "| hard | 40 | 20.0% | 50.0% | +30.0 pts |" in md
    assert "### Fixed by tuning" in md and "Example `bank-0006`" in md
    assert data["search"]["multi_objective"] and data["search"]["pareto_front"] == [0, 1]
    expected_plots = {"loss", "breakdown_category", "breakdown_difficulty", "search_history", "search_params", "search_pareto"}
    assert {p["id"] for p in data["plots"]} == expected_plots  # no importances: fANOVA needs one objective
    assert "FloatingPointError" in md and "| 1 **best** (front) | complete |" in md
    assert data["provenance"]["seeds"] == {"train": 42, "data_split": 7, "search_sampler": 3}
    assert "| dropped_overlap | 3 |" in md and "| packages.optuna | 4.1.0 |" in md
    assert "| evaluation.decoding.max_new_tokens | 128 |" in md and "| seed.data_split | 7 |" in md
    assert data["training"]["precision"] == "bf16" and "tokens/s, bf16)" in md
    assert data["training"]["loss_curve"]["valid"] == [[25, 2.5], [50, 1.25], [75, 2.5 / 3], [100, 0.625]]


def test_every_report_json_key_is_documented(demo_run: Path):
    documented = README.read_text().split("## report.json", 1)[1]
    data = report_json(demo_run)
    missing = [key for key in data if f"`{key}`" not in documented]
    for section in ("headline", "training", "search", "provenance"):
        missing += [f"{section}.{key}" for key in data[section] if f"`{key}`" not in documented]
    assert not missing


def test_model_output_is_escaped(demo_run: Path):
    page = (demo_run / "report.html").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    md = (demo_run / "report.md").read_text()
    # the output holds a ``` run: its block is fenced with four backticks so it cannot break out
    assert "````text\n<script>alert('x')</script> ```\n| a | b |\n````" in md


def test_markdown_cells_and_fences_hold_untrusted_text():
    assert md_cell("a | b\n  c <i>") == "a \\| b c &lt;i&gt;"
    assert md_cell(None) == "—" and md_cell(0.5) == "0.50"
    assert fence("x ```` y", "sql") == "`````sql\nx ```` y\n`````" and fence(None) == "```text\n\n```"


def test_runs_without_search_latency_perplexity_or_breakdown(tmp_path: Path):
    results = demo_results()
    results["search"] = None
    evaluation = results["evaluation"]
    for name in [n for n in evaluation["metrics"] if n.startswith(("latency", "perplexity"))]:
        del evaluation["metrics"][name]
    evaluation.update(latency={}, throughput={}, breakdown={})
    results["training"].update(history=[], valid_losses=[])
    run_dir = make_run_dir(tmp_path, results, spec="")
    paths = write_reports(run_dir)
    data, md = report_json(run_dir), (run_dir / "report.md").read_text()
    assert data["search"] is None and data["latency"] is None and data["breakdown"] == [] and data["plots"] == []
    assert data["provenance"]["spec_yaml"] is None
    assert "## Search" not in md and "## Latency" not in md and "## Breakdown" not in md and "Perplexity" not in md
    assert len(paths) == 3


def test_no_accuracy_metric_says_so(tmp_path: Path, demo_run: Path):
    results = demo_results()
    metrics = results["evaluation"]["metrics"]
    results["evaluation"]["metrics"] = {k: v for k, v in metrics.items() if k.startswith(("perplexity", "output"))}
    run_dir = make_run_dir(tmp_path / "no-accuracy", results)
    write_reports(run_dir)
    headline = report_json(run_dir)["headline"]
    assert headline["metric"] is None and headline["verdict"].startswith("No accuracy metric")
    assert list(headline) == list(report_json(demo_run)["headline"])  # same keys either way
    assert "## Examples" not in (run_dir / "report.md").read_text()


def test_suite_rejections_and_evaluation_only_sets_are_reported(tmp_path: Path):
    results = demo_results()
    evaluation = results["evaluation"]
    # 3 tuned answers right on the real database alone; the neighbours reject 2 of them
    evaluation["examples"] = [suite_example(i, *flags) for i, flags in enumerate(
        [(True, True), (True, False), (True, False), (False, False)])]
    evaluation["metrics"]["execution_suite"] = comparison(0.30, 0.55, 0.15, 0.35)
    unseen = demo_evaluation()
    unseen["n"] = 60
    unseen["metrics"] = {"execution_suite": comparison(0.0, 0.05, -0.02, 0.12, n=60),
                         "execution_match": comparison(0.0, 0.10, 0.02, 0.18, n=60)}
    unseen["verdict"] = {"outcome": "inconclusive", "headline": "execution_suite", "family": ["execution_suite", "execution_match"],
                         "better": [], "worse": [], "confidence": 0.95}
    results["evaluation_sets"] = {"unseen": unseen}
    run_dir = make_run_dir(tmp_path, results)
    write_reports(run_dir)
    data, md = report_json(run_dir), (run_dir / "report.md").read_text()
    assert data["headline"]["metric"] == "execution_suite"  # the test-suite verdict heads the report
    assert data["refinements"] == [{"metric": "execution_suite", "label": "Execution accuracy (test suite)",
                                    "looser": "execution_match", "looser_label": "Execution accuracy (single database)",
                                    "base": 0, "tuned": 2}]
    assert "Execution accuracy (test suite) rejected 2 tuned and 0 base answers that execution accuracy (single database) accepted." in md
    assert [row["name"] for row in data["evaluation_sets"]["side_by_side"]] == ["test split", "unseen"]
    assert "| test split | 200 | 30.0% | 55.0% | +25.0 pts |" in md
    assert "| unseen | 60 | 0.0% | 5.0% | +5.0 pts |" in md
    assert "### unseen (n=60; headline: not significant; verdict: inconclusive)" in md
    assert "<h2>How far the gain travels</h2>" in (run_dir / "report.html").read_text()


def test_single_objective_search_says_what_it_gained_spent_saved_and_where_it_may_be_wrong(tmp_path: Path):
    results = demo_results()
    search = results["search"]
    trials = [trial(0, "complete", 1e-3, 16, [0.9]), trial(1, "pruned", 1e-4, 8, None), trial(2, "complete", 2.8e-3, 32, [0.62])]
    trials[0]["spec_settings"] = True
    trials[1].update(steps=2, planned_steps=8)
    search.update(objectives=["valid_loss"], directions=["minimize"], best_trial=2, best_params=trials[2]["params"],
                  best_values=[0.62], trials=trials, pareto_front=None, counts={"complete": 2, "pruned": 1},
                  steps_run=202, steps_saved_by_pruning=6, tokens_run=206_848, train_seconds_run=1500.0, spec_settings_trial=0,
                  pruner="asha (first rung at step 2, 1 in 3 trials goes on per rung)",
                  params_at_edge=[{"name": "lr", "value": 2.8e-3, "side": "high", "low": 3e-4, "high": 3e-3, "log": True}])
    results["optimism_gap"] = {"objective": "valid_loss", "direction": "minimize", "validation": 0.62, "test_metric": "perplexity_answer",
                               "test": 0.47, "final_model_retrained": True, "final_validation": 0.45}
    run_dir = make_run_dir(tmp_path, results)
    write_reports(run_dir)
    md, page = (run_dir / "report.md").read_text(), html.unescape((run_dir / "report.html").read_text())
    view = report_json(run_dir)["search"]
    sentences = [
        "Search improved validation loss from 0.9 (your settings, trial 0) to 0.62 (trial 2).",
        ("Compute spent by all trials, pruned ones included: 202 optimizer steps, 206,848 training tokens, 25 min 0 s of training. "
         "Pruning saved 6 of 208 planned steps (3%)"),
        "The best lr (2.80e-03) sits at the high edge of the log-range searched [3.00e-04, 3.00e-03]",
        "the final model's on the test split is 0.47 (on test: ln of the tuned model's answer perplexity",
        "the test split is no worse, by 0.15",
        "retrained with the best parameters on the full budget (its own validation loss on the validation split: 0.45)",
    ]
    for sentence in sentences:
        assert sentence in md and sentence in page, sentence
    assert "| 0 (your settings) |" in md
    assert view["optimism_gap"]["optimism"] == pytest.approx(-0.15) and view["spec_settings"]["improved"] is True


def test_decoding_modes_side_by_side(tmp_path: Path):
    """Base/tuned × greedy/constrained in one table; the headline stays greedy's."""
    results = demo_results()
    constrained = demo_evaluation()
    constrained["decoding"]["strategy"] = "constrained"
    constrained["metrics"]["execution_match"] = comparison(0.55, 0.80, 0.15, 0.35)
    constrained["throughput"] = {"base": {"seconds": 90.0, "tokens_per_s": 50.0, "tokens": 4500, "cut_at_limit": 3},
                                 "tuned": {"seconds": 40.0, "tokens_per_s": 100.0, "tokens": 4000, "cut_at_limit": 0}}
    constrained["verdict"]["outcome"] = "inconclusive"
    results["evaluation"]["decodings"] = {"constrained": constrained}
    results["evaluation"]["decoding"]["dtype"] = "bfloat16"
    write_reports(run_dir := make_run_dir(tmp_path, results))
    md, page, data = (run_dir / "report.md").read_text(), (run_dir / "report.html").read_text(), report_json(run_dir)

    assert data["decodings"]["modes"] == ["greedy", "constrained"]
    assert data["headline"]["base"] == 0.42  # greedy's execution accuracy, not constrained's 0.55
    assert "| Measure | Base, greedy | Tuned, greedy | Base, constrained | Tuned, constrained |" in md
    assert "| Execution accuracy (single database) | 42.0% | 73.5% | 55.0% | 80.0% |" in md
    assert "| Batched time per generated token | 7.5 ms | 7.5 ms | 20.0 ms | 10.0 ms |" in md
    assert "| Answers cut at max_new_tokens | — | — | 3 | 0 |" in md  # greedy's file predates the count
    assert "| Verdict (tuned vs base) | better | | inconclusive | |" in md
    assert 'id="decodings-table"' in page and "Tuned, constrained" in page
    assert "decoded greedily in bfloat16 weights" in md and "greedy decoding in bfloat16 weights" in page


def test_a_results_file_that_predates_the_recorded_dtype_names_none(tmp_path: Path):
    results = demo_results()
    del results["evaluation"]["decoding"]["dtype"]
    write_reports(run_dir := make_run_dir(tmp_path, results))
    md, page = (run_dir / "report.md").read_text(), (run_dir / "report.html").read_text()
    assert "200 held-out test examples, both models decoded greedily with the same prompts." in md
    assert "greedy decoding, same prompts for both models" in page and "weights" not in md.split("## Headline")[0]


def test_a_single_decoding_mode_has_no_side_by_side_section(demo_run: Path):
    assert report_json(demo_run)["decodings"] is None
    assert "## Decoding modes" not in (demo_run / "report.md").read_text()
