"""A sweep (`model.sources`): the whole pipeline once per base model, then one leaderboard.

Each model runs through `pipeline.run` with its own single-model spec (`Spec.sweep_specs`): the
same data split, prompts, training budget, search and seeds, only the model differs. Layout:

    runs/<project>/sweep/                   leaderboard.json (the record), leaderboard.md/.html, plots/
    runs/<project>/sweep/<project>-<name>/  that model's run directories and its search area

A model whose run fails is recorded with its error line and the sweep goes on. Re-running the
same command resumes: a model whose folder holds a complete results.json written for the same
resolved spec is not run again (a changed spec runs it afresh).
"""

from __future__ import annotations

import logging
from pathlib import Path

from harness import metrics as registry
from harness import pipeline, progress, results, runs
from harness.errors import UserError
from harness.preflight import Checked, preflight
from harness.report import write_leaderboard
from harness.results import Leaderboard, LeaderboardRow, RunResults
from harness.spec import Spec
from harness.tracking import RunStart, leaderboard_metrics, leaderboard_tags, open_tracking

log = logging.getLogger("harness")


def run(spec: Spec, runs_dir: Path | None = None) -> Leaderboard:
    """Run (or resume) every model of the sweep; returns the leaderboard it wrote.

    Every check of every model runs first, so a bad input stops the sweep before anything is written."""
    checked = preflight(spec)  # every model's checks; the data they share is read and split once
    sweep_dir = runs.sweep_area(Path(runs_dir or spec.runs_dir).resolve(), spec.project)
    models = {name: _tracked_with_the_sweep(model_spec, spec) for name, model_spec in spec.sweep_specs().items()}
    rows: list[LeaderboardRow] = []
    for number, (name, model_spec) in enumerate(models.items(), 1):
        progress.note(f"model {number}/{len(models)}: {name} ({model_spec.model.source})")
        rows.append(_run_model(name, model_spec, sweep_dir, checked))
        # after each model: a sweep stopped halfway still leaves the leaderboard of what finished
        board = Leaderboard(project=spec.project, sweep_dir=sweep_dir, headline=_shared_headline(rows), rows=rows)
        results.write(runs.leaderboard_path(sweep_dir), board)
        report_files = write_leaderboard(sweep_dir)
    return _track_leaderboard(spec, board, report_files)


def _tracked_with_the_sweep(model_spec: Spec, spec: Spec) -> Spec:
    """A model's tracker runs go to the sweep's MLflow experiment and W&B project (by default the
    sweep's project, not the model's `<project>-<name>`), beside the leaderboard's own run."""
    t = spec.tracking
    pinned = {}
    if t.mlflow is not None:
        pinned["mlflow"] = t.mlflow.model_copy(update={"experiment": t.mlflow.experiment or spec.project})
    if t.wandb is not None:
        pinned["wandb"] = t.wandb.model_copy(update={"project": t.wandb.project or spec.project})
    return model_spec.model_copy(update={"tracking": t.model_copy(update=pinned)}) if pinned else model_spec


def _track_leaderboard(spec: Spec, board: Leaderboard, report_files: list[Path]) -> Leaderboard:
    """The sweep's summary as a tracker run of its own (kind `sweep`): each model's numbers, the
    leaderboard's files as artifacts; leaderboard.json then records where it went."""
    sweep_dir = board.sweep_dir
    with open_tracking(spec, sweep_dir, sweep_dir) as tracking:
        tracking.start(RunStart.of("leaderboard", "sweep", spec))
        tracking.summary("leaderboard", leaderboard_metrics(board), leaderboard_tags(board))
        board = board.model_copy(update={"tracking": tracking.outcome()})
        path = results.write(runs.leaderboard_path(sweep_dir), board)
        tracking.artifacts([path, *report_files])
    return board


def finished_run(spec: Spec, sweep_dir: Path) -> Path | None:
    """The newest run of this model's spec that completed (its results.json reads back whole)."""
    wanted = spec.to_yaml()
    for run_dir in reversed(runs.run_dirs(sweep_dir, spec.project)):
        spec_file = runs.spec_path(run_dir)
        if not runs.results_path(run_dir).is_file() or not spec_file.is_file() or spec_file.read_text() != wanted:
            continue
        try:
            results.load(run_dir)
        except UserError:  # cut short, or written by another schema version: run the model again
            continue
        return run_dir
    return None


def _run_model(name: str, spec: Spec, sweep_dir: Path, checked: Checked) -> LeaderboardRow:
    if (done := finished_run(spec, sweep_dir)) is not None:
        progress.note(f"{name}: finished before ({done}); not run again")
        return _row(name, results.load(done), resumed=True)
    before = set(runs.run_dirs(sweep_dir, spec.project))
    try:
        run_dir = pipeline.run(spec, sweep_dir, checked)
    except Exception as exc:  # any failure of one model is that model's row; the sweep goes on
        log.exception("model %s failed", name)
        error = _one_line(exc)
        progress.note(f"{name}: failed: {error}")
        started = sorted(set(runs.run_dirs(sweep_dir, spec.project)) - before)
        return LeaderboardRow(name=name, source=spec.model.source, run_dir=started[-1] if started else None, error=error)
    return _row(name, results.load(run_dir), resumed=False)


def _row(name: str, record: RunResults, resumed: bool) -> LeaderboardRow:
    """The leaderboard's numbers for one model, all from its results.json."""
    evaluation, adapter = record.evaluation, record.training.adapter_dir
    shown = (*registry.HEADLINE_CANDIDATES, registry.LEADERBOARD_PERPLEXITY)
    return LeaderboardRow(
        name=name,
        source=record.model.source,
        run_dir=record.run_dir,
        resumed=resumed,
        architecture=record.model.architecture,
        parameters=record.model.parameters,
        metrics={key: c for key, c in evaluation.metrics.items() if key in shown and c.n},
        tokens_per_s={side: t.tokens_per_s for side, t in evaluation.throughput.items()},
        train_seconds=record.training.train_seconds,
        adapter_mb=runs.adapter_mb(adapter) if (adapter / runs.ADAPTER_WEIGHTS).is_file() else None,
        total_seconds=record.timings.get("total"),
    )


def _shared_headline(rows: list[LeaderboardRow]) -> str | None:
    """The first headline candidate every finished model measured, so all rows compare one metric."""
    finished = [row for row in rows if row.finished]
    return next((key for key in registry.HEADLINE_CANDIDATES if finished and all(key in r.metrics for r in finished)), None)


def _one_line(exc: Exception) -> str:
    """A user error as the harness words it; anything else as its type and first line."""
    text = " ".join(str(exc).split())  # a multi-line message joined: its first line is often cut mid-sentence
    line = text if isinstance(exc, UserError) else f"{type(exc).__name__}: {text}".rstrip(": ")
    return line if len(line) <= 300 else line[:299] + "…"
