"""`harness` command line: a thin shell over harness.pipeline. User errors: one line, exit 2."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harness import runs
from harness.ask import DECODINGS
from harness.errors import UserError

if TYPE_CHECKING:
    from harness.results import TrackingOutcome


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    from harness.console import attached

    try:
        with attached(args.verbose):
            return args.func(args) or 0
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _validate(args) -> int:
    import time

    started = time.perf_counter()  # before the imports: they are most of what validate costs
    from harness.data import schema_sources
    from harness.preflight import preflight
    from harness.spec import load_spec

    spec = load_spec(args.spec)
    checked = preflight(spec)
    data = checked.data_info
    search = "no search" if spec.search is None or not spec.search.enabled else f"search over {', '.join(spec.search.space) or 'nothing'}"
    models = ", ".join(spec.sweep_specs()) if spec.model.sources else spec.model.source
    print(f"{args.spec}: ok in {time.perf_counter() - started:.1f} s (project {spec.project}, model {models}, "
          f"data {spec.data.source}: {data.train}/{data.valid}/{data.test} train/valid/test rows, {search})")
    if "sql" in spec.evaluation.metrics:  # where each evaluated set's execution verdict comes from
        evaluated = [("test", checked.splits.test), *checked.splits.evaluation_only.items(), *checked.benchmarks.items()]
        for name, examples in evaluated:
            print(f"  {name} ({len(examples)} row{'s' * (len(examples) != 1)}): {schema_sources(examples).describe()}")
    return 0


def _run(args) -> int:
    from harness.pipeline import run
    from harness.report import build_view
    from harness.spec import load_spec

    spec = load_spec(args.spec)
    if spec.model.sources:
        return _run_sweep(spec, args)
    run_dir = run(spec, Path(args.runs_dir) if args.runs_dir else None)
    view = build_view(run_dir)
    md, html, _ = (run_dir / name for name in runs.REPORT_FILES)
    print(f"verdict: {view.headline.verdict}")
    print(f"report:  {html}\n         {md}")
    if view.provenance.tracking:
        print(f"tracking: {view.provenance.tracking}")
    return 0


def _join(args) -> int:
    from harness.pipeline import join_training
    from harness.spec import load_spec

    join_training(load_spec(args.spec), args.machine_rank)
    print(f"machine {args.machine_rank}: training finished; machine 0 holds the run")
    return 0


def _run_sweep(spec, args) -> int:
    """Exit 1 when a model failed: the leaderboard holds its error, the others' rows still count."""
    from harness import sweep

    board = sweep.run(spec, Path(args.runs_dir) if args.runs_dir else None)
    for row in board.failed:
        print(f"failed: {row.name}: {row.error}")
    md, html = (board.sweep_dir / name for name in runs.LEADERBOARD_REPORTS)
    print(f"{len(board.rows) - len(board.failed)} of {len(board.rows)} models finished")
    print(f"leaderboard: {html}\n             {md}")
    _print_tracking(board.tracking)
    return 1 if board.failed else 0


def _search(args) -> int:
    from harness.pipeline import search_only
    from harness.spec import load_spec

    study = search_only(load_spec(args.spec), Path(args.runs_dir) if args.runs_dir else None, args.trials, args.storage,
                        args.parallel)
    print(f"study {study.study_name} ({study.storage}): {', '.join(f'{n} {state}' for state, n in study.counts.items())}")
    for t in study.trials:
        print(f"  trial {t.number:>3} {t.state:<8} {t.params} -> {t.values}")
    print(f"best: trial {study.best_trial} {study.best_params} -> {study.best_values}")
    return 0


def _eval(args) -> int:
    from harness.pipeline import evaluate_adapter, evaluate_run
    from harness.results import load_eval
    from harness.spec import load_spec

    if args.spec:
        if not args.adapter:
            raise UserError("harness eval --spec needs --adapter DIR (the LoRA adapter to compare with the base)")
        path = evaluate_adapter(load_spec(args.spec), Path(args.adapter), Path(args.out or "."))
    else:
        if not args.run_dir:
            raise UserError("harness eval needs a run directory, or --spec SPEC --adapter DIR")
        path = evaluate_run(Path(args.run_dir))
    print(f"done: {path}")
    _print_tracking(load_eval(path).tracking)
    return 0


