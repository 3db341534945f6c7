"""The run-directory layout, in one place, and how its files are written (atomically).

    runs/<project>/search/            the project's Optuna area (study database, trial-NNNN/)
    runs/<project>/<timestamp>[-k]/   one run: spec.yaml, results.json, report.*, adapter/, logs/, FAILED
    runs/<project>/sweep/             a sweep (`model.sources`): leaderboard.json/.md/.html, plots/, and per
                                      model <project>-<name>/ holding its runs and search/ as above
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from importlib import metadata
from pathlib import Path

RESULTS = "results.json"
SPEC = "spec.yaml"  # the resolved spec, secrets as ${VAR}
REPORT_FILES = ("report.md", "report.html", "report.json")
PLOTS_DIR = "plots"
ADAPTER_DIR = "adapter"  # the LoRA adapter in PEFT format (also inside each trial-NNNN/)
LOGS_DIR = "logs"
RUN_LOG = "run.log"
FAILED = "FAILED"  # a run that died: the cause and traceback
EVAL = "eval.json"  # what `harness eval` writes
SCORE = "score.json"  # what `harness score` writes
SEARCH_AREA = "search"
SWEEP_AREA = "sweep"
LEADERBOARD = "leaderboard.json"  # the sweep's record (harness.results.Leaderboard)
LEADERBOARD_REPORTS = ("leaderboard.md", "leaderboard.html")
ADAPTER_WEIGHTS = "adapter_model.safetensors"


def search_area(runs_dir: Path, project: str) -> Path:
    """Shared by every run of a project, so re-running a spec resumes its study."""
    return runs_dir / project / SEARCH_AREA


def sweep_area(runs_dir: Path, project: str) -> Path:
    """Fixed per project, so re-running a sweep finds the models it already finished."""
    return runs_dir / project / SWEEP_AREA


def leaderboard_path(sweep_dir: Path) -> Path:
    return sweep_dir / LEADERBOARD


def adapter_mb(adapter_dir: Path) -> float:
    """The LoRA weights' size in MiB (what a user ships beside the base model)."""
    return (adapter_dir / ADAPTER_WEIGHTS).stat().st_size / 2**20


def run_dirs(runs_dir: Path, project: str) -> list[Path]:
    """A project's run directories (finished or not), oldest first: timestamps sort by name."""
    parent = runs_dir / project
    if not parent.is_dir():
        return []
    return sorted(p for p in parent.iterdir() if p.is_dir() and p.name not in (SEARCH_AREA, SWEEP_AREA))


def results_path(run_dir: Path) -> Path:
    return run_dir / RESULTS


def spec_path(run_dir: Path) -> Path:
    return run_dir / SPEC


def new_run_dir(runs_dir: Path, project: str) -> Path:
    """`runs/<project>/<timestamp>[-k]`: created exclusively, so a re-run never overwrites."""
    parent = runs_dir / project
    parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for k in range(1, 1000):
        candidate = parent / (stamp if k == 1 else f"{stamp}-{k}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a fresh run directory under {parent}")


def write_atomic(path: Path, data: bytes) -> Path:
    """Temp file in the same directory, then os.replace: readers see the old file or the new one,
    never half of one. World-readable (mkstemp makes 0600): run files are meant to be shared."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


PACKAGES = ("harness", "torch", "transformers", "peft", "trl", "accelerate", "datasets", "autotrain-advanced", "optuna", "sqlglot")


def package_versions(names) -> dict[str, str | None]:
    """Installed version of each distribution, None where it is absent."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def environment() -> dict:
    """Versions and hardware, enough to reproduce the numbers."""
    import torch

    versions = package_versions(PACKAGES)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
        "packages": versions,
    }
