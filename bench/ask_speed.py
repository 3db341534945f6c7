"""`harness ask` speed on a finished run: seconds to load the model, and seconds per question after the
load, for the run's own test questions asked of their databases with the SQL executed (as `--db`
does); the tuned model alone, then with `--base` (two models loaded, both answer each question).

Everything goes through `harness.ask` (`Asker`, `Asker.ask`), so the numbers are the command's own
minus its Python imports; one CLI call, timed from process start to exit, shows those too. The first
question after a load is timed apart (first touch of the weights, allocations): the per-question
figures are the questions after it. The issue's target: ≤ 1.5 s per question after the load on a
2-core CPU for the demo's short answers.

Example (from the repo root, on the demo's run):
    .venv/bin/python -m bench.ask_speed runs/sqlcoder --json bench/results/ask-speed.json > bench/results/ask-speed.md
"""

from __future__ import annotations

import gc
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import common, machine

TARGET_S_PER_QUESTION = 1.5
MODES = {"tuned": False, "tuned + base": True}  # mode -> whether the base model answers too


@dataclass(frozen=True)
class Timed:
    """One question as the benchmark saw it: the whole `ask` call and each model's reply."""

    question: str
    seconds: float
    tuned_seconds: float
    base_seconds: float | None
    sql: str | None
    ran: bool  # its SQL ran on the database and returned rows


def run_questions(run_dir: Path, count: int):
    """(question, database) for the run's first `count` test examples that carry a question column."""
    from harness import ask, runs
    from harness.data import load_splits
    from harness.spec import load_spec

    spec = load_spec(runs.spec_path(run_dir))
    picked = []
    for example in load_splits(spec.data, spec.base_dir)[0].test:
        question = example.meta.get(spec.data.question_column)
        if question is None:
            continue
        db_path, schema = example.meta.get("db_path"), example.meta.get("schema")
        database = ask.Database(path=Path(db_path)) if db_path else ask.Database(schema=schema) if schema else None
        picked.append((str(question), database))
        if len(picked) == count:
            return picked
    if not picked:
        raise SystemExit(f"{run_dir}: its test examples have no '{spec.data.question_column}' column to ask")
    return picked


def measure(run_dir: Path, questions, with_base: bool) -> dict:
    from harness.ask import Asker

    started = time.perf_counter()
    asker = Asker(run_dir, base=with_base)
    opened = time.perf_counter() - started
    timed = []
    for question, database in questions:
        started = time.perf_counter()
        answer = asker.ask(question, database)
        timed.append(Timed(question=question, seconds=time.perf_counter() - started, tuned_seconds=answer.tuned.seconds,
                           base_seconds=answer.base.seconds if answer.base else None, sql=answer.tuned.sql,
                           ran=bool(answer.tuned.result and answer.tuned.result.rows is not None)))
    load_seconds = asker.load_seconds
    del asker
    gc.collect()
    first, *after = timed
    return {
        "load_seconds": load_seconds,
        "open_seconds": opened,  # the Asker as a whole: results, spec, model resolution and the loads
        "first_question_seconds": first.seconds,
        "per_question": common.summarize([t.seconds for t in after]),
        "tuned_reply": common.summarize([t.tuned_seconds for t in after]),
        "base_reply": common.summarize([t.base_seconds for t in after]),
        "questions": [asdict(t) for t in timed],
    }


def cli_seconds(run_dir: Path, question: str, database) -> float:
    """One `harness ask` process, start to exit: imports, load, one question, its rows printed."""
    argv = [str(Path(sys.executable).parent / "harness"), "ask", str(run_dir), question]
    if database is not None and database.path:
        argv += ["--db", str(database.path)]
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def results_table(results: dict, cli_s: float) -> str:
    rows = [
        (mode, r["load_seconds"], r["first_question_seconds"], r["per_question"]["mean"], r["per_question"]["p50"],
         r["per_question"]["max"], r["tuned_reply"]["mean"], r["base_reply"]["mean"],
         f"{sum(q['ran'] for q in r['questions'])}/{len(r['questions'])}")
        for mode, r in results.items()
    ]
    rows.append(("CLI, one question (process start to exit)", None, None, cli_s, None, None, None, None, None))
    return common.table(["mode", "model load (s)", "first question (s)", "per question mean (s)", "p50 (s)", "max (s)",
                         "tuned reply mean (s)", "base reply mean (s)", "tuned SQL ran"], rows)


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path, help="a finished run directory, or a project's runs folder (its newest run)")
    p.add_argument("--questions", type=int, default=10, help="questions timed after the first (warm-up) one")
    args = p.parse_args()

    machine.set_threads(args.threads)
    common.quiet_libraries()
    facts = machine.facts()

    from harness.ask import find_run

    run_dir = find_run(args.run_dir)
    questions = run_questions(run_dir, args.questions + 1)
    results = {}
    for mode, with_base in MODES.items():
        common.progress(f"[ask_speed] {mode}: {len(questions)} questions ...")
        results[mode] = measure(run_dir, questions, with_base)
    common.progress("[ask_speed] one CLI call ...")
    cli_s = cli_seconds(run_dir, *questions[0])

    notes = (f"Run {run_dir}; {len(questions) - 1} of its test questions timed after a first one, each asked of its own "
             f"database with the SQL executed; {args.threads} torch threads. Per question: the whole `Asker.ask` call "
             "(prompt, generation, SQL execution); with `--base` both models answer. The CLI row adds Python's imports "
             "and the load to one question.")
    target = [(f"{TARGET_S_PER_QUESTION:g} s ÷ tuned seconds per question after the load",
               common.ratio(TARGET_S_PER_QUESTION, results["tuned"]["per_question"]["mean"]), 1.0)]
    common.emit(args, "harness ask speed", facts,
                [("Load and seconds per question", results_table(results, cli_s) + "\n\n" + notes),
                 ("Target", common.targets_table(target))],
                {"run_dir": str(run_dir), "results": results, "cli_one_question_seconds": cli_s})


if __name__ == "__main__":
    main()
