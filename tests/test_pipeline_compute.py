"""`harness run` with a `compute` section: trained by launched workers, reported as usual; a second
machine joins with `harness join`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from harness import results, runs
from harness.cli import main
from tests.conftest import tiny_spec_dict, write_spec

pytestmark = pytest.mark.train


def _run_dir(tmp_path):
    (run_dir,) = (tmp_path / "runs" / "tiny").iterdir()
    return run_dir


def test_two_processes_produce_a_normal_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    spec_path = write_spec(tmp_path / "tiny.yaml", tiny_spec_dict(**{"compute.processes": 2}))
    assert main(["run", str(spec_path)]) == 0
    run_dir = _run_dir(tmp_path)
    record = results.load(run_dir)
    assert record.training.steps == 4 and record.training.train_tokens == 4 * 2 * 2 * 128  # both ranks' blocks
    assert record.evaluation.n > 0
    assert all((run_dir / name).is_file() for name in runs.REPORT_FILES)
    log = (run_dir / runs.LOGS_DIR / runs.RUN_LOG).read_text()
    assert "[rank 0]" in log and "[rank 1]" in log  # every rank's lines reach the run log


def test_a_second_machine_joins_the_training_of_a_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec_path = write_spec(tmp_path / "tiny.yaml", tiny_spec_dict(**{
        "compute.machines": 2, "compute.processes": 1, "compute.main_port": port, "train.batch_size": 1}))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    other = subprocess.Popen([sys.executable, "-m", "harness.cli", "join", str(spec_path), "--machine-rank", "1"],
                             env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert main(["run", str(spec_path)]) == 0
        output, _ = other.communicate(timeout=120)
    finally:
        other.kill()
    assert other.returncode == 0, output
    assert "machine 1: training finished" in output
    record = results.load(_run_dir(tmp_path))
    assert record.training.steps == 4 and record.training.train_tokens > 4 * 128  # machine 1's rank fed blocks too


def test_join_refuses_machine_0(tmp_path, capsys):
    spec_path = write_spec(tmp_path / "tiny.yaml", tiny_spec_dict(**{"compute.machines": 2, "compute.main_port": 29511}))
    assert main(["join", str(spec_path), "--machine-rank", "0"]) == 2
    assert "machine 0 runs `harness run`" in capsys.readouterr().err
