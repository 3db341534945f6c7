"""Experiment tracking against the real things: an MLflow server this test starts (SQLite backend,
127.0.0.1, a free port) read back through `MlflowClient`, TensorBoard event files read back with
TensorBoard's own reader, W&B in offline mode; and a server stopped mid-run, which must not cost it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import mlflow
import pytest

from harness import runs
from harness.cli import main
from harness.errors import UserError
from harness.results import load
from harness.tracking.checks import require_package
from harness.tracking.mlflow_tracker import client as tracker_client
from tests.conftest import tiny_spec_dict, write_spec

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`mlflow server` on 127.0.0.1 with a SQLite backend in `folder`."""

    def __init__(self, folder: Path):
        self.port = _free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(BIN / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
             "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", "1"],
            stdout=(folder / "server.log").open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        client = tracker_client(self.uri)  # gives up on a request within seconds
        deadline = time.monotonic() + 120
        while True:
            try:
                client.search_experiments(max_results=1)
                return
            except mlflow.exceptions.MlflowException:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"mlflow server did not start: {(folder / 'server.log').read_text()[-2000:]}") from None
                time.sleep(0.5)

    def stop(self) -> None:
        """The server and its workers (its own process group)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, 9)
            self.process.wait()


@pytest.fixture
def server(tmp_path):
    folder = tmp_path / "mlflow-server"
    folder.mkdir()
    started = Server(folder)
    yield started
    started.stop()


def _search_spec(tmp_path: Path, tracking: dict, **search) -> Path:
    spec = tiny_spec_dict(runs_dir=str(tmp_path / "runs"), tracking=tracking)
    spec["search"] = {"trials": 2, "sampler": "random",
                      "space": {"lr": {"type": "categorical", "choices": [5e-3, 1e-2]}}, **search}
    return write_spec(tmp_path / "tiny.yaml", spec)


def _run_dir(tmp_path: Path) -> Path:
    (run_dir,) = (tmp_path / "runs" / "tiny").glob("2*")
    return run_dir


@pytest.mark.train
def test_a_run_with_mlflow_tensorboard_and_wandb_offline_is_read_back(tmp_path, server, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb-home"))
    monkeypatch.setenv("HOME", str(tmp_path))  # no credentials, no network: offline must not need them
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    tracking = {"mlflow": {"tracking_uri": server.uri, "experiment": "tiny-exp"}, "tensorboard": {},
                "wandb": {"mode": "offline"}}
    # trials train 3 steps, validated after each (the pruner's rungs); the final model trains 4:
    # it is retrained, so its curves stream through the training's event channel
    assert main(["run", str(_search_spec(tmp_path, tracking, trial_train={"max_steps": 3, "eval_every": 1}))]) == 0
    assert "tracking: mlflow (http://127.0.0.1" in capsys.readouterr().out
    run_dir = _run_dir(tmp_path)
    record = load(run_dir)
    assert record.tracking.trackers == ["mlflow", "tensorboard", "wandb"] and record.tracking.failures == []

    client = mlflow.MlflowClient(server.uri)
    experiment = client.get_experiment_by_name("tiny-exp")
    found = client.search_runs([experiment.experiment_id])
    (parent,) = [r for r in found if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in found if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.info.run_name == run_dir.name and parent.info.status == "FINISHED"
    # the spec (masked), the data summary, the environment and package versions
    assert parent.data.params["train.lr"] == "0.005" and parent.data.params["search.trials"] == "2"
    assert parent.data.tags["data.rows"] == str(record.data.rows)
    assert parent.data.tags["package.transformers"] == record.environment.packages["transformers"]
    # one child per trial, with its state as tag and status, its parameters and validation values
    assert sorted(int(c.data.tags["trial"]) for c in children) == [t.number for t in record.search.trials]
    for child in children:
        trial = record.search.trials[int(child.data.tags["trial"])]
        assert child.data.tags["state"] == trial.state.value
        assert child.info.status == {"complete": "FINISHED", "pruned": "KILLED"}.get(trial.state.value, "FAILED")
        assert float(child.data.params["lr"]) == trial.params["lr"]
        history = client.get_metric_history(child.info.run_id, "valid/loss")
        assert trial.intermediate_values and {m.step: m.value for m in history} == pytest.approx(trial.intermediate_values)
        assert child.data.metrics["steps"] == trial.steps
    # the final training's curves, step by step
    losses = client.get_metric_history(parent.info.run_id, "train/loss")
    assert [m.step for m in losses] == [h.step for h in record.training.history if h.loss is not None]
    assert {m.step: m.value for m in client.get_metric_history(parent.info.run_id, "valid/loss")} == pytest.approx(
        {p.step: p.loss for p in record.training.valid_losses})
    assert client.get_metric_history(parent.info.run_id, "train/learning_rate")
    # every metric base and tuned with the difference and both intervals, and the verdict
    metrics = parent.data.metrics
    for name, c in record.evaluation.metrics.items():
        for key in ("base", "tuned", "diff", "ci_low", "ci_high"):
            if getattr(c, key) is not None:
                assert metrics[f"test/{name}/{key}"] == pytest.approx(getattr(c, key))
        if c.adjusted is not None:
            assert metrics[f"test/{name}/holm_ci_low"] == pytest.approx(c.adjusted.ci_low)
    assert parent.data.tags["verdict"] == record.evaluation.verdict.outcome
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"report.html", "report.md", "report.json", "results.json", "spec.yaml", "adapter"} <= artifacts
    assert [a.path for a in client.list_artifacts(parent.info.run_id, "adapter")] == ["adapter/README.md"]
    spec_text = Path(client.download_artifacts(parent.info.run_id, "spec.yaml", str(tmp_path))).read_text()
    assert "tiny-exp" in spec_text

    # TensorBoard, read back with its own reader: the curves, the evaluation, one sub-run per trial
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    board = EventAccumulator(str(run_dir / "tensorboard"))
    board.Reload()
    assert [e.step for e in board.Scalars("train/loss")] == [m.step for m in losses]
    assert board.Scalars("valid/loss")[-1].value == pytest.approx(record.training.valid_losses[-1].loss)
    headline = record.evaluation.verdict.headline
    assert board.Scalars(f"test/{headline}/tuned")[0].value == pytest.approx(record.evaluation.metrics[headline].tuned)
    for trial in record.search.trials:
        sub = EventAccumulator(str(run_dir / "tensorboard" / "trials" / f"trial-{trial.number:04d}"))
        sub.Reload()
        assert {e.step: e.value for e in sub.Scalars("valid/loss")} == pytest.approx(trial.intermediate_values)

    # W&B offline: its run folder inside the run directory, for `wandb sync`; the run's records are in
    # its binary transaction log (read only by W&B's Go core), the trials table in W&B's own table JSON
    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    (log,) = offline.glob("run-*.wandb")
    assert b"verdict" in log.read_bytes() and f"test/{headline}/tuned".encode() in log.read_bytes()
    last = max(offline.glob("files/media/table/trials_*.table.json"), key=lambda p: int(p.name.split("_")[1]))
    table = json.loads(last.read_text())
    assert [(row[0], row[1]) for row in table["data"]] == [(t.number, t.state.value) for t in record.search.trials]


@pytest.mark.train
def test_a_tracking_server_that_dies_mid_run_does_not_cost_the_run(tmp_path, server, capsys):
    spec_path = _search_spec(tmp_path, {"mlflow": {"tracking_uri": server.uri}, "tensorboard": {}}, trials=1)
    trial_done = tmp_path / "runs" / "tiny" / "search"

    def stop_after_the_first_trial() -> None:
        while not list(trial_done.glob("trial-0000/train_result.json")):
            time.sleep(0.05)
        server.stop()

    killer = threading.Thread(target=stop_after_the_first_trial, daemon=True)
    killer.start()
    assert main(["run", str(spec_path)]) == 0
    killer.join(timeout=5)
    out = capsys.readouterr().out
    run_dir = _run_dir(tmp_path)
    record = load(run_dir)  # results.json and the report are written all the same
    (failure,) = record.tracking.failures
    assert failure.tracker == "mlflow" and failure.during == "trial"
    assert record.tracking.where == {"tensorboard": str(run_dir / "tensorboard")}
    when = f"{failure.at:%Y-%m-%d %H:%M:%S}"
    assert f"mlflow failed at {when} while logging the trial" in out
    for report in ("report.md", "report.html"):
        assert f"mlflow failed at {when} while logging the trial" in (run_dir / report).read_text()
    # the trackers still alive saw the rest: TensorBoard has the evaluation
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    board = EventAccumulator(str(run_dir / "tensorboard"))
    board.Reload()
    assert any(tag.startswith("test/") for tag in board.Tags()["scalars"])
    assert not (run_dir / runs.FAILED).exists()


def _validate(tmp_path: Path, tracking: dict, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    spec = write_spec(tmp_path / "tiny.yaml", tiny_spec_dict(tracking=tracking))
    environ = {key: value for key, value in os.environ.items() if not key.startswith("WANDB_")}
    return subprocess.run([str(BIN / "harness"), "validate", str(spec)], capture_output=True, text=True,
                          env={**environ, **(env or {})}, timeout=300)


def test_validate_names_an_mlflow_server_that_does_not_answer(tmp_path):
    uri = f"http://user:pw@127.0.0.1:{_free_port()}"  # nothing listens there
    done = _validate(tmp_path, {"mlflow": {"tracking_uri": uri}})
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: tracking.mlflow.tracking_uri: no MLflow server answers at http://user:***@127.0.0.1:")
    assert "pw" not in line.replace("pw@", "")


def test_validate_wants_credentials_for_wandb_online(tmp_path):
    done = _validate(tmp_path, {"wandb": {"project": "p"}}, {"HOME": str(tmp_path)})  # no WANDB_API_KEY, no ~/.netrc
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        ("error: tracking.wandb: mode online needs W&B credentials (WANDB_API_KEY, or `wandb login`); "
         "set them, or use mode: offline and `wandb sync` later")]
    offline = _validate(tmp_path, {"wandb": {"project": "p", "mode": "offline"}, "tensorboard": {}}, {"HOME": str(tmp_path)})
    assert offline.returncode == 0, offline.stderr


def test_a_missing_tracker_package_is_one_line_naming_it():
    with pytest.raises(UserError, match=r"^tracking\.mlflow: needs the package 'harness_no_such_tracker', which is not "
                                        r"installed; pip install -e \"\.\[tracking\]\"$"):
        require_package("mlflow", "harness_no_such_tracker")
    require_package("mlflow", "mlflow")  # installed: no complaint
