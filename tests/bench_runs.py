"""A bench script run as its own process, read through the numbers it writes with `--json`: tests
check what a benchmark measures without importing bench code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def bench_json(module: str, *args: str, tmp_path: Path, cache: Path | None = None) -> dict:
    """`python -m <module> <args> --json <file>` from the repository root, with the harness cache
    (built-in databases, distilled suites) at `cache` (default: under `tmp_path`); the file's record."""
    out = tmp_path / f"{module.rsplit('.', 1)[-1]}.json"
    env = {**os.environ, "HARNESS_CACHE": str(cache or tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", module, *args, "--json", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"{module} exited with {done.returncode}:\n{done.stderr[-4000:]}")
    return json.loads(out.read_text())
