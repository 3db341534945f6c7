"""Which precisions this machine runs natively, decided once for validation, training and evaluation.

bf16 pays off where the hardware multiplies in bf16: a CUDA GPU that supports it, or a CPU with
AVX512-BF16 / AMX-BF16 (x86) or the BF16 extension (Arm). Elsewhere torch emulates it, slower than
fp32, so the spec refuses it up front instead of running a slow or failing job.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UserError
from harness.spec import ComputeSpec, SearchSpec, TrainSpec

# /proc/cpuinfo names of native bf16 arithmetic: x86 "flags" (AVX512-BF16, AMX-BF16), Arm "Features"
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
_PRECISION_OF_DTYPE = {"float32": "none", "bfloat16": "bf16", "float16": "fp16"}


@dataclass(frozen=True)
class Machine:
    cuda: bool
    cuda_bf16: bool  # the GPU computes in bf16 (compute capability >= 8)
    cpu_flags: frozenset[str]
    gpus: int = 0  # visible CUDA devices

    @property
    def native_bf16(self) -> bool:
        return self.cuda_bf16 if self.cuda else bool(self.cpu_flags & BF16_CPU_FLAGS)


def cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The instruction-set flags of the first CPU in /proc/cpuinfo text (x86 `flags`, Arm `Features`)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


# torch reaches a GPU through its driver: NVIDIA's (CUDA) or ROCm's kernel device (HIP)
_GPU_DRIVER_FILES = ("/proc/driver/nvidia/version", "/dev/nvidia0", "/dev/kfd")


def this_machine() -> Machine:
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no flags known, so bf16 counts as not native
        info = ""
    if not any(Path(p).exists() for p in _GPU_DRIVER_FILES):  # no driver, no GPU: spare the torch import
        return Machine(cuda=False, cuda_bf16=False, cpu_flags=cpu_flags(info))
    import torch

    cuda = torch.cuda.is_available()
    return Machine(cuda=cuda, cuda_bf16=cuda and torch.cuda.is_bf16_supported(), cpu_flags=cpu_flags(info),
                   gpus=torch.cuda.device_count() if cuda else 0)


def training_precision(spec: TrainSpec, machine: Machine) -> str:
    """The precision a training run really uses: `auto` becomes bf16 where it is native, else none."""
    if spec.mixed_precision == "auto":
        return "bf16" if machine.native_bf16 else "none"
    return spec.mixed_precision


def evaluation_dtype(dtype: str, machine: Machine) -> str:
    """The weights' type an evaluation really uses: `auto` becomes bfloat16 where bf16 is native, else float32."""
    if dtype == "auto":
        return "bfloat16" if machine.native_bf16 else "float32"
    return dtype


def check_training(spec: TrainSpec, machine: Machine) -> None:
    """QLoRA needs bitsandbytes on CUDA; half precision needs hardware that computes in it."""
    if spec.quantization != "none" and not machine.cuda:
        raise UserError(f"train.quantization: {spec.quantization} (QLoRA via bitsandbytes) needs a CUDA GPU; use 'none' on CPU")
    _check_precision("train.mixed_precision", spec.mixed_precision, training_precision(spec, machine), machine)


def check_compute(spec: ComputeSpec, machine: Machine) -> None:
    """What this machine cannot run of the `compute` section, before anything starts."""
    if machine.cuda and isinstance(spec.processes, int) and spec.processes > machine.gpus:
        raise UserError(f"compute.processes: {spec.processes} processes but this machine has {machine.gpus} GPU(s); "
                        "use at most one per GPU (or auto)")
    if spec.strategy in ("fsdp", "deepspeed") and not machine.cuda:
        raise UserError(f"compute.strategy: {spec.strategy} shards the model across CUDA GPUs and this machine has none; "
                        "use ddp on CPU")
    if spec.strategy == "deepspeed" and importlib.util.find_spec("deepspeed") is None:
        raise UserError("compute.strategy: deepspeed needs the package 'deepspeed'; pip install deepspeed")


def visible_gpus(machine: Machine) -> list[str]:
    """The ids a process on this machine may put in CUDA_VISIBLE_DEVICES: those it was given, or all."""
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [part.strip() for part in given.split(",") if part.strip()] if given is not None else [str(i) for i in range(machine.gpus)]
    return ids[:machine.gpus]


def cpu_cores() -> list[int]:
    """The cores this process may run on (a container's or taskset's share, not the whole machine)."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def check_search_parallel(search: SearchSpec, compute: ComputeSpec, machine: Machine) -> None:
    """Each search worker gets a GPU of its own, or on a CPU-only machine a core or more of its own.
    More workers than cores is refused rather than warned about: they would share cores, each
    slower than alone, and hold a model in memory each, for no more trials per hour."""
    workers = search.parallel
    if workers == 1:
        return
    if machine.cuda:
        if workers > machine.gpus:
            raise UserError(f"search.parallel: {workers} workers but this machine has {machine.gpus} GPU(s); "
                            "each worker trains on a GPU of its own, so use at most one per GPU")
        if isinstance(compute.processes, int) and compute.processes > 1:
            raise UserError(f"search.parallel: {workers} workers each train on one GPU, so compute.processes "
                            f"({compute.processes}) must be 1 or auto")
    elif workers > len(cpu_cores()):
        raise UserError(f"search.parallel: {workers} workers but this process may use {len(cpu_cores())} CPU core(s) "
                        "and no GPU; use at most one worker per core")


def check_dtype(dtype: str, machine: Machine) -> None:
    """`model.dtype`, the weights' type at evaluation: same rule as training's mixed precision."""
    _check_precision("model.dtype", dtype, _PRECISION_OF_DTYPE[evaluation_dtype(dtype, machine)], machine)


# per field: how to spell bf16 and full precision in it, for the error's suggestion
_SPELLING = {"train.mixed_precision": ("bf16", "none"), "model.dtype": ("bfloat16", "float32")}


def _check_precision(field: str, value: str, precision: str, machine: Machine) -> None:
    bf16, full = _SPELLING[field]
    if precision == "fp16" and not machine.cuda:
        raise UserError(f"{field}: {value} needs a CUDA GPU; on CPU use {bf16} (where the CPU has native bf16) or {full}")
    if precision == "bf16" and not machine.native_bf16:
        where = "this GPU has none (compute capability < 8)" if machine.cuda else (
            "this CPU has none (no avx512_bf16, amx_bf16 or bf16 flag in /proc/cpuinfo)")
        raise UserError(f"{field}: {value} needs native bf16 arithmetic and {where}; use {full}")
