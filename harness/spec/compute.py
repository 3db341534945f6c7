"""The `compute` section: how many processes on how many machines train, and how they share the model.

Training runs inside the harness process when one process on one machine is asked for (the
default on a CPU or a single GPU); otherwise it is launched as worker processes through
accelerate's launcher (`harness.launch`). What the machine can run (GPU count, FSDP and DeepSpeed
on CUDA only, DeepSpeed installed) is `harness.hardware.check_compute`'s job: it needs the machine.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from harness.spec.section import Section


class ComputeSpec(Section):
    # per machine; auto: one per visible GPU, 1 on a CPU
    processes: int | Literal["auto"] = Field("auto", description="training processes per machine")
    machines: int = Field(1, ge=1, le=1024)
    machine_rank: int = Field(0, ge=0, description="this machine's place in the job: 0 runs the harness")
    main_address: str = Field("127.0.0.1", min_length=1, description="the address of machine 0, reachable from all")
    # a free port is picked on one machine; several machines must agree on one
    main_port: int | None = Field(None, ge=1, le=65535)
    strategy: Literal["ddp", "fsdp", "deepspeed"] = "ddp"
    zero_stage: Literal[0, 1, 2, 3] | None = Field(None, description="DeepSpeed ZeRO stage (strategy: deepspeed)")
    deepspeed_config: str | None = Field(None, description="a DeepSpeed JSON config file (strategy: deepspeed)")

    @model_validator(mode="after")
    def _consistent(self) -> ComputeSpec:
        if isinstance(self.processes, int) and self.processes < 1:
            raise ValueError("processes must be at least 1 (or auto)")
        if self.machine_rank >= self.machines:
            raise ValueError(f"machine_rank {self.machine_rank} is out of range for machines: {self.machines} (0 to {self.machines - 1})")
        if self.machines > 1 and self.main_port is None:
            raise ValueError("machines > 1 needs main_port: the port on machine 0 (main_address) every machine connects to")
        if self.strategy != "deepspeed" and (self.zero_stage is not None or self.deepspeed_config):
            raise ValueError("zero_stage and deepspeed_config apply to strategy: deepspeed only")
        if self.zero_stage is not None and self.deepspeed_config:
            raise ValueError("give zero_stage or deepspeed_config, not both (the JSON file sets its own stage)")
        return self

    def processes_on(self, gpus: int) -> int:
        """Processes per machine on a machine with `gpus` visible GPUs."""
        return self.processes if isinstance(self.processes, int) else max(gpus, 1)

    def launched(self, gpus: int) -> bool:
        """Whether training runs as launched worker processes rather than inside the harness process."""
        return self.machines > 1 or self.processes_on(gpus) > 1 or self.strategy != "ddp"
