"""Training throughput by process count: 1 vs N processes at the same global batch, through the path
`harness run` takes (`harness.train.train` with a `compute` section: in-process for 1, accelerate's
launcher for more).

Steady-state train tokens/s = tokens per step × timed steps / their wall time on rank 0 (the
first `--warmup` steps left out); scaling efficiency = tokens/s with N processes over N × tokens/s
with 1. On a CPU the N processes share the same cores (the launcher gives each cores/N threads), so
no speed-up is expected: what the CPU figure shows is the price of the launcher, gloo's gradient
all-reduce and the sharded validation. `bench/gpu_check.py` runs the same measure on GPUs.

Example (from the repo root):
    python -m bench.train_scaling --processes 1,2 --steps 8 --json bench/results/train-scaling-cpu.json
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import common, machine


@dataclass(frozen=True)
class ScalingRun:
    processes: int
    strategy: str
    batch_per_process: int
    global_batch: int
    timed_steps: int
    tokens_per_step: float
    tokens_per_s: float
    train_seconds: float


def measure(model_dir: Path, splits, prompt, *, processes: int, strategy: str, global_batch: int, block: int,
            steps: int, warmup: int, precision: str, work: Path) -> ScalingRun:
    """One training of `warmup + steps` steps on `processes` processes sharing `global_batch`."""
    from harness.spec import ComputeSpec, TrainSpec
    from harness.train import train

    if global_batch % processes:
        raise SystemExit(f"train_scaling: global batch {global_batch} does not split over {processes} processes")
    spec = TrainSpec(max_steps=warmup + steps, batch_size=global_batch // processes, block_size=block,
                     mixed_precision=precision, eval_every=10_000, eval_examples=4, lora={"r": 16, "alpha": 32})
    out = work / f"{strategy}-{processes}"
    result = train(model_dir, splits, spec, prompt, out, compute=ComputeSpec(processes=processes, strategy=strategy))
    ends = result.step_end_seconds
    per_step = result.train_tokens / result.steps
    timed = ends[-1] - ends[warmup - 1] if warmup else ends[-1]
    return ScalingRun(processes=processes, strategy=strategy, batch_per_process=spec.batch_size, global_batch=global_batch,
                      timed_steps=steps, tokens_per_step=per_step, tokens_per_s=per_step * steps / timed,
                      train_seconds=result.train_seconds)


def table(runs: list[ScalingRun]) -> str:
    """Each run beside the 1-process run of its strategy (or the first run where there is none)."""
    single = {r.strategy: r for r in runs if r.processes == 1}
    first = runs[0]
    rows = []
    for r in runs:
        one = single.get(r.strategy, single.get("ddp", first))
        rows.append((r.strategy, r.processes, f"{r.batch_per_process} × {r.processes}", r.tokens_per_step, r.tokens_per_s,
                     r.tokens_per_s / one.tokens_per_s, r.tokens_per_s / (r.processes * one.tokens_per_s)))
    return common.table(["strategy", "processes", "batch per process × processes", "tokens/step", "train tok/s",
                         "speed-up", "scaling efficiency"], rows)


def main() -> None:
    p = common.parser(__doc__.splitlines()[0], threads=False)
    p.add_argument("--processes", default="1,2", help="comma-separated process counts")
    p.add_argument("--strategy", default="ddp", choices=["ddp", "fsdp", "deepspeed"])
    p.add_argument("--global-batch", type=int, default=4)
    p.add_argument("--block", type=int, default=256)
    p.add_argument("--steps", type=int, default=8, help="timed optimizer steps")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    args = p.parse_args()
    common.quiet_libraries()
    model_dir, splits, prompt = common.sql_workload()
    runs = []
    with tempfile.TemporaryDirectory(prefix="train-scaling-") as work:
        for n in (int(x) for x in args.processes.split(",")):
            common.progress(f"[train_scaling] {args.strategy}, {n} process(es) ...")
            runs.append(measure(model_dir, splits, prompt, processes=n, strategy=args.strategy, global_batch=args.global_batch,
                                block=args.block, steps=args.steps, warmup=args.warmup, precision="none", work=Path(work)))
    notes = (f"SmolLM2-135M, LoRA r 16, block {args.block}, global batch {args.global_batch}, fp32, {args.steps} timed "
             f"steps after {args.warmup}; one machine.")
    common.emit(args, "Training throughput by process count", machine.facts(), [("Results", table(runs) + "\n\n" + notes)],
                {"runs": [asdict(r) for r in runs]})


if __name__ == "__main__":
    main()
