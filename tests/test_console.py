"""What a person sees: `harness run` piped (as in CI) prints plain lines, one per stage, the
search/training/generation progress and the verdict; the libraries' chatter lands in run.log."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import WIKISQL_TRAIN, tiny_spec_dict, write_spec

HARNESS = [sys.executable, "-m", "harness.cli"]
REPO = Path(__file__).resolve().parents[1]
NOISE = ("Unsloth", "INFO", "{'loss'", "it/s]", "Generating train split", "PyTorch version", "[I 20")


def _harness(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*HARNESS, *args], cwd=cwd, capture_output=True, text=True, timeout=900,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(Path.home())})


def test_piped_run_is_short_plain_lines_and_the_noise_goes_to_the_run_log(tmp_path):
    spec = tiny_spec_dict(search={"trials": 2, "space": {"lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}}})
    result = _harness("run", str(write_spec(tmp_path / "tiny.yaml", spec)), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert result.stderr == ""
    assert "\x1b" not in out and "\r" not in out
    assert not [word for word in NOISE if word in out]
    lines = out.splitlines()
    assert len(lines) <= 30, out
    stages = [line.split()[1:-1] for line in lines if line.startswith("done ")]
    assert stages == [["load", "data"], ["load", "model"], ["search"], ["evaluate"], ["report"]], out
    assert re.search(r"^ +trial 0 \(1/2\) complete: lr=\S+ -> \d+\.\d+$", out, re.MULTILINE), out
    assert re.search(r"^ +search 2/2 trials · best \d+\.\d+$", out, re.MULTILINE), out
    assert re.search(r"^ +train 4/4 steps · loss \d+\.?\d* · tokens/s \d+ · valid loss \d+\.?\d*$", out, re.MULTILINE), out
    assert re.search(r"^ +tuned 8/8 answers · tokens/s \d+$", out, re.MULTILINE), out

    (run_dir,) = [p for p in (tmp_path / "runs" / "tiny").iterdir() if p.name != "search"]
    verdict = json.loads((run_dir / "report.json").read_text())["headline"]["verdict"]
    assert lines[-3:] == [f"verdict: {verdict}", f"report:  {run_dir}/report.html", f"         {run_dir}/report.md"]
    log = (run_dir / "logs" / "run.log").read_text()
    assert "Unsloth not available" in log and "{'loss'" in log and "Trial 1 finished" in log


def test_verbose_shows_the_library_output_that_is_otherwise_hidden(tmp_path):
    """A CSV source goes through `datasets`, whose progress bar shows with -v only (one file per
    call: `datasets` caches what it has read once and would print nothing the second time)."""
    rows = [json.loads(line)["text"] for line in WIKISQL_TRAIN.read_text().splitlines()[:150]]
    calls = {}
    for name, flags in (("quiet", []), ("loud", ["-v"])):
        with (tmp_path / f"{name}.csv").open("w", newline="") as fh:
            csv.writer(fh).writerows([["text"], *([r] for r in rows)])
        spec = tiny_spec_dict(**{"data.source": f"{name}.csv", "data.subset": None})
        calls[name] = _harness("validate", *flags, str(write_spec(tmp_path / f"{name}.yaml", spec)), cwd=tmp_path)
    assert calls["quiet"].returncode == calls["loud"].returncode == 0
    assert calls["quiet"].stderr == ""
    assert "Generating train split" in calls["loud"].stderr, calls["loud"].stderr
