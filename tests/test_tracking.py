"""Experiment tracking against the real things: an MLflow server this module starts (SQLite backend,
127.0.0.1, a free port, one worker, no job runner) read back through `MlflowClient`, TensorBoard
event files read back with TensorBoard's own reader, W&B in offline mode; one tracked run read back
by several tests (the run itself, `harness eval` into it, `harness score` beside it); a sweep's
leaderboard run; and a server stopped mid-run, which must not cost it."""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest

from harness import runs
from harness.cli import main
from harness.errors import UserError
from harness.results import ScoreResults, load, load_eval, load_leaderboard
from harness.tracking.checks import require_package
from harness.tracking.mlflow_tracker import client as tracker_client
from tests.conftest import tiny_spec_dict, write_spec
from tests.test_sweep import broken_checkpoint, sweep_spec_dict

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
            # no job-execution (huey) workers: the tests log runs, they run no server jobs
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
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


@contextlib.contextmanager
def _server(folder: Path):
    folder.mkdir()
    started = Server(folder)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for the module's tests; each logs to an experiment of its own."""
    with _server(tmp_path_factory.mktemp("mlflow") / "server") as started:
        yield started


@dataclass(frozen=True)
class TrackedRun:
    run_dir: Path
    spec: Path
    out: str  # what `harness run` printed


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory, server):
    """One `harness run` (a 2-trial search, then the final training) with MLflow, TensorBoard and W&B
    offline; the environment stays offline for the tests that log into it again."""
    tmp_path = tmp_path_factory.mktemp("tracked")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WANDB_MODE", "offline")
        env.setenv("WANDB_DIR", str(tmp_path / "wandb-home"))
        env.setenv("HOME", str(tmp_path))  # no credentials, no network: offline must not need them
        env.delenv("WANDB_API_KEY", raising=False)
        tracking = {"mlflow": {"tracking_uri": server.uri, "experiment": "tiny-exp"}, "tensorboard": {},
                    "wandb": {"mode": "offline"}}
        # trials train 3 steps, validated after each (the pruner's rungs); the final model trains 4:
        # it is retrained, so its curves stream through the training's event channel
        spec = _search_spec(tmp_path, tracking, trial_train={"max_steps": 3, "eval_every": 1})
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            assert main(["run", str(spec)]) == 0
        yield TrackedRun(run_dir=_run_dir(tmp_path), spec=spec, out=printed.getvalue())


def _parent_and_children(client: mlflow.MlflowClient, experiment: str):
    found = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    (parent,) = [r for r in found if "mlflow.parentRunId" not in r.data.tags]
    return parent, [r for r in found if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]


def _search_spec(tmp_path: Path, tracking: dict, **search) -> Path:
    spec = tiny_spec_dict(runs_dir=str(tmp_path / "runs"), tracking=tracking)
    spec["search"] = {"trials": 2, "sampler": "random",
                      "space": {"lr": {"type": "categorical", "choices": [5e-3, 1e-2]}}, **search}
    return write_spec(tmp_path / "tiny.yaml", spec)


def _run_dir(tmp_path: Path) -> Path:
    (run_dir,) = (tmp_path / "runs" / "tiny").glob("2*")
    return run_dir


@pytest.mark.train
def test_a_run_with_mlflow_tensorboard_and_wandb_offline_is_read_back(tracked_run, server, tmp_path):
    assert "tracking: mlflow (http://127.0.0.1" in tracked_run.out
    run_dir = tracked_run.run_dir
    record = load(run_dir)
    assert record.tracking.trackers == ["mlflow", "tensorboard", "wandb"] and record.tracking.failures == []

    client = mlflow.MlflowClient(server.uri)
    parent, children = _parent_and_children(client, "tiny-exp")
    assert parent.info.run_name == run_dir.name and parent.info.status == "FINISHED"
    # what `harness eval` finds the run by again
    assert record.tracking.runs["mlflow"] == parent.info.run_id
    assert record.tracking.runs["tensorboard"] == str(run_dir / "tensorboard")
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
    # each child logged as its trial finished, not all at the end: the second one a whole trial later
    first, second = sorted(children, key=lambda c: int(c.data.tags["trial"]))
    assert second.info.start_time - first.info.start_time >= record.search.trials[1].duration_s * 1000 - 5
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
    offline = min((run_dir / "wandb").glob("offline-run-*"))  # the run's own (a later `harness eval` adds one)
    assert offline.name.endswith(f"-{record.tracking.runs['wandb']}")
    (log,) = offline.glob("run-*.wandb")
    assert b"verdict" in log.read_bytes() and f"test/{headline}/tuned".encode() in log.read_bytes()
    last = max(offline.glob("files/media/table/trials_*.table.json"), key=lambda p: int(p.name.split("_")[1]))
    table = json.loads(last.read_text())
    assert [(row[0], row[1]) for row in table["data"]] == [(t.number, t.state.value) for t in record.search.trials]


