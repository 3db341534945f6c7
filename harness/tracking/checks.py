"""What `harness validate` checks of the `tracking` section: each tracker's package installed, the
MLflow server answering, W&B credentials for online mode. One line each, before anything runs."""

from __future__ import annotations

import importlib.util

from harness.errors import UserError
from harness.masking import mask_url
from harness.spec import Spec

# tracker -> the distribution that provides it; all come with `pip install -e ".[tracking]"`
PACKAGES = {"mlflow": "mlflow", "tensorboard": "tensorboard", "wandb": "wandb"}
_EXTRA = 'pip install -e ".[tracking]"'


def check_tracking(spec: Spec) -> None:
    t = spec.tracking
    for name in t.enabled:
        require_package(name, PACKAGES[name])
    if t.mlflow is not None and t.mlflow.tracking_uri and t.mlflow.tracking_uri.startswith(("http://", "https://")):
        _check_mlflow_server(t.mlflow.tracking_uri)
    if t.wandb is not None and t.wandb.mode == "online":
        _check_wandb_credentials()


def require_package(tracker: str, package: str) -> None:
    """Trackers are optional extras: a missing one is named, with the command that installs it."""
    if importlib.util.find_spec(package) is None:
        raise UserError(f"tracking.{tracker}: needs the package '{package}', which is not installed; {_EXTRA}")


def _check_mlflow_server(uri: str) -> None:
    from harness.tracking.mlflow_tracker import client

    try:
        client(uri).search_experiments(max_results=1)
    except Exception as exc:  # any failure to get an answer means the run could not log there
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        raise UserError(f"tracking.mlflow.tracking_uri: no MLflow server answers at {mask_url(uri)} "
                        f"({type(exc).__name__}: {mask_url(first)}); start it (mlflow server) or fix the URI") from None


def _check_wandb_credentials() -> None:
    import wandb

    if not wandb.login(prompt=False):
        raise UserError("tracking.wandb: mode online needs W&B credentials (WANDB_API_KEY, or `wandb login`); "
                        "set them, or use mode: offline and `wandb sync` later")
