"""spec -> data -> train -> search -> evaluate -> report, as functions a user can call from Python.

The CLI is a thin shell over `run`, `evaluate_run` and `report`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import shutil
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

from harness import card, progress, results, runs
from harness.data import Example, load_benchmarks, load_splits
from harness.errors import UserError
from harness.evaluate import answers
from harness.evaluate.objective import score_adapter
from harness.evaluate.pair import evaluate_pair
from harness.evaluate.scorers import TEXT_FAMILIES, build_metrics
from harness.events import EventChannel
from harness.models import describe_model, resolve_model
from harness.preflight import Checked, preflight
from harness.report import write_reports
from harness.results import Environment, EvalResults, Evaluation, ModelInfo, RunResults, ScoreResults, Search, Training
from harness.search import load_trial_training, optimism_gap, run_trials, search, summarize_study
from harness.spec import Spec, load_spec
from harness.tracking import TEST_SET, RunStart, Tracking, open_tracking, score_metrics
from harness.train import join, train

log = logging.getLogger("harness")


def run(spec: Spec, runs_dir: Path | None = None, checked: Checked | None = None) -> Path:
    """The whole pipeline; returns the run directory holding results.json and the report.

    Everything the user can get wrong (spec, files, model source, hardware) is checked before
    the run directory exists, so a bad input leaves nothing behind. `checked`: what `preflight`
    already built for this spec's data (a sweep checks once for all its models).
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with _timed(timings, "load_data"):  # the data is read and split by the checks
        checked = checked or preflight(spec)
    splits, data_info = checked.splits, checked.data_info
    evaluation_sets = {**splits.evaluation_only, **checked.benchmarks}
    with _timed(timings, "load_model"):
        model_dir = resolve_model(spec.model, spec.base_dir)
    runs_root = Path(runs_dir or spec.runs_dir).resolve()
    run_dir = runs.new_run_dir(runs_root, spec.project)
    runs.spec_path(run_dir).write_text(spec.to_yaml())
    environment = Environment.model_validate(runs.environment())
    with _run_log(run_dir), _failure_marker(run_dir), open_tracking(spec, run_dir, runs_root) as tracking:
        log.info("run directory: %s", run_dir)
        progress.note(f"run directory {run_dir}")
        log.info("data: %s", data_info)
        tracking.start(RunStart.of(run_dir.name, "run", spec, data_info, environment))
        train_spec, search_result, trained = spec.train, None, None
        if spec.search is not None and spec.search.enabled:
            with _timed(timings, "search"):
                area = runs.search_area(runs_root, spec.project)
                search_result = search(spec, model_dir, splits, area, validation_scorer(spec, model_dir, splits),
                                       on_trial=lambda trial: tracking.trial(trial, spec.search.objectives))
            tracking.search(search_result.study)  # the trials other workers and machines ran
            train_spec = search_result.best_train_spec
            best = search_result.study
            log.info("search: best trial %d %s -> %s", best.best_trial, best.best_params, best.best_values)
            if search_result.reused_adapter:  # copied in: a run directory stands on its own
                trained = load_trial_training(search_result)
                trained.adapter_dir = Path(shutil.copytree(trained.adapter_dir, run_dir / runs.ADAPTER_DIR))
                tracking.training(trained)
        if trained is None:
            events = EventChannel()
            events.subscribe(tracking.training_event)
            with _timed(timings, "train"):
                trained = train(model_dir, splits, train_spec, spec.prompt, run_dir, events, spec.compute)
        log.info("trained %d steps, %.0f train tokens/s", trained.steps, trained.tokens_per_second)
        with _timed(timings, "evaluate"):
            evaluation = evaluate_pair(model_dir, trained.adapter_dir, splits.test, spec.prompt, spec.evaluation, spec.model.dtype)
        set_evaluations: dict[str, Evaluation] = {}
        if evaluation_sets:
            with _timed(timings, "evaluate_sets"):
                set_evaluations = _evaluate_sets(spec, model_dir, trained.adapter_dir, evaluation_sets)
        for name, evaluated in {TEST_SET: evaluation, **set_evaluations}.items():
            tracking.evaluation(name, evaluated)
        timings["total"] = round(time.perf_counter() - started, 2)  # the report's own seconds are not in it
        training = Training.model_validate(trained, from_attributes=True)
        record = RunResults(
            project=spec.project,
            run_dir=run_dir,
            model=ModelInfo(source=spec.model.source, **describe_model(model_dir)),
            data=data_info,
            train_spec=train_spec.model_dump(),
            training=training,
            search=search_result.study if search_result else None,
            optimism_gap=optimism_gap(search_result.study, training, evaluation) if search_result else None,
            evaluation=evaluation,
            evaluation_sets=set_evaluations,
            environment=environment,
            timings=timings,
            tracking=tracking.outcome(),
        )
        results.write(runs.results_path(run_dir), record)
        with progress.stage("report"):  # after `total`: results.json is written once, before the report
            write_reports(run_dir)
            card.write(trained.adapter_dir, record, spec.prompt)  # the adapter says what it is wherever it goes
        tracking.artifacts([run_dir / name for name in (*runs.REPORT_FILES, runs.RESULTS)] + [trained.adapter_dir / card.CARD])
    return run_dir


