"""The run's verdict: Holm-adjusted intervals over the accuracy family, three-way outcome, outcome counts.

Per-example scores are constructed so the answer is known: with five accuracy metrics, five
fixed answers out of 100 on one of them is significant alone (95% interval excludes 0) but not
once the family is accounted for (Holm's first step is a 99% interval, which reaches 0)."""

from __future__ import annotations

import pytest

from harness import metrics as registry
from harness.data.records import Example
from harness.evaluate.model_run import ModelRun
from harness.evaluate.record import compare_runs
from harness.report import content
from harness.results import RunResults
from harness.spec import EvaluationSpec
from tests.report_fixtures import demo_results

N = 100
FAMILY = ("execution_match", "executable", "exact_match", "structural_match", "valid_sql")  # registry order


def _runs(base: dict[str, list[float]], tuned: dict[str, list[float]]) -> tuple[ModelRun, ModelRun]:
    def run(scores: dict[str, list[float]]) -> ModelRun:
        return ModelRun(outputs=["SELECT 1"] * N, output_tokens=[3] * N, cut_at_limit=0, scores=scores, answer_nll=[], sequence_nll=[],
                        batched_seconds=1.0, batched_tokens_per_s=300.0, generated_tokens=3 * N, latency=[], judged_by=[None] * N,
                        votes=[None] * N)

    return run(base), run(tuned)


def _evaluate(base: dict[str, list[float]], tuned: dict[str, list[float]]):
    examples = [Example(id=f"q{i}", prompt=f"question {i}", answer="SELECT 1") for i in range(N)]
    return compare_runs(*_runs(base, tuned), examples, EvaluationSpec(metrics=["sql"], bootstrap_resamples=4000))


def _fixes(k: int) -> list[float]:
    return [1.0] * k + [0.0] * (N - k)


ZEROS = [0.0] * N


def test_a_win_significant_alone_is_not_significant_across_five_metrics():
    evaluation = _evaluate(dict.fromkeys(FAMILY, ZEROS), {**dict.fromkeys(FAMILY, ZEROS), "execution_match": _fixes(5)})
    c = evaluation.metrics["execution_match"]
    assert c.ci_low > 0  # unadjusted: "tuned is better"
    assert c.adjusted.family_size == 5 and c.adjusted.rank == 0 and c.adjusted.confidence == pytest.approx(0.99)
    assert c.adjusted.ci_low <= 0 < c.adjusted.ci_high and not c.adjusted.significant
    assert evaluation.verdict.outcome == "inconclusive" and evaluation.verdict.family == list(FAMILY)
    row = content.metric_row("execution_match", c)
    assert not row.significant and row.outcome == "not significant"


def test_the_same_win_alone_in_its_family_is_better():
    evaluation = _evaluate({"execution_match": ZEROS}, {"execution_match": _fixes(5)})
    c = evaluation.metrics["execution_match"]
    assert c.adjusted.confidence == pytest.approx(0.95) and c.adjusted.significant
    assert evaluation.verdict.outcome == "better" and evaluation.verdict.better == ["execution_match"]


def test_a_clear_loss_is_worse_and_a_mixed_result_inconclusive():
    worse = _evaluate({m: _fixes(40) for m in FAMILY}, {**{m: _fixes(40) for m in FAMILY}, "valid_sql": ZEROS})
    assert worse.verdict.outcome == "worse" and worse.verdict.worse == ["valid_sql"]
    mixed = _evaluate({"valid_sql": _fixes(40), "execution_match": ZEROS}, {"valid_sql": ZEROS, "execution_match": _fixes(40)})
    assert mixed.verdict.outcome == "inconclusive"
    assert (mixed.verdict.better, mixed.verdict.worse) == (["execution_match"], ["valid_sql"])


def test_holm_step_down_stops_at_the_first_member_it_cannot_reject():
    # a large win (rank 0, 99% level) and a small one (rank 1, 98.75% level) that fails there
    evaluation = _evaluate(dict.fromkeys(FAMILY, ZEROS),
                           {**dict.fromkeys(FAMILY, ZEROS), "execution_match": _fixes(40), "exact_match": _fixes(4)})
    big, small = evaluation.metrics["execution_match"].adjusted, evaluation.metrics["exact_match"].adjusted
    assert (big.rank, big.significant) == (0, True)
    assert small.rank == 1 and small.confidence == pytest.approx(1 - 0.05 / 4) and not small.significant
    later = [m for m in FAMILY if evaluation.metrics[m].adjusted.rank > 1]
    assert len(later) == 3 and not any(evaluation.metrics[m].adjusted.significant for m in later)
    assert evaluation.verdict.outcome == "better" and evaluation.verdict.better == ["execution_match"]


