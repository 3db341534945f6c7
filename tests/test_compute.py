"""The `compute` section checks itself (spec) and against the machine (validate): one line each,
naming the field, before anything starts."""

from __future__ import annotations

import importlib.util
import re

import pytest

from harness.cli import main
from harness.errors import UserError
from harness.hardware import Machine, check_compute
from harness.spec import ComputeSpec
from tests.conftest import tiny_spec_dict, write_spec

CPU = Machine(cuda=False, cuda_bf16=False, cpu_flags=frozenset())
TWO_GPUS = Machine(cuda=True, cuda_bf16=True, cpu_flags=frozenset(), gpus=2)


@pytest.mark.parametrize("overrides, message", [
    ({"compute.machines": 2, "compute.machine_rank": 2, "compute.main_port": 29500}, "machine_rank 2 is out of range for machines: 2"),
    ({"compute.machines": 2}, "machines > 1 needs main_port"),
    ({"compute.zero_stage": 2}, "zero_stage and deepspeed_config apply to strategy: deepspeed only"),
    ({"compute.strategy": "deepspeed", "compute.zero_stage": 2, "compute.deepspeed_config": "ds.json"}, "give zero_stage or deepspeed_config, not both"),
    ({"compute.processes": 0}, "processes must be at least 1"),
    ({"compute.strategy": "horovod"}, "field 'compute.strategy'"),
    ({"compute.machines": 2, "compute.main_port": 29500, "search": {"space": {"lr": {"type": "float", "low": 1e-4, "high": 1e-2}}}},
     "compute.machines: a search trains once per trial"),
    ({"compute.strategy": "fsdp"}, "compute.strategy: fsdp shards the model across CUDA GPUs and this machine has none"),
    ({"compute.strategy": "deepspeed", "compute.deepspeed_config": "missing.json"}, "compute.strategy: deepspeed"),
])
def test_validate_refuses_what_cannot_run_in_one_line(tmp_path, capsys, overrides, message):
    path = write_spec(tmp_path / "spec.yaml", tiny_spec_dict(**overrides))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_more_processes_than_gpus_is_refused():
    with pytest.raises(UserError, match=r"compute.processes: 3 processes but this machine has 2 GPU\(s\)"):
        check_compute(ComputeSpec(processes=3), TWO_GPUS)
    check_compute(ComputeSpec(processes=2), TWO_GPUS)
    check_compute(ComputeSpec(processes=2), CPU)  # CPU ranks share the cores over gloo


@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is not None, reason="deepspeed is installed here")
def test_deepspeed_not_installed_names_the_package():
    with pytest.raises(UserError, match=re.escape("compute.strategy: deepspeed needs the package 'deepspeed'; pip install deepspeed")):
        check_compute(ComputeSpec(strategy="deepspeed", zero_stage=3), TWO_GPUS)


@pytest.mark.parametrize("compute, gpus, processes, launched", [
    (ComputeSpec(), 0, 1, False),  # auto on a CPU: in-process
    (ComputeSpec(), 1, 1, False),
    (ComputeSpec(), 4, 4, True),  # auto: one per GPU
    (ComputeSpec(processes=2), 0, 2, True),
    (ComputeSpec(strategy="fsdp"), 1, 1, True),
    (ComputeSpec(machines=2, processes=1, main_port=29500), 0, 1, True),
])
def test_auto_is_one_process_per_gpu_and_one_process_trains_in_process(compute, gpus, processes, launched):
    assert compute.processes_on(gpus) == processes
    assert compute.launched(gpus) == launched
