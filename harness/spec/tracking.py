"""The `tracking` section: which experiment trackers see the run, any combination of them.

Trackers are optional extras (`pip install -e ".[tracking]"`), never core dependencies: the
section is checked here for its shape only; whether a tracker's package is installed and its
server reachable is `harness.tracking.check`'s job (it runs in `harness validate`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.spec.section import Section


class MlflowSpec(Section):
    # None: a local SQLite store under the runs folder (runs/mlflow.db), artifacts beside it
    tracking_uri: str | None = Field(None, min_length=1, description="e.g. http://mlflow:5000 or sqlite:///path.db")
    experiment: str | None = Field(None, min_length=1, description="default: the spec's project")


class TensorBoardSpec(Section):
    # None: <run dir>/tensorboard; a relative path is taken relative to the spec
    log_dir: str | None = Field(None, min_length=1)


class WandbSpec(Section):
    project: str | None = Field(None, min_length=1, description="default: the spec's project")
    entity: str | None = Field(None, min_length=1)
    mode: Literal["online", "offline"] = "online"


class TrackingSpec(Section):
    mlflow: MlflowSpec | None = None
    tensorboard: TensorBoardSpec | None = None
    wandb: WandbSpec | None = None

    @property
    def enabled(self) -> list[str]:
        """The trackers the section names, in a fixed order."""
        return [name for name in ("mlflow", "tensorboard", "wandb") if getattr(self, name) is not None]
