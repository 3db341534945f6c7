"""Base and tuned runs -> the typed `Evaluation` record: paired intervals, Holm, breakdowns, examples."""

from __future__ import annotations

from collections import Counter

from harness import metrics as registry
from harness.data.records import Example
from harness.evaluate.decoding import MODES
from harness.evaluate.model_run import ModelRun
from harness.evaluate.stats import CONFIDENCE, bootstrap, comparison, distribution, holm, perplexity
from harness.evaluate.verdict import verdict
from harness.results import (
    BreakdownGroup,
    Decoding,
    Evaluation,
    ExampleRow,
    Latency,
    QueryTiming,
    Throughput,
    mean_present,
)
from harness.spec import EvaluationSpec


def compare_runs(base: ModelRun, tuned: ModelRun, examples: list[Example], spec: EvaluationSpec,
                 decoding: str = "greedy", dtype: str = "float32") -> Evaluation:
    boot = {"n_resamples": spec.bootstrap_resamples, "seed": 0}
    boots = {key: bootstrap(base.scores[key], tuned.scores[key], **boot) for key in base.scores}
    boots["output_tokens"] = bootstrap(base.output_tokens, tuned.output_tokens, **boot)
    if base.answer_nll:
        for key, attr in (("perplexity_answer", "answer_nll"), ("perplexity_sequence", "sequence_nll")):
            boots[key] = bootstrap(getattr(base, attr), getattr(tuned, attr), statistic=perplexity, **boot)
    if base.latency:
        base_series, tuned_series = _timing_series(base.latency), _timing_series(tuned.latency)
        for key in base_series:
            boots[f"latency_{key}"] = bootstrap(base_series[key], tuned_series[key], **boot)
    metrics = {key: comparison(b, CONFIDENCE, spec.bootstrap_resamples) for key, b in boots.items()}
    for key, interval in holm({key: boots[key] for key in registry.accuracy_family(boots)}, CONFIDENCE).items():
        metrics[key].adjusted = interval
    return Evaluation(
        n=len(examples),
        decoding=Decoding(strategy=decoding, sampling=MODES[decoding].sampling(spec), max_new_tokens=spec.max_new_tokens,
                          batch_size=spec.batch_size, stops_at_final_answer=spec.stop_at_final_answer, dtype=dtype),
        metrics=metrics,
        verdict=verdict(metrics, CONFIDENCE),
        throughput={
            name: Throughput(seconds=run.batched_seconds, tokens_per_s=run.batched_tokens_per_s, tokens=run.generated_tokens,
                             cut_at_limit=run.cut_at_limit)
            for name, run in (("base", base), ("tuned", tuned))
        },
        latency={
            name: Latency(
                queries=run.latency,
                **{key: distribution(values) for key, values in _timing_series(run.latency).items()},
                batch1_tokens_per_s=sum(q.output_tokens for q in run.latency) / max(sum(q.total_s for q in run.latency), 1e-9),
            )
            for name, run in (("base", base), ("tuned", tuned))
            if run.latency
        },
        breakdown=_breakdown(base, tuned, examples, spec.breakdown),
        judged_by=dict(Counter(basis for basis in base.judged_by if basis is not None)),
        examples=[
            ExampleRow(
                id=ex.id,
                prompt=ex.prompt,
                gold=ex.answer,
                base=b_out,
                tuned=t_out,
                meta={k: ex.meta[k] for k in spec.breakdown if k in ex.meta},
                base_scores={k: v[i] for k, v in base.scores.items()},
                tuned_scores={k: v[i] for k, v in tuned.scores.items()},
                judged_by=base.judged_by[i],
                base_vote=base.votes[i],
                tuned_vote=tuned.votes[i],
            )
            for i, (ex, b_out, t_out) in enumerate(zip(examples, base.outputs, tuned.outputs))
        ],
    )


def _timing_series(queries: list[QueryTiming]) -> dict[str, list[float | None]]:
    """Each batch-1 timing across the queries, by its `Latency` field name."""
    return {
        "total_s": [q.total_s for q in queries],
        "ttft_s": [q.ttft_s for q in queries],
        "tpot_s": [q.tpot_s for q in queries],
    }


def _breakdown(base: ModelRun, tuned: ModelRun, examples: list[Example], columns: list[str]) -> dict[str, dict[str, BreakdownGroup]]:
    """Mean of each score per value of each meta column (e.g. per category), base and tuned."""
    out: dict[str, dict] = {}
    for column in columns:
        values = sorted({str(ex.meta[column]) for ex in examples if column in ex.meta})
        if not values:
            continue
        out[column] = {}
        for value in values:
            idx = [i for i, ex in enumerate(examples) if str(ex.meta.get(column)) == value]
            out[column][value] = BreakdownGroup(
                n=len(idx),
                **{
                    side: {key: mean_present([scores[i] for i in idx]) for key, scores in run.scores.items()}
                    for side, run in (("base", base), ("tuned", tuned))
                },
            )
    return out