def search_only(spec: Spec, runs_dir: Path | None = None, max_trials: int | None = None, storage: str | None = None,
                parallel: int | None = None) -> Search:
    """`harness search` / `harness worker`: work on the spec's study without the final run, with
    `search.parallel` workers on this machine (`parallel` overrides it, e.g. for a machine with
    another number of GPUs); several processes (on several machines, with a shared storage URL)
    may do this at once."""
    if spec.search is None:
        raise UserError("search: the spec has no search section")
    overrides = {key: value for key, value in (("storage", storage), ("parallel", parallel)) if value is not None}
    if overrides:  # a copy: the caller's spec stays as they wrote it
        spec = spec.model_copy(update={"search": spec.search.model_copy(update=overrides)})
    splits = preflight(spec).splits
    model_dir = resolve_model(spec.model, spec.base_dir)
    area = runs.search_area(Path(runs_dir or spec.runs_dir).resolve(), spec.project)
    study = run_trials(spec, model_dir, splits, area, validation_scorer(spec, model_dir, splits), max_trials)
    return summarize_study(study, spec, area).study


def join_training(spec: Spec, machine_rank: int) -> None:
    """`harness join`: this machine's processes of the training that machine 0's `harness run` leads
    (`compute.machines` > 1). Same spec, same data and split, so the same job; machine 0 writes the
    adapter and the run directory, this machine only trains."""
    if not 0 < machine_rank < spec.compute.machines:
        raise UserError(f"--machine-rank: {machine_rank} is not one of machines 1 to {spec.compute.machines - 1} "
                        "(compute.machines); machine 0 runs `harness run`")
    compute = spec.compute.model_copy(update={"machine_rank": machine_rank})
    splits = preflight(spec).splits
    model_dir = resolve_model(spec.model, spec.base_dir)
    with tempfile.TemporaryDirectory(prefix=f"harness-join-{machine_rank}-") as scratch:
        join(model_dir, splits, spec.train, spec.prompt, Path(scratch), compute)


def validation_scorer(spec: Spec, model_dir: Path, splits):
    """Evaluator metrics of a trial's adapter on the validation split, for metric objectives; a
    partial, not a closure, so it pickles into `search.parallel` worker processes."""
    return functools.partial(score_adapter, model_dir, examples=splits.valid, prompt=spec.prompt,
                             spec=spec.evaluation, dtype=spec.model.dtype)


def evaluate_run(run_dir: Path) -> Path:
    """Re-run evaluation alone on a finished run (its spec, base model and adapter); the trackers
    get the new numbers in the run's own tracker runs (results.json's `tracking.runs`)."""
    record = results.load(run_dir)
    spec = load_spec(runs.spec_path(run_dir))
    tracked = _Tracked(run_dir.name, run_dir, run_dir.parent.parent, record.tracking.runs if record.tracking else {})
    return _evaluate(spec, record.training.adapter_dir, run_dir, tracked)


def evaluate_adapter(spec: Spec, adapter_dir: Path, out_dir: Path) -> Path:
    """Base vs base+adapter on the spec's test split; writes `out_dir/eval.json`. Trackers: a new run."""
    name = f"eval {adapter_dir.resolve().parent.name}/{adapter_dir.name}"
    return _evaluate(spec, adapter_dir, out_dir, _Tracked(name, out_dir, Path(spec.runs_dir).resolve()))


@dataclasses.dataclass(frozen=True)
class _Tracked:
    """Where an eval or score is tracked: `name` for a new tracker run, `folder` for TensorBoard's and
    W&B's files, `runs_root` for the local MLflow store, `reopen`: the tracker runs to log into again."""

    name: str
    folder: Path
    runs_root: Path
    reopen: dict[str, str] = dataclasses.field(default_factory=dict)

    def open(self, spec: Spec, kind: str) -> Tracking:
        tracking = open_tracking(spec, self.folder, self.runs_root)
        tracking.start(RunStart.of(self.name, kind, spec), self.reopen)
        return tracking


