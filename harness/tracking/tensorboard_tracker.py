"""TensorBoard through `torch.utils.tensorboard.SummaryWriter`: event files TensorBoard reads.

The run's curves and evaluation go to `log_dir`; each trial is its own sub-run (`trials/trial-NNNN`)
with its validation values, so `tensorboard --logdir` lists the trials beside the final training.
The spec, the verdict and report.md are text entries (TensorBoard has no artifact store).
"""

from __future__ import annotations

from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from harness.events import TrainingEvent
from harness.tracking.base import RunStart, Tracker, TrialOutcome, artifact_name, training_curve


class TensorBoardTracker(Tracker):
    name = "tensorboard"

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.writer: SummaryWriter | None = None

    def where(self) -> str:
        return str(self.log_dir)

    def start(self, run: RunStart) -> None:
        self.writer = SummaryWriter(log_dir=str(self.log_dir))
        self.writer.add_text("spec", _code(run.spec_yaml))
        self.writer.add_text("run", _table(run.tags))
        self.writer.flush()

    def reopen(self, ref: str) -> None:
        """A new event file in the run's folder: TensorBoard reads the folder's files as one run."""
        self.log_dir = Path(ref)
        self.writer = SummaryWriter(log_dir=ref)

    def ref(self) -> str | None:
        return str(self.log_dir) if self.writer is not None else None

    def training_event(self, event: TrainingEvent) -> None:
        curve = training_curve(event)
        if curve is not None:
            step, values = curve
            for key, value in values.items():
                self.writer.add_scalar(key, value, step)

    def trial(self, trial: TrialOutcome) -> None:
        with SummaryWriter(log_dir=str(self.log_dir / "trials" / f"trial-{trial.number:04d}")) as writer:
            for step, value in sorted(trial.intermediate.items()):
                writer.add_scalar("valid/loss", value, step)
            for key, value in trial.metrics.items():
                writer.add_scalar(f"trial/{key}", value, 0)
            writer.add_text("trial", _table({**trial.tags, **{k: str(v) for k, v in trial.params.items()}}))

    def summary(self, label: str, metrics: dict[str, float], tags: dict[str, str]) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, 0)
        if tags:
            self.writer.add_text(label, _table(tags))
        self.writer.flush()

    def artifacts(self, paths: list[Path]) -> None:
        for path in paths:
            if path.suffix == ".md":
                self.writer.add_text(artifact_name(path), path.read_text())
        self.writer.flush()

    def end(self, failed: bool) -> None:
        if self.writer is not None:
            self.writer.close()


def _code(text: str) -> str:
    return "    " + text.replace("\n", "\n    ")  # Markdown code block: TensorBoard renders text as Markdown


def _table(values: dict[str, str]) -> str:
    return "| | |\n|---|---|\n" + "\n".join(f"| {key} | {value} |" for key, value in values.items())
