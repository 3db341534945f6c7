"""How much wrong SQL each execution metric lets through, and what the test suite costs.

For a sample of built-in gold queries, every mutant from `bench.mutants` (meaning-changing, one
change each) and every rewrite (meaning-preserving) is scored by `execution_suite` (real
database + neighbours) and by `execution_match` (the real database alone). A mutant "killed"
is one the metric rejects; a rewrite rejected is a false rejection. Mutants the schema proves
equivalent are counted and set aside, mutants that fail to run are counted and set aside
(every metric rejects them). Cost: seconds per 100 answers, both metrics timed answer by answer
in alternation; plus a demo-shaped run (two answers per example, as base and tuned) set against
the demo's evaluate stage.

    .venv/bin/python -m bench.mutation_power --golds 300 --json bench/results/mutation-power.json
"""

from __future__ import annotations

import random
import time

from bench import common
from bench.mutants import MUTANT_KINDS, REWRITE_KINDS, measure, mutants

DEMO_EVALUATE_S, DEMO_ANSWERS = 284.4, 200  # bench/README.md "Whole run": 100 questions x 2 models


def demo_shaped_cost(pairs: list[dict], seed: int) -> dict:
    """Seconds per 100 answers when each example is scored twice (base and tuned answers)."""
    from harness.data.records import Example
    from harness.evaluate.sql import SqlMetric

    suite, single = SqlMetric(seed=seed), SqlMetric(seed=seed, n_neighbours=0)
    seconds = {"suite": 0.0, "single": 0.0}
    answers = 0
    for pair in pairs:
        example = Example(pair["id"], pair["question"], pair["sql"], {"db_path": pair["db_path"]})
        wrong = next(iter(mutants(pair["sql"], pair["db_path"])), None)
        for answer in (pair["sql"], wrong.sql if wrong else pair["sql"]):
            for name, metric in (("suite", suite), ("single", single)):
                start = time.perf_counter()
                metric.score(answer, example)
                seconds[name] += time.perf_counter() - start
            answers += 1
    per_100 = {k: 100 * v / answers for k, v in seconds.items()}
    added = (per_100["suite"] - per_100["single"]) * DEMO_ANSWERS / 100
    return {"answers": answers, "per_100": per_100, "added_to_demo_s": added, "share_of_demo_evaluate": added / DEMO_EVALUATE_S}


def main() -> None:
    p = common.parser("Mutation testing of the SQL execution metrics", threads=False)
    p.add_argument("--golds", type=int, default=300, help="built-in gold queries sampled")
    p.add_argument("--seed", type=int, default=0, help="sample and neighbour seed")
    args = p.parse_args()

    from harness.data import builtin_sql

    pairs = builtin_sql.load(seed=0)
    sample = random.Random(args.seed).sample(pairs, args.golds)
    common.progress(f"scoring mutants and rewrites of {len(sample)} gold queries")
    power = measure(sample, seed=args.seed)
    common.progress("demo-shaped cost: 100 examples, two answers each")
    demo = demo_shaped_cost(random.Random(args.seed + 1).sample(pairs, 100), args.seed)

    def rate(killed: int, judged: int) -> str | None:
        return common.pct(killed / judged) if judged else None

    mutant_rows = [
        (k, t.variants, t.equivalent, t.invalid, t.judged, t.rejected_by_suite, rate(t.rejected_by_suite, t.judged),
         t.rejected_by_single_db, rate(t.rejected_by_single_db, t.judged))
        for k, t in ((k, power.mutants[k]) for k in MUTANT_KINDS)
    ]
    total = {f: sum(getattr(t, f) for t in power.mutants.values()) for f in vars(next(iter(power.mutants.values())))}
    mutant_rows.append(
        ("**all**", total["variants"], total["equivalent"], total["invalid"], total["judged"], total["rejected_by_suite"],
         common.pct(power.kill_rate("suite")), total["rejected_by_single_db"], common.pct(power.kill_rate("single")))
    )
    rewrite_rows = [
        (k, t.judged, t.rejected_by_suite, t.rejected_by_single_db) for k, t in ((k, power.rewrites[k]) for k in REWRITE_KINDS)
    ]
    per_100 = {"suite": 100 * power.seconds_suite / power.answers_scored, "single": 100 * power.seconds_single_db / power.answers_scored}
    cost_rows = [
        ("mutants + rewrites", power.answers_scored, per_100["suite"], per_100["single"]),
        ("demo-shaped (2 answers per example)", demo["answers"], demo["per_100"]["suite"], demo["per_100"]["single"]),
    ]
    common.emit(
        args,
        "Mutation power of execution_suite vs execution_match",
        None,
        [
            ("Mutants (meaning-changing)", common.table(
                ["kind", "mutants", "equivalent (set aside)", "fail to run (set aside)", "judged",
                 "killed by suite", "suite kill rate", "killed by single DB", "single-DB kill rate"], mutant_rows)),
            ("Rewrites (meaning-preserving): rejections are false", common.table(
                ["kind", "rewrites", "rejected by suite", "rejected by single DB"], rewrite_rows)),
            ("Cost (seconds per 100 answers, suite and single DB timed in alternation)", common.table(
                ["workload", "answers", "suite s/100", "single DB s/100"], cost_rows)
             + f"\n\nAdded to the demo's evaluate stage ({DEMO_ANSWERS} answers, {DEMO_EVALUATE_S} s): "
             f"{demo['added_to_demo_s']:.2f} s ({common.pct(demo['share_of_demo_evaluate'])})."),
            ("Targets", common.targets_table([
                ("suite kill rate (≥ 0.95)", power.kill_rate("suite"), 0.95),
                ("rewrites accepted (1 = none falsely rejected)",
                 1 - power.false_rejections() / max(sum(t.judged for t in power.rewrites.values()), 1), 1.0),
                ("single-DB kill rate", power.kill_rate("single"), None),
            ])),
        ],
        {"mutants": {k: vars(t) for k, t in power.mutants.items()}, "rewrites": {k: vars(t) for k, t in power.rewrites.items()},
         "kill_rate_suite": power.kill_rate("suite"), "kill_rate_single_db": power.kill_rate("single"),
         "false_rejections": power.false_rejections(), "seconds_per_100": per_100, "demo_shaped": demo},
    )


if __name__ == "__main__":
    main()
