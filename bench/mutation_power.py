"""How much wrong SQL each execution metric lets through, and what the test suite costs.

For a sample of built-in gold queries, every mutant from `bench.mutants` (meaning-changing, one
change each), up to 5 golds of other questions over the same schema (swapped golds) and every
rewrite (meaning-preserving) is scored by `execution_suite` (real database + neighbours) and by
`execution_match` (the real database alone). A wrong answer "killed" is one the metric rejects;
a rewrite rejected is a false rejection. Wrong answers that are the same query as the gold
(proven by the schema or by structure) are counted and set aside, and so are those that fail to
run (every metric rejects them). Cost: seconds per 100 answers once each gold's databases are
built (the first scoring of each gold, timed apart), both metrics timed answer by answer in
alternation; plus a demo-shaped run (two answers per example, as base and tuned) set against
the demo's evaluate stage.

`--schema-only`: the same on CREATE TABLE text alone, where `execution_suite` is the distilled
schema-only suite and `execution_match` one generated database: (a) the built-in golds with
their databases withheld, each answer also scored by the real-database suite (side by side, and
the cost reference, timed in alternation); (b) WikiSQL rows made schema-only the way
sql-create-context made them (`bench.wikisql_schema_only`, BSD-3-Clause).

`--schema-only --held-out`: an out-of-sample check of (a) and (b). The suites are distilled
against the very mutants the kill table then scores, so its per-kind rates are partly in-sample.
For each mutant kind with at least 20 judged mutants in a source's sample, that kind's mutants are
scored again by suites distilled without them (the product's `testsuite.mutants` wrapped, in this
process only, to drop the kind; a fresh `SqlMetric`, no disk cache, per kind), beside the kill
rate of suites distilled with them; swapped golds are never in the distillation. Survivors listed.

The Markdown report goes to stdout (progress to stderr); `--json PATH` also writes the numbers
(tests/test_sql_suite_*.py run this script and check them).

    .venv/bin/python -m bench.mutation_power --golds 300 --json bench/results/mutation-power.json
    .venv/bin/python -m bench.mutation_power --schema-only --golds 300
    .venv/bin/python -m bench.mutation_power --schema-only --held-out --golds 100
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from unittest import mock

from bench import common
from bench.mutants import MUTANT_KINDS, REWRITE_KINDS, SWAPPED_GOLD, Power, Tally, measure, mutants

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


def rate(killed: int, judged: int) -> str | None:
    return common.pct(killed / judged) if judged else None


def wrong_answer_kinds(power: Power) -> list[tuple[str, Tally]]:
    """One row per mutant kind, their total, then the swapped golds (a kind of their own)."""
    return (
        [(k, power.mutants[k]) for k in MUTANT_KINDS]
        + [("**all mutants**", Tally.total(power.mutants.values())), (SWAPPED_GOLD, power.swapped)]
    )


def power_numbers(power: Power) -> dict:
    """One source's tallies and the rates `--json` readers (the tests among them) check, as Power computes them."""
    return {**asdict(power), "kill_rate_suite": power.kill_rate("suite"), "kill_rate_single_db": power.kill_rate("single"),
            "swapped_kill_rate_suite": power.swapped_kill_rate("suite"), "false_rejections": power.false_rejections()}


def rewrites_accepted(powers: list[Power]) -> float | None:
    """1 when no rewrite (nor a gold itself) was rejected by the suite."""
    judged = sum(t.judged for p in powers for t in p.rewrites.values()) + sum(
        p.golds.scored - p.golds.uninformative for p in powers)
    return 1 - sum(p.false_rejections() for p in powers) / judged if judged else None


