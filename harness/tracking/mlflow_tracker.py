"""MLflow through its own client API: one parent run per harness run, a child run per trial.

`MlflowClient` with explicit run ids, not the fluent `mlflow.start_run` stack: the harness holds
one parent run across stages and threads, and nothing global is left active for other code.
Nesting is MLflow's own: a child run carries the `mlflow.parentRunId` tag, as `start_run(nested=True)`
sets it. A trial's state is both a tag and the run status (complete: FINISHED, pruned: KILLED,
fail: FAILED), so the UI's status column tells them apart.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from harness.events import TrainingEvent
from harness.masking import mask_url
from harness.results import StoredTrialState
from harness.spec import MlflowSpec
from harness.tracking.base import RunStart, Tracker, TrialOutcome, artifact_name, training_curve

_BATCH = 100  # MLflow's log_batch takes at most 100 params or tags per call (1000 metrics)
_STATUS = {StoredTrialState.COMPLETE: "FINISHED", StoredTrialState.PRUNED: "KILLED"}
LOCAL_STORE = "mlflow.db"  # under the runs folder, when the spec gives no tracking_uri
LOCAL_ARTIFACTS = "mlartifacts"


def client(uri: str) -> MlflowClient:
    """A client that gives up on a dead server within seconds: MLflow's defaults retry a request
    7 times with growing back-off (minutes), which would stall the run it should not cost.
    A user's own MLFLOW_HTTP_* settings win."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    return MlflowClient(tracking_uri=uri)


class MlflowTracker(Tracker):
    name = "mlflow"

    def __init__(self, spec: MlflowSpec, project: str, runs_root: Path):
        self.uri = spec.tracking_uri or f"sqlite:///{runs_root / LOCAL_STORE}"
        # a local store keeps its artifacts beside it, not in ./mlruns of whatever folder the harness ran in
        self.artifact_root = None if spec.tracking_uri else (runs_root / LOCAL_ARTIFACTS).as_uri()
        self.experiment = spec.experiment or project
        self.client = client(self.uri)
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self.reopened = False

    def where(self) -> str:
        return f"{mask_url(self.uri)}, experiment {self.experiment}, run {self.run_id}"

    def start(self, run: RunStart) -> None:
        found = self.client.get_experiment_by_name(self.experiment)
        self.experiment_id = (found.experiment_id if found else
                              self.client.create_experiment(self.experiment, artifact_location=self.artifact_root))
        self.run_id = self.client.create_run(self.experiment_id, run_name=run.name, tags=run.tags).info.run_id
        self._log(self.run_id, params=run.params)
        self.client.log_text(self.run_id, run.spec_yaml, "spec.yaml")

    def reopen(self, ref: str) -> None:
        self.experiment_id = self.client.get_run(ref).info.experiment_id
        self.run_id, self.reopened = ref, True

    def ref(self) -> str | None:
        return self.run_id

    def training_event(self, event: TrainingEvent) -> None:
        curve = training_curve(event)
        if curve is not None:
            step, values = curve
            self._log(self.run_id, metrics=values, step=step)

    def trial(self, trial: TrialOutcome) -> None:
        tags = {MLFLOW_PARENT_RUN_ID: self.run_id, MLFLOW_RUN_NAME: f"trial {trial.number}", **trial.tags}
        child = self.client.create_run(self.experiment_id, tags=tags).info.run_id
        self._log(child, params={k: str(v) for k, v in trial.params.items()}, metrics=trial.metrics)
        stamp = _now_ms()
        intermediate = [Metric("valid/loss", value, stamp, step) for step, value in sorted(trial.intermediate.items())]
        for start in range(0, len(intermediate), 1000):
            self.client.log_batch(child, metrics=intermediate[start:start + 1000])
        self.client.set_terminated(child, _STATUS.get(trial.state, "FAILED"))

    def summary(self, label: str, metrics: dict[str, float], tags: dict[str, str]) -> None:
        self._log(self.run_id, metrics=metrics, tags=tags)

    def artifacts(self, paths: list[Path]) -> None:
        for path in paths:
            folder = Path(artifact_name(path)).parent
            self.client.log_artifact(self.run_id, str(path), artifact_path=str(folder) if folder.name else None)

    def end(self, failed: bool) -> None:
        if self.run_id is not None and not self.reopened:
            self.client.set_terminated(self.run_id, "FAILED" if failed else "FINISHED")

    def _log(self, run_id: str, params: dict[str, str] | None = None, metrics: dict[str, float] | None = None,
             tags: dict[str, str] | None = None, step: int = 0) -> None:
        stamp = _now_ms()
        records = ([Param(k, v) for k, v in (params or {}).items()] + [RunTag(k, v) for k, v in (tags or {}).items()]
                   + [Metric(k, v, stamp, step) for k, v in (metrics or {}).items()])
        for start in range(0, len(records), _BATCH):
            chunk = records[start:start + _BATCH]
            self.client.log_batch(run_id, metrics=[r for r in chunk if isinstance(r, Metric)],
                                  params=[r for r in chunk if isinstance(r, Param)],
                                  tags=[r for r in chunk if isinstance(r, RunTag)])


def _now_ms() -> int:
    return int(time.time() * 1000)
