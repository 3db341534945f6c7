"""Experiment tracking: MLflow, TensorBoard and Weights & Biases see the run, its trials and verdict.

One module per tracker behind the small `Tracker` base (`base.py`); `Tracking` fans each verb out
to the trackers the spec's `tracking` section names and hides their failures: a tracker that
raises is switched off, the time and cause are kept (`TrackingOutcome`, in results.json and the
report), and the run goes on. A tracker's package is imported only when the spec names it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from harness import progress
from harness.events import TrainingEvent
from harness.masking import mask_url
from harness.results import Evaluation, Search, TrackerFailure, TrackingOutcome, Training, Trial
from harness.spec import Spec
from harness.tracking.base import (
    TEST_SET,
    RunStart,
    Tracker,
    TrialOutcome,
    evaluation_metrics,
    leaderboard_metrics,
    leaderboard_tags,
    replay,
    score_metrics,
    verdict_tags,
)
from harness.tracking.checks import check_tracking

log = logging.getLogger("harness")

__all__ = ["TEST_SET", "RunStart", "Tracker", "Tracking", "check_tracking", "leaderboard_metrics", "leaderboard_tags",
           "open_tracking", "score_metrics"]


class Tracking:
    """Every tracker of one harness run; also a context manager that ends their runs (failed on an exception)."""

    def __init__(self, trackers: list[Tracker]):
        self._all = list(trackers)
        self._live = list(trackers)
        self.failures: list[TrackerFailure] = []
        self._trials_logged: set[int] = set()

    def start(self, run: RunStart, reopen: dict[str, str] | None = None) -> None:
        """A new tracker run each; a tracker named in `reopen` (`TrackingOutcome.runs` of an earlier
        run) logs into that run again instead."""
        refs = reopen or {}
        self._each("start", lambda t: t.reopen(refs[t.name]) if t.name in refs else t.start(run))

    def training_event(self, event: TrainingEvent) -> None:
        """Subscribe this to a training's `EventChannel`."""
        self._each("training", lambda t: t.training_event(event))

    def training(self, training: Training) -> None:
        """The curves of a training that ran before tracking could subscribe (a reused trial's)."""
        for event in replay(training):
            self.training_event(event)

    def trial(self, trial: Trial, objectives: list[str]) -> None:
        """One child run for a finished trial, as it finishes."""
        outcome = TrialOutcome.of(trial, objectives)
        self._each("trial", lambda t: t.trial(outcome))
        self._trials_logged.add(trial.number)

    def search(self, study: Search) -> None:
        """The trials not logged as they finished (other workers' and machines'), in trial order."""
        for trial in study.trials:
            if trial.number not in self._trials_logged:
                self.trial(trial, study.objectives)

    def evaluation(self, set_name: str, evaluation: Evaluation) -> None:
        """Base vs tuned on one evaluated set; the test split's verdict is the run's."""
        metrics, tags = evaluation_metrics(set_name, evaluation), verdict_tags(set_name, evaluation)
        self._each("evaluation", lambda t: t.summary(f"{set_name}/verdict", metrics, tags))

    def summary(self, label: str, metrics: dict[str, float], tags: dict[str, str]) -> None:
        """Final numbers of a score or a leaderboard; `label` also says what was being logged on a failure."""
        self._each(label, lambda t: t.summary(label, metrics, tags))

    def artifacts(self, paths: list[Path]) -> None:
        present = [path for path in paths if path.is_file()]
        self._each("artifacts", lambda t: t.artifacts(present))

    def outcome(self) -> TrackingOutcome | None:
        if not self._all:
            return None
        return TrackingOutcome(trackers=[t.name for t in self._all],
                               where={t.name: t.where() for t in self._all if t in self._live},
                               runs={t.name: ref for t in self._all if (ref := t.ref()) is not None},
                               failures=list(self.failures))

    def __enter__(self) -> Tracking:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._each("end", lambda t: t.end(failed=exc_type is not None))

    def _each(self, during: str, call: Callable[[Tracker], None]) -> None:
        for tracker in list(self._live):
            try:
                call(tracker)
            except Exception as exc:  # any library failure: this tracker is off, the run goes on
                self._live.remove(tracker)
                lines = str(exc).strip().splitlines() or [""]
                cause = mask_url(f"{type(exc).__name__}: {lines[0][:200]}")
                failure = TrackerFailure(tracker=tracker.name, at=datetime.now().astimezone(), during=during, cause=cause)
                self.failures.append(failure)
                log.warning("tracking: %s failed while logging the %s (%s); the run goes on without it",
                            tracker.name, during, cause, exc_info=True)
                progress.note(f"tracking failed: {tracker.name} at {failure.at:%H:%M:%S} while logging the {during} "
                              f"({cause}); the run goes on without it")


def open_tracking(spec: Spec, run_dir: Path, runs_root: Path) -> Tracking:
    """The trackers the spec names, for the run in `run_dir` (nothing is sent before `start`)."""
    trackers: list[Tracker] = []
    t = spec.tracking
    if t.mlflow is not None:
        from harness.tracking.mlflow_tracker import MlflowTracker

        trackers.append(MlflowTracker(t.mlflow, spec.project, runs_root))
    if t.tensorboard is not None:
        from harness.tracking.tensorboard_tracker import TensorBoardTracker

        # a shared log_dir gets one folder per run, so `tensorboard --logdir` lists the runs side by side
        given = t.tensorboard.log_dir
        log_dir = spec.resolve_path(given) / f"{spec.project}-{run_dir.name}" if given else run_dir / "tensorboard"
        trackers.append(TensorBoardTracker(log_dir.resolve()))
    if t.wandb is not None:
        from harness.tracking.wandb_tracker import WandbTracker

        trackers.append(WandbTracker(t.wandb, spec.project, run_dir))
    return Tracking(trackers)