def test_verdict_sentence_names_the_adjustment_and_the_run_verdict():
    evaluation = _evaluate(dict.fromkeys(FAMILY, ZEROS), {**dict.fromkeys(FAMILY, ZEROS), "execution_match": _fixes(5)})
    record = RunResults.model_validate({**demo_results(), "evaluation": evaluation.model_dump(mode="json")})
    headline = content.build(record).headline
    assert headline.metric == "execution_match" and headline.run_verdict == "inconclusive"
    assert "(99% CI, Holm-adjusted over 5 accuracy metrics)" in headline.verdict
    assert headline.verdict.endswith("Verdict: inconclusive (no accuracy metric differs after Holm adjustment at 95% family-wise).")


def test_one_hot_outcome_classes_become_a_counts_table(monkeypatch):
    """How the SQL error taxonomy plugs in: declarations with a counts_table, nothing else."""
    classes = {"outcome_correct": "Correct", "outcome_parse_error": "Does not parse", "outcome_wrong_result": "Wrong result"}
    for key, label in classes.items():
        declaration = registry.Metric(key, label, "rate", registry.Kind.SHARE, registry.Better.NONE, registry.Family.SQL,
                                      counts_table="Answers by outcome")
        monkeypatch.setitem(registry.METRICS, key, declaration)
    results = demo_results()
    sides = {"base": ["outcome_parse_error"] * 7 + ["outcome_wrong_result"] * 3 + ["outcome_correct"] * 2,
             "tuned": ["outcome_correct"] * 9 + ["outcome_wrong_result"] * 3}
    for i, ex in enumerate(results["evaluation"]["examples"]):
        for side, outcomes in sides.items():
            ex[f"{side}_scores"].update({key: float(key == outcomes[i]) for key in classes})
    view = content.build(RunResults.model_validate(results))
    (table,) = view.outcome_counts
    assert table.title == "Answers by outcome"
    counts = {r.name: (r.base, r.tuned, r.diff) for r in table.rows}
    assert counts == {"outcome_correct": (2, 9, 7), "outcome_parse_error": (7, 0, -7), "outcome_wrong_result": (3, 3, 0)}
    assert not any(m.name.startswith("outcome_") for m in view.metrics)  # a table of counts, not rows of rates
    flags = {s.metric for ex in view.examples.fixed for s in ex.scores}
    assert flags and not any(f.startswith("outcome_") for f in flags)  # nor ✓/✗ flags on every example


def test_parse_rate_alone_cannot_make_a_better_verdict():
    """The hand-written benchmark's failure mode: execution 0 -> 0 while more answers parse and run."""
    base = dict.fromkeys(FAMILY, ZEROS)
    tuned = {**base, "valid_sql": _fixes(60), "executable": _fixes(40)}
    evaluation = _evaluate(base, tuned)
    assert evaluation.verdict.headline == "execution_match"
    assert evaluation.verdict.better == ["executable", "valid_sql"] and evaluation.verdict.worse == []
    assert evaluation.verdict.outcome == "inconclusive"
    row = content.metric_row("execution_match", evaluation.metrics["execution_match"])
    sentence = content.verdict(row, evaluation.verdict)  # the headline's sentence, then the run's verdict
    run_verdict = sentence[sentence.index(" Verdict: ") + 1 :]
    assert run_verdict.startswith("Verdict: inconclusive (better on executable sql, valid sql (parses)")
    assert "single-database execution accuracy, the headline, did not move significantly" in run_verdict


def test_a_headline_loss_is_worse_even_when_parse_rate_rises():
    base = {**dict.fromkeys(FAMILY, ZEROS), "execution_match": _fixes(40)}
    evaluation = _evaluate(base, {**base, "execution_match": ZEROS, "valid_sql": _fixes(60)})
    assert (evaluation.verdict.better, evaluation.verdict.worse) == (["valid_sql"], ["execution_match"])
    assert evaluation.verdict.outcome == "worse"


def test_the_headline_is_the_test_suite_metric_when_measured():
    base = dict.fromkeys(("execution_suite", *FAMILY), ZEROS)
    only_single_db = _evaluate(base, {**base, "execution_match": _fixes(40)})
    assert only_single_db.verdict.headline == "execution_suite" and only_single_db.verdict.outcome == "inconclusive"
    both = _evaluate(base, {**base, "execution_match": _fixes(40), "execution_suite": _fixes(30)})
    assert both.verdict.outcome == "better"