def real_database_report(args, pairs: list[dict]) -> None:
    sample = random.Random(args.seed).sample(pairs, args.golds)
    common.progress(f"scoring mutants, swapped golds and rewrites of {len(sample)} gold queries")
    power = measure(sample, seed=args.seed, pool=pairs)
    common.progress("demo-shaped cost: 100 examples, two answers each")
    demo = demo_shaped_cost(random.Random(args.seed + 1).sample(pairs, 100), args.seed)

    wrong_rows = [
        (k, t.variants, t.equivalent, t.invalid, t.judged, t.rejected_by_suite, rate(t.rejected_by_suite, t.judged),
         t.rejected_by_single_db, rate(t.rejected_by_single_db, t.judged))
        for k, t in wrong_answer_kinds(power)
    ]
    rewrite_rows = [
        (k, t.judged, t.rejected_by_suite, t.rejected_by_single_db) for k, t in ((k, power.rewrites[k]) for k in REWRITE_KINDS)
    ]
    suite, single = power.suite_time, power.reference_time
    cost_rows = [
        ("mutants + swapped golds + rewrites", suite.answers, suite.per_100_answers(), single.per_100_answers()),
        ("first scoring of each gold (its databases built), s each", suite.builds, suite.per_build(), single.per_build()),
        ("demo-shaped (2 answers per example)", demo["answers"], demo["per_100"]["suite"], demo["per_100"]["single"]),
    ]
    common.emit(
        args,
        "Mutation power of execution_suite vs execution_match",
        None,
        [
            ("Wrong answers: meaning-changing mutants and swapped golds", common.table(
                ["kind", "variants", "equivalent (set aside)", "fail to run (set aside)", "judged",
                 "killed by suite", "suite kill rate", "killed by single DB", "single-DB kill rate"], wrong_rows)),
            ("Rewrites (meaning-preserving): rejections are false", common.table(
                ["kind", "rewrites", "rejected by suite", "rejected by single DB"], rewrite_rows)
             + f"\n\nGolds scored as their own answer: {power.golds.scored}, uninformative {power.golds.uninformative}, "
             f"rejected {power.golds.rejected}."),
            ("Cost (seconds per 100 answers, suite and single DB timed in alternation)", common.table(
                ["workload", "answers", "suite s/100", "single DB s/100"], cost_rows)
             + f"\n\nAdded to the demo's evaluate stage ({DEMO_ANSWERS} answers, {DEMO_EVALUATE_S} s): "
             f"{demo['added_to_demo_s']:.2f} s ({common.pct(demo['share_of_demo_evaluate'])})."),
            ("Targets", common.targets_table([
                ("suite kill rate (≥ 0.95)", power.kill_rate("suite"), 0.95),
                ("rewrites accepted (1 = none falsely rejected)", rewrites_accepted([power]), 1.0),
                ("single-DB kill rate", power.kill_rate("single"), None),
                ("swapped golds killed by the suite", power.swapped_kill_rate("suite"), None),
            ])),
        ],
        {**power_numbers(power), "demo_shaped": demo},
    )


BUILTIN, WIKISQL = "built-in, databases withheld", "WikiSQL"


def share(part: int, whole: int) -> str | None:
    return common.pct(part / whole) if whole else None


def schema_only_wrong_answers(power: Power) -> str:
    """One source's kill table; the real-database suite's column where the pairs have databases."""
    headers = ["kind", "judged", "killed by suite (schema-only)", "kill rate", "killed by single generated DB",
               "kill rate"] + (["real-database suite kill rate (same answers)"] if power.reference else [])
    rows = [
        (k, t.judged, t.rejected_by_suite, rate(t.rejected_by_suite, t.judged), t.rejected_by_single_db,
         rate(t.rejected_by_single_db, t.judged)) + ((rate(t.rejected_by_reference, t.judged),) if power.reference else ())
        for k, t in wrong_answer_kinds(power)
    ]
    every = Tally.total([*power.mutants.values(), power.swapped])
    return (common.table(headers, rows) + f"\n\nSet aside: {every.equivalent} the same query as the gold, "
            f"{every.invalid} failing to run on the generated databases.")


def schema_only_rewrites(sources: dict[str, Power]) -> str:
    rows = []
    for name, power in sources.items():
        rows += [
            (name, k, t.judged, t.rejected_by_suite, t.rejected_by_single_db,
             t.rejected_by_reference if power.reference else None)
            for k, t in ((k, power.rewrites[k]) for k in REWRITE_KINDS)
        ]
        rows.append((name, "the gold itself", power.golds.scored - power.golds.uninformative, power.golds.rejected,
                     None, None))
    return common.table(["source", "kind", "judged", "rejected by suite (schema-only)",
                         "rejected by single generated DB", "rejected by real-database suite"], rows)


