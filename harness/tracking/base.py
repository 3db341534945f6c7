"""What every tracker is told, and the few verbs it answers to.

The pipeline speaks to trackers only through `Tracker`'s verbs with the harness's own typed
records (the spec, `DataInfo`, `Environment`, `Trial`, `Evaluation`, `ScoreResults`, `Leaderboard`,
training events); each tracker module turns them into its library's calls. The flat names and
values those libraries want (params, tags, metrics) are computed here once, so every tracker shows
the same numbers under the same names.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness import runs
from harness.events import Logged, TrainingEvent, Validated
from harness.masking import mask_secrets
from harness.results import (
    Comparison,
    DataInfo,
    Environment,
    Evaluation,
    Leaderboard,
    ScoreResults,
    StoredTrialState,
    Training,
    Trial,
)
from harness.spec import Spec

PARAM_CHARS = 500  # the longest param value any tracker keeps in full (MLflow's own limit is higher)


@dataclass(frozen=True)
class RunStart:
    """Everything a tracker records when a run begins."""

    name: str  # the run directory's name, e.g. 20260101-120000 (a sweep model's: <project>-<name>/<timestamp>)
    kind: str  # run, eval, score, sweep: what the harness is doing
    spec_yaml: str  # secrets as ${VAR}, URL credentials masked
    params: dict[str, str]  # the spec flattened: train.lr -> "0.005"
    tags: dict[str, str]  # data summary, environment, package versions

    @classmethod
    def of(cls, name: str, kind: str, spec: Spec, data: DataInfo | None = None,
           environment: Environment | None = None) -> RunStart:
        masked = mask_secrets(yaml.safe_load(spec.to_yaml()))
        tags = {"harness.kind": kind, "harness.project": spec.project}
        if data is not None:
            tags |= {f"data.{key}": str(value) for key, value in _flatten(data.model_dump(mode="json")).items()}
        if environment is not None:
            env = environment.model_dump(mode="json")
            packages = env.pop("packages")
            tags |= {f"env.{key}": str(value) for key, value in env.items()}
            tags |= {f"package.{name}": str(version) for name, version in packages.items()}
        params = {key: str(value)[:PARAM_CHARS] for key, value in _flatten(masked).items()}
        return cls(name=name, kind=kind, spec_yaml=yaml.safe_dump(masked, sort_keys=False), params=params, tags=tags)


@dataclass(frozen=True)
class TrialOutcome:
    """One search trial as a tracker shows it: a child run with its state."""

    number: int
    state: StoredTrialState
    params: dict[str, Any]
    metrics: dict[str, float]  # the objectives' values, steps, steps saved by pruning, seconds
    intermediate: dict[int, float]  # step -> validation loss the pruner judged
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, trial: Trial, objectives: list[str]) -> TrialOutcome:
        metrics = dict(zip(objectives, trial.values or []))
        counts = {"steps": trial.steps, "planned_steps": trial.planned_steps, "train_tokens": trial.train_tokens,
                  "train_seconds": trial.train_seconds, "duration_s": trial.duration_s}
        metrics |= {key: float(value) for key, value in counts.items() if value is not None}
        if trial.state == StoredTrialState.PRUNED and trial.steps is not None and trial.planned_steps is not None:
            metrics["steps_saved_by_pruning"] = float(max(trial.planned_steps - trial.steps, 0))
        tags = {"state": trial.state.value, "trial": str(trial.number)}
        if trial.fail_reason:
            tags["fail_reason"] = trial.fail_reason[:PARAM_CHARS]
        if trial.spec_settings:
            tags["spec_settings"] = "true"  # the baseline: the spec's own train values
        return cls(number=trial.number, state=trial.state, params=trial.params, metrics=metrics,
                   intermediate=trial.intermediate_values, tags=tags)


def evaluation_metrics(set_name: str, evaluation: Evaluation) -> dict[str, float]:
    """`<set>/<metric>/{base,tuned,diff,ci_low,ci_high,holm_ci_low,holm_ci_high}`, per decoding mode
    after the first (`<set>/<mode>/<metric>/...`): every number the report's comparison table shows."""
    values: dict[str, float] = {}
    for metric, c in evaluation.metrics.items():
        values |= _comparison(f"{set_name}/{metric}", c)
    values[f"{set_name}/n"] = float(evaluation.n)
    for mode, other in evaluation.decodings.items():
        values |= evaluation_metrics(f"{set_name}/{mode}", other)
    return values


def _comparison(prefix: str, c: Comparison) -> dict[str, float]:
    numbers = {"base": c.base, "tuned": c.tuned, "diff": c.diff, "ci_low": c.ci_low, "ci_high": c.ci_high}
    if c.adjusted is not None:
        numbers |= {"holm_ci_low": c.adjusted.ci_low, "holm_ci_high": c.adjusted.ci_high}
    return {f"{prefix}/{key}": float(v) for key, v in numbers.items() if v is not None}


