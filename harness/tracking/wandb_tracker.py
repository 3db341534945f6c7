"""Weights & Biases through `wandb.init` / `Run.log`: one W&B run per harness run.

W&B has no nested runs; the trials are one `trials` table in the run (number, state, parameters,
values, steps, steps saved) and each trial's validation values a `trial-NNNN/valid/loss` series
against the trial's own step. Offline mode writes the run under `<run dir>/wandb` for `wandb sync`.
"""

from __future__ import annotations

import json
from pathlib import Path

import wandb

from harness.events import TrainingEvent
from harness.spec import WandbSpec
from harness.tracking.base import RunStart, Tracker, TrialOutcome, artifact_name, training_curve

_TRIAL_COLUMNS = ["number", "state", "params", "metrics", "tags"]


class WandbTracker(Tracker):
    name = "wandb"

    def __init__(self, spec: WandbSpec, project: str, run_dir: Path):
        self.spec, self.project, self.run_dir = spec, spec.project or project, run_dir
        self.run: wandb.Run | None = None
        self.trials = wandb.Table(columns=_TRIAL_COLUMNS)
        self.reopened = False

    def where(self) -> str:
        place = self.run.dir if self.spec.mode == "offline" else self.run.url
        return f"project {self.project}, run {self.run.id} ({place})"

    def start(self, run: RunStart) -> None:
        self.run = wandb.init(project=self.project, entity=self.spec.entity, mode=self.spec.mode, dir=self.run_dir,
                              name=run.name, job_type=run.kind, config=run.params, reinit="create_new")
        self.run.summary.update(run.tags)
        self.run.define_metric("train/*", step_metric="train/step")
        self.run.define_metric("valid/*", step_metric="train/step")

    def reopen(self, ref: str) -> None:
        """Resumed by id; offline, a second run folder with the same id, which `wandb sync` merges."""
        self.run = wandb.init(project=self.project, entity=self.spec.entity, mode=self.spec.mode, dir=self.run_dir,
                              id=ref, resume="allow", reinit="create_new")
        self.reopened = True

    def ref(self) -> str | None:
        return self.run.id if self.run is not None else None

    def training_event(self, event: TrainingEvent) -> None:
        curve = training_curve(event)
        if curve is not None:
            step, values = curve
            self.run.log({**values, "train/step": step})

    def trial(self, trial: TrialOutcome) -> None:
        key = f"trial-{trial.number:04d}"
        self.run.define_metric(f"{key}/*", step_metric=f"{key}/step")
        for step, value in sorted(trial.intermediate.items()):
            self.run.log({f"{key}/valid/loss": value, f"{key}/step": step})
        self.trials.add_data(trial.number, trial.state.value, *(json.dumps(d) for d in (trial.params, trial.metrics, trial.tags)))
        self.run.log({"trials": wandb.Table(columns=_TRIAL_COLUMNS, data=self.trials.data)})

    def summary(self, label: str, metrics: dict[str, float], tags: dict[str, str]) -> None:
        self.run.summary.update({**metrics, **tags})

    def artifacts(self, paths: list[Path]) -> None:
        artifact = wandb.Artifact(f"{self.project}-report", type="report")
        for path in paths:
            artifact.add_file(str(path), name=artifact_name(path))
        self.run.log_artifact(artifact)

    def end(self, failed: bool) -> None:
        if self.run is not None:
            self.run.finish(exit_code=1 if failed and not self.reopened else 0)