def _evaluate(spec: Spec, adapter_dir: Path, out_dir: Path, tracked: _Tracked) -> Path:
    if not (adapter_dir / "adapter_config.json").is_file():
        raise UserError(f"{adapter_dir}: not a PEFT adapter directory (no adapter_config.json)")
    model_dir = resolve_model(spec.model, spec.base_dir)
    splits, _ = load_splits(spec.data, spec.base_dir)
    evaluation_sets = {**splits.evaluation_only, **load_benchmarks(spec.evaluation.benchmarks, spec.base_dir)}
    out_dir.mkdir(parents=True, exist_ok=True)
    with tracked.open(spec, "eval") as tracking:
        evaluation = evaluate_pair(model_dir, adapter_dir, splits.test, spec.prompt, spec.evaluation, spec.model.dtype)
        set_evaluations = _evaluate_sets(spec, model_dir, adapter_dir, evaluation_sets)
        for name, evaluated in {TEST_SET: evaluation, **set_evaluations}.items():
            tracking.evaluation(name, evaluated)
        record = EvalResults(project=spec.project, adapter_dir=adapter_dir, evaluation=evaluation,
                             evaluation_sets=set_evaluations, tracking=tracking.outcome())
        path = results.write(out_dir / runs.EVAL, record)
        tracking.artifacts([path])
    return path


def _evaluate_sets(spec: Spec, model_dir: Path, adapter_dir: Path, sets: dict[str, list[Example]]) -> dict[str, Evaluation]:
    """Base vs tuned on each evaluation-only set with the test split's prompts, decoding and metrics;
    latency is a property of the model, not of the questions, so it is timed on the test split only."""
    settings = spec.evaluation.model_copy(update={"metrics": [m for m in spec.evaluation.metrics if m != "latency"]})
    return {
        name: evaluate_pair(model_dir, adapter_dir, examples, spec.prompt, settings, spec.model.dtype)
        for name, examples in sets.items()
    }


def score_answers_file(spec: Spec, answers_file: Path, out_dir: Path) -> tuple[Path, ScoreResults]:
    """`harness score`: answers from elsewhere, scored on the examples a run of `spec` evaluates
    (same split, hold-out, benchmarks and limit) with its text metrics; writes `out_dir/score.json`.
    Every input is checked before anything is written."""
    families = [f for f in spec.evaluation.metrics if f in TEXT_FAMILIES]
    if not families:
        raise UserError(f"evaluation.metrics: {', '.join(spec.evaluation.metrics)} has no family that scores "
                        f"answer text; add one of {', '.join(TEXT_FAMILIES)} to score answers")
    splits, _ = load_splits(spec.data, spec.base_dir)
    benchmarks = load_benchmarks(spec.evaluation.benchmarks, spec.base_dir)
    named = {"test": (splits.test, spec.data.question_column)}  # the spec keeps set names unique
    named |= {name: (examples, spec.data.question_column) for name, examples in splits.evaluation_only.items()}
    named |= {b.name: (benchmarks[b.name], b.question_column) for b in spec.evaluation.benchmarks}
    sets = [answers.EvaluationSet(name, spec.evaluation.evaluated(examples), column)  # as evaluate_pair cuts them
            for name, (examples, column) in named.items()]
    given = answers.read_answers(answers_file, sets)
    record = ScoreResults(
        project=spec.project,
        answers_file=answers_file.resolve(),
        metric_families=families,
        unanswered_scored_as=answers.UNANSWERED,
        sets=answers.score_sets(sets, given, build_metrics(families), spec.evaluation.bootstrap_resamples),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    tracked = _Tracked(f"score {answers_file.name}", out_dir, Path(spec.runs_dir).resolve())
    with tracked.open(spec, "score") as tracking:
        tracking.summary("scores", score_metrics(record), {"answers_file": str(record.answers_file)})
        record.tracking = tracking.outcome()
        path = results.write(out_dir / runs.SCORE, record)
        tracking.artifacts([path])
    return path, record


@contextlib.contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        with progress.stage(name):
            yield
    finally:
        timings[name] = round(time.perf_counter() - started, 2)


@contextlib.contextmanager
def _run_log(run_dir: Path) -> Iterator[None]:
    """Every log record of the run (ours, and the libraries' that reach the root logger: the CLI
    routes them there, train.py adds AutoTrain's) goes to run_dir/logs/run.log."""
    (run_dir / runs.LOGS_DIR).mkdir(exist_ok=True)
    handler = logging.FileHandler(run_dir / runs.LOGS_DIR / runs.RUN_LOG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()


@contextlib.contextmanager
def _failure_marker(run_dir: Path) -> Iterator[None]:
    """A run that dies keeps its logs and gets FAILED with the cause; results.json only on success."""
    try:
        yield
    except BaseException as exc:
        (run_dir / runs.FAILED).write_text(f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}")
        raise