def uninformative(sources: dict[str, Power]) -> str:
    rows = [
        (name, p.golds.scored, p.golds.uninformative, share(p.golds.uninformative, p.golds.scored))
        + ((p.golds.uninformative_for_reference, share(p.golds.uninformative_for_reference, p.golds.scored))
           if p.reference else (None, None))
        for name, p in sources.items()
    ]
    return common.table(["source", "golds", "uninformative (schema-only)", "share", "uninformative (real database)",
                         "share"], rows)


def schema_only_cost(builtin: Power, wiki: Power) -> str:
    rows = [
        (name, suite, t.answers, t.per_100_answers(), t.builds, t.per_build())
        for name, suite, t in [(BUILTIN, "schema-only suite", builtin.suite_time),
                               (BUILTIN, "real-database suite", builtin.reference_time),
                               (WIKISQL, "schema-only suite", wiki.suite_time)]
    ]
    ratio = common.ratio(builtin.suite_time.per_100_answers(), builtin.reference_time.per_100_answers())
    return (common.table(["source", "suite", "answers", "s per 100 answers", "first builds", "s per first build"], rows)
            + "\n\nThe built-in suites score each answer back to back (timed in alternation). "
            f"Schema-only ÷ real-database suite, s per 100 warm answers on the same golds: "
            f"{'–' if ratio is None else f'{ratio:.2f}'} (target ≤ 2).")


def schema_only_targets(builtin: Power, wiki: Power) -> str:
    golds = [builtin.golds, wiki.golds]
    scored = sum(g.scored for g in golds)
    return common.targets_table([
        ("built-in: schema-only suite kill rate, mutants (≥ 0.97)", builtin.kill_rate("suite"), 0.97),
        ("WikiSQL: schema-only suite kill rate, mutants (≥ 0.97)", wiki.kill_rate("suite"), 0.97),
        ("built-in: swapped golds killed (≥ 0.99)", builtin.swapped_kill_rate("suite"), 0.99),
        ("WikiSQL: swapped golds killed (≥ 0.99)", wiki.swapped_kill_rate("suite"), 0.99),
        ("rewrites and golds accepted (1 = none falsely rejected)", rewrites_accepted([builtin, wiki]), 1.0),
        ("informative golds (≥ 0.98: uninformative ≤ 2%)",
         1 - sum(g.uninformative for g in golds) / scored if scored else None, 0.98),
        ("cost: real-database ÷ schema-only suite, warm (≥ 0.5: within 2×)",
         common.ratio(builtin.reference_time.per_100_answers(), builtin.suite_time.per_100_answers()), 0.5),
        ("built-in: single generated DB kill rate, mutants", builtin.kill_rate("single"), None),
        ("built-in: real-database suite kill rate, mutants", builtin.kill_rate("reference"), None),
    ])


def schema_only_samples(args, pairs: list[dict]):
    """(built-in sample, WikiSQL conversion, WikiSQL sample), `--golds` of each, seeded."""
    from bench import wikisql_schema_only

    sample = random.Random(args.seed).sample(pairs, args.golds)
    conversion = wikisql_schema_only.convert()
    wiki_sample = random.Random(args.seed).sample(conversion.pairs, min(args.golds, len(conversion.pairs)))
    return sample, conversion, wiki_sample


def schema_only_report(args, pairs: list[dict]) -> None:
    sample, conversion, wiki_sample = schema_only_samples(args, pairs)
    common.progress(f"schema-only: {len(sample)} built-in golds, databases withheld (real-database suite beside)")
    builtin = measure(sample, seed=args.seed, schema_only=True, pool=pairs)
    common.progress(f"schema-only: {len(wiki_sample)} WikiSQL golds")
    wiki = measure(wiki_sample, seed=args.seed, schema_only=True, pool=conversion.pairs)
    sources = {BUILTIN: builtin, WIKISQL: wiki}
    wiki_heading = (f"(b) WikiSQL, schema-only ({wiki.golds.scored} golds of {len(conversion.pairs)} converted; "
                    f"{conversion.rows} rows read, {conversion.not_read} not read, "
                    f"{conversion.not_running} not running on the empty schema)")
    common.emit(
        args,
        "Mutation power of the schema-only suite (execution_suite) vs one generated database (execution_match)",
        None,
        [
            (f"(a) Built-in golds, databases withheld ({builtin.golds.scored} golds)", schema_only_wrong_answers(builtin)),
            (wiki_heading, schema_only_wrong_answers(wiki)),
            ("Rewrites (meaning-preserving) and the golds themselves: rejections are false", schema_only_rewrites(sources)),
            ("Uninformative golds (execution_suite None on the gold itself)", uninformative(sources)),
            ("Cost (warm answers; each gold's first scoring builds its suite and is timed apart)",
             schema_only_cost(builtin, wiki)),
            ("Targets", schema_only_targets(builtin, wiki)),
        ],
        {"builtin": power_numbers(builtin), "wikisql": power_numbers(wiki),
         "wikisql_conversion": {"rows": conversion.rows, "not_read": conversion.not_read,
                                "not_running": conversion.not_running, "pairs": len(conversion.pairs)},
         "cost_ratio_schema_only_to_real_db": common.ratio(builtin.suite_time.per_100_answers(),
                                                           builtin.reference_time.per_100_answers())},
    )


