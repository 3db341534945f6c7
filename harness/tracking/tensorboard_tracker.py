"""TensorBoard through `torch.utils.tensorboard.SummaryWriter`: event files TensorBoard reads.

The run's curves and evaluation go to `log_dir`; each trial is its own sub-run (`trials/trial-NNNN`)
with its validation values, so `tensorboard --logdir` lists the trials beside the final training.
The spec, the verdict and report.md are text entries (TensorBoard has no artifact store).
"""

from __future__ import annotations

from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from harness.events import TrainingEvent
from harness.results import Evaluation
from harness.tracking.base import RunStart, Tracker, TrialOutcome, evaluation_metrics, training_curve, verdict_tags


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

    def evaluation(self, set_name: str, evaluation: Evaluation) -> None:
        for key, value in evaluation_metrics(set_name, evaluation).items():
            self.writer.add_scalar(key, value, 0)
        self.writer.add_text(f"{set_name}/verdict", _table(verdict_tags(set_name, evaluation)))
        self.writer.flush()

    def artifacts(self, paths: list[Path]) -> None:
        for path in paths:
            if path.suffix == ".md":
                self.writer.add_text(f"{path.parent.name}/{path.name}" if path.name == "README.md" else path.name,
                                     path.read_text())
        self.writer.flush()

    def end(self, failed: bool) -> None:
        if self.writer is not None:
            self.writer.close()


def _code(text: str) -> str:
    return "    " + text.replace("\n", "\n    ")  # Markdown code block: TensorBoard renders text as Markdown


def _table(values: dict[str, str]) -> str:
    return "| | |\n|---|---|\n" + "\n".join(f"| {key} | {value} |" for key, value in values.items())