def _score(args) -> int:
    from harness.evaluate.answers import summary_lines
    from harness.pipeline import score_answers_file
    from harness.spec import load_spec

    path, record = score_answers_file(load_spec(args.spec), Path(args.answers), Path(args.out or "."))
    print("\n".join(summary_lines(record)))
    print(f"wrote {path}")
    _print_tracking(record.tracking)
    return 0


def _print_tracking(outcome: TrackingOutcome | None) -> None:
    """Which trackers got the numbers (or when and why one failed), as `harness run` says it."""
    if outcome is not None:
        print(f"tracking: {outcome.summary}")


def _report(args) -> int:
    from harness.report import write_leaderboard, write_reports

    run_dir = Path(args.run_dir)
    is_sweep = runs.leaderboard_path(run_dir).is_file()
    if is_sweep:
        paths = write_leaderboard(run_dir)
    else:
        from harness import card

        paths = write_reports(run_dir)
        if (run_dir / runs.ADAPTER_DIR).is_dir():
            paths.append(card.write_for_run(run_dir))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _export(args) -> int:
    from harness.export import export

    done = export(Path(args.run_dir), Path(args.out), args.format, args.dtype)
    print(f"exported the {done.describe()} to {done.folder}")
    return 0


def _push(args) -> int:
    from harness.push import push

    pushed = push(Path(args.run_dir), args.repo, private=args.private, what=args.what)
    print(f"pushed the {pushed.describe()} to {pushed.repo_url} ({pushed.commit_url})")
    return 0


