"""Training launched as worker processes (accelerate's launcher over gloo on this CPU): the same
training as in-process, events relayed, stops and faults ending every rank."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from harness.data import load_splits
from harness.events import EventChannel, StepEnded, Validated
from harness.launch import command
from harness.models import resolve_model
from harness.spec import ComputeSpec, parse_spec
from harness.train import JOB_FILE, TrainingError, join, train
from tests.conftest import tiny_spec_dict

# Float32 rounding only: two half-batch means averaged and gradients summed across ranks in another
# order than one process's single mean. Measured differences are ~1e-6 nats on losses of ~12 (a few
# ulps); 1e-4 leaves room for Adam to carry them over the steps, while a different batch order moves
# the curve by ~1e-2 (checked below), so the tolerance still tells the two apart.
LOSS_TOLERANCE = 1e-4


def _setup(**overrides):
    spec = parse_spec(tiny_spec_dict(**{"train.lora.dropout": 0.0, **overrides}))
    splits, _ = load_splits(spec.data)
    return spec, resolve_model(spec.model), splits


def _losses(result) -> list[float]:
    return [h.loss for h in result.history if h.loss is not None]


def _workers_of(out_dir: Path) -> dict[int, int]:
    """{rank: pid} of the live worker processes training the job in `out_dir`."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            environ = dict(v.split(b"=", 1) for v in (entry / "environ").read_bytes().split(b"\0") if b"=" in v)
        except OSError:
            continue
        if str(out_dir / JOB_FILE).encode() in cmdline and b"harness.train" in cmdline and b"RANK" in environ:
            found[int(environ[b"RANK"])] = int(entry.name)
    return found


pytestmark = pytest.mark.train


def test_two_processes_train_the_same_curve_as_one_with_the_same_global_batch(tmp_path, caplog):
    spec, model_dir, splits = _setup(**{"train.max_steps": 6, "train.batch_size": 4})
    one = train(model_dir, splits, spec.train, spec.prompt, tmp_path / "one")
    half = spec.train.model_copy(update={"batch_size": 2})
    with caplog.at_level(logging.INFO, logger="harness.worker"):
        two = train(model_dir, splits, half, spec.prompt, tmp_path / "two", compute=ComputeSpec(processes=2))
    assert two.train_tokens == one.train_tokens == 6 * 4 * 128  # counted over both ranks
    assert [v.step for v in two.valid_losses] == [v.step for v in one.valid_losses] == [2, 4, 6]
    assert max(abs(a - b) for a, b in zip(_losses(one), _losses(two))) < LOSS_TOLERANCE
    assert max(abs(a.loss - b.loss) for a, b in zip(one.valid_losses, two.valid_losses)) < LOSS_TOLERANCE
    assert (two.adapter_dir / "adapter_model.safetensors").is_file()
    lines = [r.getMessage() for r in caplog.records if r.name == "harness.worker"]
    assert any(line.startswith("[rank 0]") for line in lines) and any(line.startswith("[rank 1]") for line in lines)
    reordered = train(model_dir, splits, spec.train.model_copy(update={"seed": 7}), spec.prompt, tmp_path / "other")
    assert max(abs(a - b) for a, b in zip(_losses(one), _losses(reordered))) > 10 * LOSS_TOLERANCE


def test_a_stop_request_ends_every_rank_at_the_same_step(tmp_path):
    spec, model_dir, splits = _setup()
    channel = EventChannel()

    def prune(event):
        if isinstance(event, Validated):
            channel.request_stop(f"pruned at step {event.step}")

    channel.subscribe(prune)
    result = train(model_dir, splits, spec.train, spec.prompt, tmp_path, channel, ComputeSpec(processes=2))
    assert result.steps == 2 and result.stopped_early
    assert not _workers_of(tmp_path)


