"""harness.report.content: the judgements the report makes from the numbers alone (which metric heads
it, what is significant, what a latency change is due to, which examples tuning fixed and broke)."""

from __future__ import annotations

import copy

from harness.report import content
from harness.report.content import SavedSpec
from harness.report.view import SidePair
from harness.results import RunResults
from harness.spec import parse_spec
from tests.report_fixtures import NOT_APPLICABLE, demo_results, typed


def build(results: dict | None = None, spec: SavedSpec | None = None):
    return content.build(RunResults.model_validate(results if results is not None else demo_results()), spec)


def test_verdict_significant_improvement():
    row = content.metric_row("execution_match", typed(0.42, 0.735, 0.25, 0.38))
    assert row.significant and row.outcome == "better"
    assert content.verdict(row) == "Tuned beats base on single-database execution accuracy: +31.5 pts [+25.0, +38.0] (95% CI), 42.0% → 73.5%, n=200."


def test_verdict_not_significant_when_interval_includes_zero():
    row = content.metric_row("exact_match", typed(0.50, 0.52, -0.03, 0.07))
    text = content.verdict(row)
    assert not row.significant and row.outcome == "not significant"
    assert text.startswith("No significant difference in exact-match accuracy at 95%") and "+2.0 pts [-3.0, +7.0]" in text


def test_verdict_significant_regression_and_small_sample():
    row = content.metric_row("exact_text", typed(0.60, 0.40, -0.35, -0.05, n=20))
    text = content.verdict(row)
    assert row.outcome == "worse"
    assert text.startswith("Tuned is worse than base on exact-text accuracy: -20.0 pts [-35.0, -5.0]") and "n=20. Small sample" in text


def test_too_few_examples_are_never_significant():
    row = content.metric_row("exact_match", typed(0.0, 1.0, 1.0, 1.0, n=1))  # n=1: the bootstrap interval is a point
    assert not row.significant and row.outcome == content.TOO_FEW
    assert content.verdict(row).startswith("Too few examples to tell whether tuning changed exact-match accuracy: +100.0 pts")
    latency = {"latency_total_s": content.metric_row("latency_total_s", typed(0.05, 0.3, 0.25, 0.25, n=1))}
    assert content.latency_note(latency, SidePair(base=8, tuned=8)).startswith("Too few timed queries (n=1) to compare batch-1 latency")


def test_a_metric_that_did_not_apply_has_no_row():
    assert content.metric_row("execution_match_subset", typed(0.1, 0.2, 0.0, 0.2).model_copy(update={"n": 0})) is None


def test_lower_is_better_metrics_and_headline_choice():
    results = demo_results()
    view = build(results)
    rows = {m.name: m for m in view.metrics}
    assert rows["perplexity_answer"].outcome == "better" and rows["output_tokens"].outcome == "lower"
    assert rows["perplexity_answer"].better == "lower" and rows["output_tokens"].better is None
    assert "execution_match_subset" not in rows  # did not apply: no row
    assert view.headline.metric == "execution_match"
    results["evaluation"]["metrics"]["execution_match"] = NOT_APPLICABLE
    assert build(results).headline.metric == "exact_match"


def test_no_accuracy_metric_says_so():
    results = demo_results()
    metrics = results["evaluation"]["metrics"]
    results["evaluation"]["metrics"] = {k: v for k, v in metrics.items() if k.startswith(("perplexity", "output"))}
    view = build(results)
    assert view.headline.metric is None and view.headline.base is None and view.headline.verdict.startswith("No accuracy metric")
    assert view.examples.metric is None and view.breakdown == []


def test_latency_note_credits_shorter_outputs():
    note = build().latency.note
    assert note.startswith("The tuned model is faster per query at batch 1 (500.0 ms vs 900.0 ms base")
    assert "partly because it generates fewer tokens (20.0 vs 40.0 tokens per query)" in note


def test_latency_note_falls_back_on_the_test_sets_output_length():
    rows = {name: content.metric_row(name, c) for name, c in RunResults.model_validate(demo_results()).evaluation.metrics.items()}
    note = content.latency_note({k: r for k, r in rows.items() if r}, SidePair())
    assert "partly because it generates fewer tokens (20.0 vs 40.0 tokens per query)" in note