@pytest.mark.train
def test_eval_of_a_run_logs_into_that_runs_tracker_runs(tracked_run, server):
    run_dir = tracked_run.run_dir
    record = load(run_dir)
    client = mlflow.MlflowClient(server.uri)
    runs_before = len(client.search_runs([client.get_experiment_by_name("tiny-exp").experiment_id]))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["eval", str(run_dir)]) == 0
    evaluated = load_eval(run_dir / runs.EVAL)
    assert evaluated.tracking.runs == record.tracking.runs and evaluated.tracking.failures == []
    assert "tracking: mlflow (http://127.0.0.1" in printed.getvalue()

    # MLflow: the same parent run, no new one; each number a second time, the status left as it was
    parent, _ = _parent_and_children(client, "tiny-exp")
    assert parent.info.run_id == record.tracking.runs["mlflow"] and parent.info.status == "FINISHED"
    assert len(client.search_runs([parent.info.experiment_id])) == runs_before
    headline = evaluated.evaluation.verdict.headline
    for name, c in evaluated.evaluation.metrics.items():
        for key in ("base", "tuned", "diff", "ci_low", "ci_high"):
            if getattr(c, key) is not None:
                assert [m.value for m in client.get_metric_history(parent.info.run_id, f"test/{name}/{key}")] == \
                    pytest.approx([getattr(record.evaluation.metrics[name], key), getattr(c, key)])
    assert parent.data.tags["verdict"] == evaluated.evaluation.verdict.outcome
    assert "eval.json" in {a.path for a in client.list_artifacts(parent.info.run_id)}
    # TensorBoard: a second event file in the run's folder; W&B: the run resumed by its id (offline: a second folder)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    board = EventAccumulator(str(run_dir / "tensorboard"))
    board.Reload()
    assert [e.value for e in board.Scalars(f"test/{headline}/tuned")] == pytest.approx(
        [record.evaluation.metrics[headline].tuned, evaluated.evaluation.metrics[headline].tuned])
    wandb_runs = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(wandb_runs) == 2 and all(f.name.endswith(f"-{record.tracking.runs['wandb']}") for f in wandb_runs)


@pytest.mark.train
def test_score_logs_into_a_new_run(tracked_run, server, tmp_path):
    """Answers from elsewhere (here: the tracked run's tuned answers) get a tracker run of their own."""
    record = load(tracked_run.run_dir)
    spec = write_spec(tmp_path / "score.yaml", tiny_spec_dict(
        runs_dir=str(tmp_path / "runs"), tracking={"mlflow": {"tracking_uri": server.uri, "experiment": "tiny-score"}}))
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"id": e.id, "answer": e.tuned}) + "\n" for e in record.evaluation.examples))
    assert main(["score", "--spec", str(spec), str(answers), "--out", str(tmp_path / "scored")]) == 0
    scored = ScoreResults.model_validate_json((tmp_path / "scored" / runs.SCORE).read_text())

    client = mlflow.MlflowClient(server.uri)
    (run,) = client.search_runs([client.get_experiment_by_name("tiny-score").experiment_id])
    assert scored.tracking.runs == {"mlflow": run.info.run_id} and scored.tracking.failures == []
    assert run.info.run_name == "score answers.jsonl" and run.info.status == "FINISHED"
    assert run.data.tags["harness.kind"] == "score" and run.data.params["project"] == "tiny"
    test = scored.sets["test"]
    assert run.data.metrics["test/answered"] == test.answered == len(record.evaluation.examples)
    measured = {metric: interval for metric, interval in test.metrics.items() if interval.mean is not None}
    assert measured  # (execution is not measured: WikiSQL rows have no database)
    for metric, interval in measured.items():
        assert run.data.metrics[f"test/{metric}/mean"] == pytest.approx(interval.mean)
        assert run.data.metrics[f"test/{metric}/ci_high"] == pytest.approx(interval.ci_high)
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"score.json", "spec.yaml"}


@pytest.mark.train
def test_a_sweep_logs_each_model_and_its_leaderboard_into_one_experiment(tmp_path, server):
    spec = sweep_spec_dict("tiny", str(broken_checkpoint(tmp_path)), runs_dir=str(tmp_path / "runs"),
                           tracking={"mlflow": {"tracking_uri": server.uri}})
    assert main(["run", str(write_spec(tmp_path / "sweep.yaml", spec))]) == 1  # the broken model fails
    sweep_dir = runs.sweep_area((tmp_path / "runs").resolve(), "sweep")
    board = load_leaderboard(sweep_dir)

    client = mlflow.MlflowClient(server.uri)
    found = client.search_runs([client.get_experiment_by_name("sweep").experiment_id])  # the sweep's project
    by_name = {r.info.run_name: r for r in found}
    finished, broken = board.rows
    assert by_name[finished.run_dir.name].info.status == "FINISHED"  # each model's own parent run
    assert by_name[broken.run_dir.name].info.status == "FAILED"
    summary = by_name["leaderboard"]
    assert board.tracking.runs == {"mlflow": summary.info.run_id} and len(found) == 3
    assert summary.data.tags["harness.kind"] == "sweep" and summary.data.tags["sweep.models"] == "tiny-llama, broken"
    assert summary.data.tags["broken.outcome"] == f"failed: {broken.error}"[:500]
    for metric, c in finished.metrics.items():
        assert summary.data.metrics[f"tiny-llama/{metric}/tuned"] == pytest.approx(c.tuned)
    assert summary.data.metrics["tiny-llama/train_seconds"] == pytest.approx(finished.train_seconds)
    artifacts = {a.path for a in client.list_artifacts(summary.info.run_id)}
    assert {"leaderboard.json", "leaderboard.md", "leaderboard.html", "spec.yaml"} <= artifacts


@pytest.mark.train
def test_a_tracking_server_that_dies_mid_run_does_not_cost_the_run(tmp_path, capsys):
    with _server(tmp_path / "mlflow-server") as server:  # its own: this test stops it
        _run_through_a_dying_server(tmp_path, server, capsys)


def _run_through_a_dying_server(tmp_path: Path, server: Server, capsys) -> None:
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