def test_a_killed_rank_fails_the_job_with_its_cause_within_seconds(tmp_path):
    spec, model_dir, splits = _setup(**{"train.max_steps": 500})
    channel, killed = EventChannel(), []

    def kill_rank_1(event):
        if isinstance(event, StepEnded) and not killed:
            os.kill(_workers_of(tmp_path)[1], signal.SIGKILL)
            killed.append(time.perf_counter())

    channel.subscribe(kill_rank_1)
    with pytest.raises(TrainingError, match=r"rank 1.*(SIGKILL|Signal 9)"):
        train(model_dir, splits, spec.train, spec.prompt, tmp_path, channel, ComputeSpec(processes=2))
    assert time.perf_counter() - killed[0] < 30
    assert not _workers_of(tmp_path)


def test_an_exception_in_the_ranks_comes_back_as_the_cause(tmp_path):
    spec, model_dir, splits = _setup()
    bad = spec.train.model_copy(update={"lora": spec.train.lora.model_copy(update={"target_modules": "no_such_proj"})})
    with pytest.raises(TrainingError, match=r"rank \d: .*no_such_proj"):
        train(model_dir, splits, bad, spec.prompt, tmp_path, compute=ComputeSpec(processes=2))


def test_ctrl_c_stops_every_rank(tmp_path):
    spec, model_dir, splits = _setup(**{"train.max_steps": 500})
    channel = EventChannel()

    def interrupt(event):
        if isinstance(event, StepEnded):
            raise KeyboardInterrupt

    channel.subscribe(interrupt)
    with pytest.raises(KeyboardInterrupt):
        train(model_dir, splits, spec.train, spec.prompt, tmp_path, channel, ComputeSpec(processes=2))
    assert not _workers_of(tmp_path)


def test_two_machines_on_one_host_train_one_model(tmp_path):
    """Machine 0 (the harness) and machine 1 (`join`) as two launchers on 127.0.0.1, one rank each."""
    spec, model_dir, splits = _setup(**{"train.batch_size": 1})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    machines = {"machines": 2, "processes": 1, "main_port": port}
    failures = []

    def machine_1():
        try:
            join(model_dir, splits, spec.train, spec.prompt, tmp_path / "m1", ComputeSpec(machine_rank=1, **machines))
        except Exception as exc:  # noqa: BLE001 - reported by the main thread's assertion
            failures.append(exc)

    other = threading.Thread(target=machine_1)
    other.start()
    result = train(model_dir, splits, spec.train, spec.prompt, tmp_path / "m0", compute=ComputeSpec(**machines))
    other.join(timeout=120)
    assert not failures
    assert result.steps == 4
    assert 4 * 128 < result.train_tokens <= 4 * 2 * 128  # at most one block per rank and step: both ranks fed
    assert (result.adapter_dir / "adapter_model.safetensors").is_file()
    assert not (tmp_path / "m1" / "adapter" / "adapter_model.safetensors").exists()  # machine 0 writes it, once


@pytest.mark.parametrize("strategy, flags", [
    (ComputeSpec(processes=2), ["--multi_gpu"]),
    (ComputeSpec(strategy="fsdp"), ["--fsdp_use_orig_params", "true"]),
    (ComputeSpec(strategy="deepspeed", zero_stage=3), ["--use_deepspeed", "--zero_stage", "3"]),
    (ComputeSpec(strategy="deepspeed", deepspeed_config="ds.json"), ["--deepspeed_config_file", "ds.json"]),
])
def test_the_launch_command_names_the_strategy(strategy, flags):
    cmd = command(strategy, gpus=4, cores=16, job_file=Path("job.json"), precision="bf16")
    joined = " ".join(cmd)
    assert " ".join(flags) in joined
    assert "--num_processes" in cmd and cmd[cmd.index("--num_processes") + 1] == str(strategy.processes_on(4))
    assert cmd[-3:] == ["-m", "harness.train", "job.json"] and "--num_cpu_threads_per_process" not in cmd


def test_cpu_ranks_share_the_cores():
    cmd = command(ComputeSpec(processes=2), gpus=0, cores=8, job_file=Path("job.json"), precision="none")
    assert cmd[cmd.index("--num_cpu_threads_per_process") + 1] == "4"
    assert cmd[cmd.index("--mixed_precision") + 1] == "no"