def _ask(args) -> int:
    """Answers are the output (--json: one object per line), so progress lines stay out of stdout."""
    from rich.console import Console

    from harness import ask, progress

    given = Path(args.run_dir)
    run_dir = ask.find_run(given)
    if run_dir != given:
        print(f"run: {run_dir} (the newest finished run in {given})", file=sys.stderr)
    if args.db and args.schema:
        raise UserError("--db and --schema: give one (a SQLite file to run the SQL on, or CREATE TABLE text without rows)")
    database = ask.open_database(args.db) if args.db else ask.read_schema(Path(args.schema)) if args.schema else None
    ask.check_decoding(args.decoding, database)  # before the model loads
    asker = ask.Asker(run_dir, base=args.base, decoding=args.decoding, execute=not args.no_execute)
    print(f"model loaded in {asker.load_seconds:.1f} s", file=sys.stderr)
    console = Console(highlight=False)
    echo = args.question is None and not sys.stdin.isatty()  # piped questions: say which answer is which
    previous = progress.install(progress.Listener())
    try:
        for question in [args.question] if args.question is not None else ask.questions():
            answer = asker.ask(question, database)
            if args.json:
                print(answer.to_json(), flush=True)
                continue
            if echo:
                console.print(f"{ask.PROMPT}{question}", markup=False)
            console.print(ask.view(answer))
    finally:
        progress.install(previous)
    return 0


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description="Declarative LLM fine-tuning: train, search, evaluate, report.")
    verbosity = argparse.ArgumentParser(add_help=False)
    verbosity.add_argument("-v", "--verbose", action="store_true",
                           help="also show the libraries' logs (always in the run's logs/run.log)")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check a spec without running it", parents=[verbosity])
    p.add_argument("spec")
    p.set_defaults(func=_validate)

    p = sub.add_parser("run", help="run a spec end to end (search, train, evaluate, report)", parents=[verbosity])
    p.add_argument("spec")
    p.add_argument("--runs-dir", help="where run directories go (default: the spec's runs_dir, 'runs')")
    p.set_defaults(func=_run)

    p = sub.add_parser("join", help="train on this machine as one more machine of a run's training (compute.machines > 1)",
                       parents=[verbosity])
    p.add_argument("spec")
    p.add_argument("--machine-rank", type=int, required=True, help="this machine's rank, 1 to compute.machines - 1")
    p.set_defaults(func=_join)

    for name, text in (("search", "run (or resume) the spec's hyperparameter search only"),
                       ("worker", "join a shared study (--storage URL) as one more worker")):
        p = sub.add_parser(name, help=text, parents=[verbosity])
        p.add_argument("spec")
        p.add_argument("--storage", help="Optuna storage URL, e.g. postgresql://user:pw@host/db (default: spec's)")
        p.add_argument("--trials", type=int, help="stop when the study holds this many finished trials")
        p.add_argument("--parallel", type=_positive, help="trial workers on this machine, one per GPU (default: the spec's search.parallel)")
        p.add_argument("--runs-dir", help="where the search area lives (default: the spec's runs_dir)")
        p.set_defaults(func=_search)

    p = sub.add_parser("eval", help="evaluate base vs tuned for a run directory or a base/adapter pair", parents=[verbosity])
    p.add_argument("run_dir", nargs="?")
    p.add_argument("--spec", help="spec giving the base model, data and evaluation settings")
    p.add_argument("--adapter", help="PEFT adapter directory to compare with the base")
    p.add_argument("--out", help=f"where {runs.EVAL} goes with --spec (default: current directory)")
    p.set_defaults(func=_eval)

    p = sub.add_parser("score", help="score answers produced elsewhere with a spec's metrics and data", parents=[verbosity])
    p.add_argument("answers", help='JSON Lines, one {"id" or "question": ..., "answer": ...} per line')
    p.add_argument("--spec", required=True, help="spec giving the data, benchmarks and metrics")
    p.add_argument("--out", help=f"where {runs.SCORE} goes (default: current directory)")
    p.set_defaults(func=_score)

    p = sub.add_parser("report", help="regenerate the reports of a run directory (or a sweep's leaderboard)", parents=[verbosity])
    p.add_argument("run_dir")
    p.set_defaults(func=_report)

    p = sub.add_parser("export", help="write a run's tuned model for serving: merged checkpoint or LoRA adapter, with its model card",
                       parents=[verbosity])
    p.add_argument("run_dir")
    p.add_argument("--out", required=True, help="a new (or empty) folder")
    p.add_argument("--format", default="merged",
                   help="merged (default: base + adapter, a plain transformers checkpoint) or adapter; gguf: see README")
    p.add_argument("--dtype", help="merged weights' type: bfloat16, float16 or float32 (default: the run's evaluation dtype)")
    p.set_defaults(func=_export)

    p = sub.add_parser("push", help="upload a run's tuned model, model card and report to the Hugging Face Hub", parents=[verbosity])
    p.add_argument("run_dir")
    p.add_argument("--repo", required=True, help="the Hub repository, org/name (created if missing)")
    p.add_argument("--private", action="store_true", help="create the repository private")
    p.add_argument("--what", default="adapter", help="adapter (default) or merged")
    p.set_defaults(func=_push)

    p = sub.add_parser("ask", help="ask a finished run's tuned model questions (SQL run read-only on --db)", parents=[verbosity])
    p.add_argument("run_dir", help="a finished run directory, or a project's runs folder (its newest finished run)")
    p.add_argument("question", nargs="?", help="the question (default: one per line from stdin)")
    p.add_argument("--db", help="a SQLite file (or builtin:<db_id>): its schema goes into the prompt, the SQL runs on it")
    p.add_argument("--schema", help="a file of CREATE TABLE statements for the prompt (nothing is run)")
    p.add_argument("--base", action="store_true", help="show the base model's answer beside the tuned one")
    p.add_argument("--decoding", choices=DECODINGS, default="greedy",
                   help="constrained: SQL held to the schema's tables and columns, as evaluation decodes it")
    p.add_argument("--no-execute", action="store_true", help="print the SQL without running it")
    p.add_argument("--json", action="store_true", help="one JSON object per answer")
    p.set_defaults(func=_ask)
    return parser


if __name__ == "__main__":
    sys.exit(main())