def test_latency_table_beside_output_length():
    rows = {r.measure: (r.base, r.tuned) for r in build().latency.rows}
    assert rows["Timed queries (batch 1)"] == (50, 50) and rows["Output tokens per timed query"] == (40.0, 20.0)
    assert rows["Latency p95"] == (0.9, 0.5) and rows["Batched generation, tokens"] == (8000, 4000)
    assert "Answers cut at max_new_tokens" not in rows  # not recorded: no row


def test_breakdown_ordinal_values_in_order():
    breakdown = build().breakdown
    assert [b.column for b in breakdown] == ["category", "difficulty"]
    assert [r.value for r in breakdown[1].rows] == ["easy", "medium", "hard"]
    hard = breakdown[1].rows[2]
    assert (hard.n, hard.base, hard.tuned) == (40, 0.2, 0.5) and abs(hard.diff - 0.3) < 1e-12


def test_examples_fixed_and_broken_by_headline_metric():
    examples = build().examples
    assert examples.counts.model_dump() == {"fixed": 6, "broken": 2, "both_correct": 3, "both_wrong": 1, "not_scored": 0}
    assert len(examples.fixed) == content.EXAMPLES_PER_KIND and len(examples.broken) == 2
    first = examples.fixed[0]
    assert first.id == "bank-0000" and first.meta == {"category": "join", "difficulty": "hard"}
    assert ("execution_match", False, True) in [(s.metric, s.base, s.tuned) for s in first.scores]


def test_training_section():
    training = build().training
    assert (training.precision, training.final_train_loss, training.final_valid_loss) == ("bf16", 0.03, 0.625)
    assert training.hyperparameters["lora.r"] == 16 and training.loss_curve.train[0] == (1, 3.0)
    assert training.origin == "retrained with the best parameters"


def test_search_secrets_masked_and_log_scale_from_the_spec():
    results = RunResults.model_validate(demo_results())
    spec = parse_spec({"project": "p", "search": {"space": {"lr": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True},
                                                            "lora.r": {"type": "int", "low": 4, "high": 64, "log": True},
                                                            "scheduler": {"type": "categorical", "choices": ["linear", "cosine"]}}}})
    search = content.search_view(results.search, None, spec.search.space)
    assert search.storage == "postgresql://optuna:***@db.example/optuna"
    assert search.log_scale_params == ["lr", "lora.r"] and search.param_names == ["lr", "lora.r", "scheduler"]
    assert content.search_view(results.search, None, {}).log_scale_params == []  # no spec at hand: linear axes
    assert search.counts == {"complete": 3, "fail": 1} and search.summary.startswith("4 trials (3 complete, 1 failed)")


def test_provenance_seeds_from_the_typed_spec():
    spec = parse_spec({"project": "p", "model": {"source": "tiny", "tiny": {"seed": 5}}, "data": {"split": {"seed": 7}},
                       "search": {"seed": 3}})
    saved = SavedSpec(saved=spec.model_dump(mode="json"), spec=spec)
    assert build(spec=saved).provenance.seeds == {"train": 42, "data_split": 7, "search_sampler": 3, "tiny_model_init": 5}
    without_search = demo_results()
    without_search["search"] = None
    assert build(without_search, saved).provenance.seeds == {"train": 42, "data_split": 7, "tiny_model_init": 5}
    unreadable = SavedSpec(saved={"project": "p", "data": {"split": {"seed": 7}}}, spec=None)
    provenance = build(spec=unreadable).provenance
    assert provenance.seeds == {"train": 42} and "seed: 7" in provenance.spec_yaml  # still shown, not read
    assert build().provenance.spec_yaml is None


def test_view_does_not_mutate_results():
    record = RunResults.model_validate(demo_results())
    before = copy.deepcopy(record)
    content.build(record)
    assert record == before


def test_flatten_nested_settings_and_records():
    settings = build().provenance.evaluation
    flat = content.flatten({"evaluation": settings, "seed": {"train": 42}, "empty": {}})
    assert flat["evaluation.decoding.max_new_tokens"] == 128 and flat["evaluation.verdict.outcome"] == "better"
    assert flat["seed.train"] == 42 and flat["empty"] == {}