HELD_OUT_MIN_JUDGED = 20  # a kind with fewer judged mutants in a source's sample is not held out
SURVIVORS_SHOWN = 3


@dataclass
class LeftOut:
    """Mutants of the held-out kind the wrapped generator dropped from distillation."""

    mutants: int = 0


@contextlib.contextmanager
def held_out_of_distillation(kind: str) -> Iterator[LeftOut]:
    """While inside, schema-only suites are distilled without mutants of `kind`: the name
    `harness.evaluate.sql.testsuite` imported (`mutants`) is wrapped to drop them. Nothing under
    harness/ changes; the scored mutants come from `bench.mutants`, which is not wrapped."""
    from harness.evaluate.sql import testsuite

    every_kind = testsuite.mutants
    left_out = LeftOut()

    def without_kind(tree, tables):
        generated = every_kind(tree, tables)
        kept = [m for m in generated if m.kind != kind]
        left_out.mutants += len(generated) - len(kept)
        return kept

    with mock.patch.object(testsuite, "mutants", without_kind):
        yield left_out


def held_out_source(name: str, sample: list[dict], pool: list[dict], seed: int) -> dict:
    """One source: every variant scored by suites distilled with every kind (a fresh `SqlMetric`
    in `measure`), then, per kind with enough judged mutants, that kind's mutants scored by suites
    distilled without it (again a fresh `SqlMetric`: no suite of another run is reused)."""
    common.progress(f"held-out: {name}, {len(sample)} golds, suites distilled with every kind")
    with_all = measure(sample, seed=seed, schema_only=True, pool=pool)
    rows = []
    for kind in MUTANT_KINDS:
        with_kind = with_all.mutants[kind]
        row = {"kind": kind, "judged": with_kind.judged, "killed_with_kind": with_kind.rejected_by_suite,
               "kill_rate_with_kind": with_kind.rejected_by_suite / with_kind.judged if with_kind.judged else None,
               "judged_held_out": None, "killed_held_out": None, "kill_rate_held_out": None,
               "left_out_of_distillation": None, "survivors_held_out": []}
        if with_kind.judged >= HELD_OUT_MIN_JUDGED:
            common.progress(f"held-out: {name}, {kind} ({with_kind.judged} judged) left out of distillation")
            with held_out_of_distillation(kind) as left_out:
                held = measure(sample, seed=seed, schema_only=True, pool=pool, kinds=(kind,))
            tally = held.mutants[kind]
            row.update(judged_held_out=tally.judged, killed_held_out=tally.rejected_by_suite,
                       kill_rate_held_out=tally.rejected_by_suite / tally.judged if tally.judged else None,
                       left_out_of_distillation=left_out.mutants,
                       survivors_held_out=[{"gold": gold, "mutant": sql} for _, gold, sql in held.survivors])
        rows.append(row)
    return {"golds": with_all.golds.scored, "uninformative": with_all.golds.uninformative, "rows": rows,
            "swapped_gold": asdict(with_all.swapped),
            "survivors_with_kind": [{"kind": k, "gold": g, "mutant": m} for k, g, m in with_all.survivors]}