def score_metrics(record: ScoreResults) -> dict[str, float]:
    """`harness score`: `<set>/<metric>/{mean,ci_low,ci_high,n}` and each set's `n`, `answered`, `unanswered`."""
    values: dict[str, float] = {}
    for set_name, scored in record.sets.items():
        for metric, s in scored.metrics.items():
            numbers = {"mean": s.mean, "ci_low": s.ci_low, "ci_high": s.ci_high, "n": s.n}
            values |= {f"{set_name}/{metric}/{key}": float(v) for key, v in numbers.items() if v is not None}
        values |= {f"{set_name}/{key}": float(getattr(scored, key)) for key in ("n", "answered", "unanswered")}
    return values


def leaderboard_metrics(board: Leaderboard) -> dict[str, float]:
    """A sweep's leaderboard, per model: `<model>/<metric>/{base,tuned,diff,ci_low,ci_high}`,
    `<model>/tokens_per_s/{base,tuned}`, `<model>/{parameters,train_seconds,adapter_mb,total_seconds}`."""
    values: dict[str, float] = {}
    for row in board.rows:
        for metric, c in row.metrics.items():
            values |= _comparison(f"{row.name}/{metric}", c)
        values |= {f"{row.name}/tokens_per_s/{side}": v for side, v in row.tokens_per_s.items()}
        sizes = {"parameters": row.parameters, "train_seconds": row.train_seconds, "adapter_mb": row.adapter_mb,
                 "total_seconds": row.total_seconds}
        values |= {f"{row.name}/{key}": float(v) for key, v in sizes.items() if v is not None}
    return values


def leaderboard_tags(board: Leaderboard) -> dict[str, str]:
    """What makes the run read as the sweep's summary: its models, each one's source and outcome, the headline."""
    tags = {"sweep.models": ", ".join(row.name for row in board.rows), "sweep.headline": board.headline or "none"}
    for row in board.rows:
        outcome = f"failed: {row.error}" if row.error else "resumed" if row.resumed else "finished"
        tags |= {f"{row.name}.source": row.source, f"{row.name}.outcome": outcome[:PARAM_CHARS]}
    return tags


def training_curve(event: TrainingEvent) -> tuple[int, dict[str, float]] | None:
    """(step, named values) for the events that make the training curves: the trainer's logs
    (loss, learning rate, grad norm ...) under `train/`, the held-out loss as `valid/loss`."""
    if isinstance(event, Logged):
        return event.step, {f"train/{key}": value for key, value in event.values.items()}
    if isinstance(event, Validated):
        return event.step, {"valid/loss": event.loss}
    return None


def replay(training: Training) -> Iterator[TrainingEvent]:
    """A finished training's curves as the events it emitted, for a final model that was not
    retrained (the best trial's adapter reused): trackers see its curves all the same."""
    for entry in training.history:
        values = {key: float(v) for key, v in (entry.model_extra or {}).items() if isinstance(v, int | float)}
        if entry.loss is not None:
            values["loss"] = entry.loss
        if entry.step is not None and values:
            yield Logged(step=entry.step, values=values)
    for point in training.valid_losses:
        yield Validated(step=point.step, loss=point.loss, seconds=0.0)


class Tracker(ABC):
    """One experiment tracker for one harness run (or eval, score, sweep). Any verb may raise: the
    fan-out (`harness.tracking.Tracking`) switches a tracker that does off and the run goes on."""

    name: str

    @abstractmethod
    def start(self, run: RunStart) -> None:
        """A new tracker run."""

    @abstractmethod
    def reopen(self, ref: str) -> None:
        """The tracker run `ref()` named, to log into again (`harness eval RUN_DIR`); its status
        (finished, failed) stays what the harness run left."""

    @abstractmethod
    def ref(self) -> str | None:
        """What `reopen` takes (a run id, a log folder); None before the run exists."""

    @abstractmethod
    def where(self) -> str:
        """Where a user finds this run in the tracker (no credentials)."""

    @abstractmethod
    def training_event(self, event: TrainingEvent) -> None:
        """A subscriber on the final training's `EventChannel`."""

    @abstractmethod
    def trial(self, trial: TrialOutcome) -> None: ...

    @abstractmethod
    def summary(self, label: str, metrics: dict[str, float], tags: dict[str, str]) -> None:
        """Final numbers without a step (an evaluation, scores, a leaderboard); `label` names the
        tags where a tracker shows them as one text entry (TensorBoard)."""

    @abstractmethod
    def artifacts(self, paths: list[Path]) -> None: ...

    @abstractmethod
    def end(self, failed: bool) -> None: ...


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out |= _flatten(value, f"{prefix}{key}.")
        return out
    return {prefix.rstrip("."): data}


def artifact_name(path: Path) -> str:
    """A file's name among a run's artifacts: the model card and plots keep their folder
    (`adapter/README.md`, `plots/<name>.png`), everything else its bare name."""
    return f"{path.parent.name}/{path.name}" if path.parent.name in (runs.ADAPTER_DIR, runs.PLOTS_DIR) else path.name


TEST_SET = "test"  # the test split's name among the evaluated sets: its verdict is the run's


def verdict_tags(set_name: str, evaluation: Evaluation) -> dict[str, str]:
    """`verdict` (the test split's: better / worse / inconclusive) or `verdict.<set>`, with its headline metric."""
    key = "verdict" if set_name == TEST_SET else f"verdict.{set_name}"
    return {key: evaluation.verdict.outcome, f"{key}.headline": evaluation.verdict.headline or "none"}
