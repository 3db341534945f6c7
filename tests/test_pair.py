"""evaluate_pair under several decoding modes: each evaluates base and tuned alike and reaches the report."""

from __future__ import annotations

from harness import results
from harness.data.records import Example
from harness.evaluate.pair import evaluate_pair
from harness.models import resolve_model
from harness.report import write_reports
from harness.spec import EvaluationSpec, ModelSpec, PromptSpec
from tests.report_fixtures import demo_results, make_run_dir
from tests.test_generation import _random_adapter

QUESTIONS = [
    ("How many singers are from France?", "SELECT COUNT(*) FROM singer WHERE country = 'France'"),
    ("Name the singers older than 30.", "SELECT name FROM singer WHERE age > 30"),
    ("List every song title.", "SELECT title FROM song"),
]


def test_self_consistency_runs_beside_greedy_with_the_same_seeds_for_base_and_tuned(tmp_path, concert_db):
    model_dir = resolve_model(ModelSpec(source="tiny"))
    adapter = _random_adapter(model_dir, tmp_path / "adapter")
    examples = [Example(id=f"q{i}", prompt=q, answer=gold, meta={"db_path": str(concert_db)})
                for i, (q, gold) in enumerate(QUESTIONS)]
    spec = EvaluationSpec(metrics=["sql"], max_new_tokens=8, batch_size=4, bootstrap_resamples=100,
                          decoding=["greedy", "self_consistency"], self_consistency={"samples": 3, "seed": 5})

    evaluation = evaluate_pair(model_dir, adapter, examples, PromptSpec(), spec)

    voted = evaluation.decodings["self_consistency"]
    assert evaluation.decoding.sampling is None and voted.decoding.sampling == spec.self_consistency
    assert all(row.base_vote is None and row.tuned_vote is None for row in evaluation.examples)
    assert [(row.base_vote.samples, row.tuned_vote.samples) for row in voted.examples] == [(3, 3)] * 3
    assert "execution_match" in voted.metrics and set(voted.throughput) == {"base", "tuned"}
    # every candidate's tokens are generated, so the batched pass counts more than the kept answers hold
    kept = voted.metrics["output_tokens"]
    assert voted.throughput["base"].tokens > kept.base * kept.n and voted.throughput["tuned"].tokens > kept.tuned * kept.n

    # the same seeds draw the same candidates, whichever place the mode has in the list
    alone = evaluate_pair(model_dir, adapter, examples, PromptSpec(), spec.model_copy(update={"decoding": ["self_consistency"]}))
    assert [(row.base, row.tuned, row.base_vote) for row in alone.examples] == \
        [(row.base, row.tuned, row.base_vote) for row in voted.examples]

    record = demo_results() | {"evaluation": evaluation.model_dump(mode="json")}
    run_dir = make_run_dir(tmp_path, record)
    write_reports(run_dir)
    assert results.load(run_dir).evaluation.decodings["self_consistency"].examples[0].tuned_vote.samples == 3
    report = (run_dir / "report.md").read_text()
    header = next(line for line in report.splitlines() if line.startswith("| Measure |") and "self_consistency" in line)
    assert "Base, greedy | Tuned, greedy | Base, self_consistency | Tuned, self_consistency |" in header