def held_out_table(source: dict) -> str:
    rows = [
        (r["kind"], r["judged"], r["killed_with_kind"], common.pct(r["kill_rate_with_kind"]), r["killed_held_out"],
         common.pct(r["kill_rate_held_out"]), r["left_out_of_distillation"])
        for r in source["rows"]
    ]
    held = [r for r in source["rows"] if r["judged_held_out"] is not None]
    with_kind = sum(r["killed_with_kind"] for r in held)
    killed = sum(r["killed_held_out"] for r in held)
    judged, judged_held_out = sum(r["judged"] for r in held), sum(r["judged_held_out"] for r in held)
    rows.append(("**kinds held out**", judged, with_kind, rate(with_kind, judged), killed,
                 rate(killed, judged_held_out), sum(r["left_out_of_distillation"] for r in held)))
    swapped = source["swapped_gold"]
    notes = [(f"Kinds with fewer than {HELD_OUT_MIN_JUDGED} judged mutants are not held out (–). "
              f"Swapped golds (never in the distillation): {swapped['rejected_by_suite']} of {swapped['judged']} "
              f"killed ({rate(swapped['rejected_by_suite'], swapped['judged'])}). "
              f"Golds: {source['golds']}, uninformative {source['uninformative']}. "
              "K mutants left out: those the wrapped generator dropped over the sample's suite builds, the ones "
              "this bench sets aside as equivalent included (hence more than judged for distinct_toggled).")]
    differ = [f"{r['kind']} {r['judged_held_out']}" for r in held if r["judged_held_out"] != r["judged"]]
    if differ:
        notes.append("Judged with the kind held out, where it differs (rates use it): " + ", ".join(differ) + ".")
    return common.table(
        ["kind", "judged", "killed (distilled with K)", "kill rate", "killed (K held out of distillation)",
         "kill rate", "K mutants left out of distillation"], rows) + "\n\n" + " ".join(notes)


def held_out_survivors(sources: dict[str, dict]) -> str:
    rows = [
        (name, r["kind"], f"{len(r['survivors_held_out'])} of {r['judged_held_out']}", s["gold"], s["mutant"])
        for name, source in sources.items()
        for r in source["rows"]
        for s in r["survivors_held_out"][:SURVIVORS_SHOWN]
    ]
    if not rows:
        return "None: every held-out kind's mutants were all killed."
    return common.table(["source", "kind", "survivors", "gold", "mutant accepted"], rows)


def held_out_report(args, pairs: list[dict]) -> None:
    sample, conversion, wiki_sample = schema_only_samples(args, pairs)
    sources = {
        BUILTIN: held_out_source(BUILTIN, sample, pairs, args.seed),
        WIKISQL: held_out_source(WIKISQL, wiki_sample, conversion.pairs, args.seed),
    }
    common.emit(
        args,
        "Schema-only suite: kill rate per mutant kind with the kind held out of distillation",
        None,
        [
            *((f"({letter}) {name} ({source['golds']} golds)", held_out_table(source))
              for letter, (name, source) in zip("ab", sources.items())),
            (f"Survivors with the kind held out (up to {SURVIVORS_SHOWN} per kind)", held_out_survivors(sources)),
        ],
        {"min_judged": HELD_OUT_MIN_JUDGED, "builtin": sources[BUILTIN], "wikisql": sources[WIKISQL]},
    )


def main() -> None:
    p = common.parser("Mutation testing of the SQL execution metrics", threads=False)
    p.add_argument("--golds", type=int, default=300, help="gold queries sampled (per source with --schema-only)")
    p.add_argument("--seed", type=int, default=0, help="sample and neighbour seed")
    p.add_argument("--schema-only", action="store_true",
                   help="score on CREATE TABLE text alone: built-in golds without their databases, and WikiSQL")
    p.add_argument("--held-out", action="store_true",
                   help="with --schema-only: each mutant kind's kill rate when the suites are distilled without it")
    args = p.parse_args()
    if args.held_out and not args.schema_only:
        p.error("--held-out needs --schema-only (it holds mutant kinds out of the schema-only suites' distillation)")

    from harness.data import builtin_sql

    pairs = builtin_sql.load(seed=0)
    if args.held_out:
        held_out_report(args, pairs)
    elif args.schema_only:
        schema_only_report(args, pairs)
    else:
        real_database_report(args, pairs)


if __name__ == "__main__":
    main()
