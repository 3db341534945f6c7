"""Greedy vs schema-constrained decoding on SmolLM2-135M (base): execution accuracy and ms/token.

The demo's test questions, rendered with the demo's prompt, go through the evaluator's own
`run_model` once per decoding mode (same batches, same max new tokens), so the numbers are the
ones a run with `evaluation.decoding: [greedy, constrained]` records. Printed per mode: the SQL
metrics' means, the outcome classes, and the batched ms per generated token; then the ratios.
Timings on a shared machine move; the two modes run back to back in one process.

    python -m bench.constrained_decoding --questions 30 --json constrained.json
"""

from __future__ import annotations

from bench import common

KEYS = ("execution_suite", "execution_match", "valid_sql", "outcome_no_sql", "outcome_parse_error",
        "outcome_unknown_name", "outcome_runtime_error", "outcome_wrong_result", "outcome_correct")


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--questions", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-new-tokens", type=int, default=64)
    args = p.parse_args()
    common.quiet_libraries()
    import torch

    from harness.evaluate.model_run import run_model
    from harness.evaluate.scorers import build_metrics
    from harness.spec import EvaluationSpec

    torch.set_num_threads(args.threads)
    model_dir, splits, prompt = common.sql_workload(test=args.questions)
    spec = EvaluationSpec(metrics=["sql"], batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
                          decoding=["greedy", "constrained"])
    record = {"questions": len(splits.test)}
    for mode in spec.decoding:
        common.progress(f"{mode}: {len(splits.test)} questions")
        run = run_model(model_dir, None, splits.test, prompt, spec, build_metrics(spec.metrics),
                        time_queries=False, decoding=mode, score_gold=False)
        means = {key: sum(v or 0 for v in run.scores[key]) / len(run.scores[key]) for key in KEYS}
        tokens = sum(run.output_tokens)
        record[mode] = {**means, "tokens": tokens, "seconds": run.batched_seconds,
                        "ms_per_token": 1000 * run.batched_seconds / max(tokens, 1),
                        "cut_at_limit": sum(n >= args.max_new_tokens for n in run.output_tokens)}
        print(mode, {k: round(v, 3) if isinstance(v, float) else v for k, v in record[mode].items()}, flush=True)
    greedy, constrained = record["greedy"], record["constrained"]
    summary = (f"ms/token constrained/greedy: {constrained['ms_per_token'] / greedy['ms_per_token']:.2f}; "
               f"execution_suite {greedy['execution_suite']:.1%} -> {constrained['execution_suite']:.1%}; "
               f"valid_sql {greedy['valid_sql']:.1%} -> {constrained['valid_sql']:.1%}")
    common.emit(args, "Greedy vs constrained decoding (SmolLM2-135M base)", None, [("Ratios", summary)], record)


if __name__ == "__main__":
    main()
