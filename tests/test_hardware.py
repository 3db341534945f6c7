"""bf16 is allowed where the hardware computes in it and refused elsewhere with one line naming the
field; the decision is fed real /proc/cpuinfo lines of CPUs with and without native bf16."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.errors import UserError
from harness.hardware import (
    Machine,
    check_dtype,
    check_training,
    cpu_flags,
    evaluation_dtype,
    this_machine,
    training_precision,
)
from harness.spec import TrainSpec
from tests.conftest import tiny_spec_dict, write_spec

# /proc/cpuinfo excerpts (trimmed flag lists) of three real CPUs
EPYC_GENOA = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu vme sse2 avx avx2 fma avx512f avx512dq avx512bw avx512vl avx512_bf16 avx512_vnni
"""
XEON_SKYLAKE = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8175M CPU @ 2.50GHz
flags\t\t: fpu vme sse2 avx avx2 fma avx512f avx512dq avx512bw avx512vl
"""
GRAVITON3 = """processor\t: 0
BogoMIPS\t: 2100.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp sve svebf16 i8mm bf16
CPU implementer\t: 0x41
"""


def _cpu(cpuinfo: str) -> Machine:
    return Machine(cuda=False, cuda_bf16=False, cpu_flags=cpu_flags(cpuinfo))


@pytest.mark.parametrize("cpuinfo", [EPYC_GENOA, GRAVITON3], ids=["x86-avx512_bf16", "arm-bf16"])
def test_bf16_is_accepted_on_a_cpu_with_native_bf16(cpuinfo):
    machine = _cpu(cpuinfo)
    assert machine.native_bf16
    check_training(TrainSpec(mixed_precision="bf16"), machine)
    check_dtype("bfloat16", machine)


def test_bf16_is_refused_naming_the_field_on_a_cpu_without_it():
    machine = _cpu(XEON_SKYLAKE)
    assert not machine.native_bf16
    with pytest.raises(UserError) as training:
        check_training(TrainSpec(mixed_precision="bf16"), machine)
    assert str(training.value) == ("train.mixed_precision: bf16 needs native bf16 arithmetic and this CPU has none "
                                   "(no avx512_bf16, amx_bf16 or bf16 flag in /proc/cpuinfo); use none")
    with pytest.raises(UserError, match=r"^model\.dtype: bfloat16 needs native bf16 arithmetic .*; use float32$"):
        check_dtype("bfloat16", machine)


@pytest.mark.parametrize("cpuinfo", [EPYC_GENOA, XEON_SKYLAKE], ids=["bf16-cpu", "plain-cpu"])
def test_fp16_needs_a_gpu_and_full_precision_runs_anywhere(cpuinfo):
    machine = _cpu(cpuinfo)
    with pytest.raises(UserError, match=r"^train\.mixed_precision: fp16 needs a CUDA GPU"):
        check_training(TrainSpec(mixed_precision="fp16"), machine)
    with pytest.raises(UserError, match=r"^model\.dtype: float16 needs a CUDA GPU"):
        check_dtype("float16", machine)
    check_training(TrainSpec(), machine)
    check_dtype("float32", machine)


@pytest.mark.parametrize(("machine", "native"), [
    (_cpu(EPYC_GENOA), True), (_cpu(GRAVITON3), True), (_cpu(XEON_SKYLAKE), False),
    (Machine(cuda=True, cuda_bf16=False, cpu_flags=cpu_flags(EPYC_GENOA)), False),
    (Machine(cuda=True, cuda_bf16=True, cpu_flags=frozenset()), True),
], ids=["x86-avx512_bf16", "arm-bf16", "plain-cpu", "old-gpu", "bf16-gpu"])
def test_auto_is_bf16_exactly_where_bf16_is_native_and_never_refused(machine, native):
    """`train.mixed_precision: auto` and `model.dtype: auto` decide alike; explicit values stay explicit."""
    auto = TrainSpec(mixed_precision="auto")
    check_training(auto, machine)
    check_dtype("auto", machine)
    assert training_precision(auto, machine) == ("bf16" if native else "none")
    assert evaluation_dtype("auto", machine) == ("bfloat16" if native else "float32")
    assert training_precision(TrainSpec(mixed_precision="bf16"), machine) == "bf16"
    assert training_precision(TrainSpec(), machine) == "none"
    assert evaluation_dtype("float16", machine) == "float16"


def test_a_gpu_decides_by_its_own_bf16_support_not_the_cpu_flags():
    old_gpu = Machine(cuda=True, cuda_bf16=False, cpu_flags=cpu_flags(EPYC_GENOA))
    with pytest.raises(UserError, match=r"^train\.mixed_precision: bf16 .* this GPU has none"):
        check_training(TrainSpec(mixed_precision="bf16"), old_gpu)
    check_training(TrainSpec(mixed_precision="bf16"), Machine(cuda=True, cuda_bf16=True, cpu_flags=frozenset()))


def test_validate_follows_the_decision_on_this_machine(tmp_path, capsys):
    """`harness validate` applies the same decision to this machine's own /proc/cpuinfo."""
    spec = write_spec(tmp_path / "spec.yaml", tiny_spec_dict(**{"train.mixed_precision": "bf16", "model.dtype": "bfloat16"}))
    native = this_machine().native_bf16
    assert main(["validate", str(spec)]) == (0 if native else 2)
    err = capsys.readouterr().err.strip().splitlines()
    assert (err[-1] if err else "").startswith("error: train.mixed_precision: bf16 needs native bf16") != native
