"""GPU readiness: bf16 LoRA and int4 QLoRA train a few steps and evaluate, with MFU and peak memory;
with two or more GPUs, a few tiny search trials run sequentially and with `search.parallel`.

For each mode the real path runs: `harness.train.train` (AutoTrain -> TRL, `mixed_precision: bf16`,
`quantization: none` or `int4` through bitsandbytes), then the evaluator's base-vs-tuned generation
and perplexity in bf16. MFU = 4·N·T and 6·N·T FLOPs per second of steady training (warm-up steps
left out) over the bf16 matmul peak measured on this GPU in the same process; peak GPU memory is
`torch.cuda.max_memory_allocated` over the training call.

The multi-GPU part (two or more GPUs): the same LoRA training on 1 GPU, then DDP and FSDP over all
GPUs through accelerate's launcher (`compute.processes`, `compute.strategy`), `--batch` per GPU;
steady tokens/s and scaling efficiency (tokens/s over GPUs × the 1-GPU tokens/s), as
`bench/train_scaling.py` measures them. On one GPU it is skipped, saying so.

The parallel part: the same search (`--trials-per-gpu` trials per GPU, sampler random, pruner none,
one process per training) runs once with `parallel: 1` and once with `parallel: <GPU count>`, each
on a study of its own; it reports both wall times, whether the study finished exactly its budget
and whether any parameters repeat. On one GPU it is skipped, saying so.

Needs a CUDA GPU and `pip install -e ".[gpu]"` (bitsandbytes). Example, from the repo root:
    python -m bench.gpu_check --source builtin:gemma3-270m --json gpu.json
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import common, machine

MODES = {"bf16": "none", "qlora-int4": "int4"}  # name -> train.quantization (both run in bf16)


def bf16_matmul_peak(n: int = 8192, repeats: int = 5) -> float:
    """Best bf16 square-matmul FLOP/s on the GPU (2n³ per product), after a warm-up."""
    import torch

    a, b = (torch.randn(n, n, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    torch.mm(a, b)
    torch.cuda.synchronize()
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(10):
            torch.mm(a, b)
        torch.cuda.synchronize()
        best = max(best, 10 * 2 * n**3 / (time.perf_counter() - started))
    return best


def run_mode(name: str, quantization: str, model_dir: Path, splits, prompt, args, work: Path, n_params: int, peak: float) -> dict:
    import torch

    from harness.evaluate.pair import evaluate_pair
    from harness.spec import EvaluationSpec, TrainSpec
    from harness.train import train

    spec = TrainSpec(
        max_steps=args.warmup + args.steps,
        batch_size=args.batch,
        block_size=args.block,
        mixed_precision="bf16",
        quantization=quantization,
        eval_every=10**6,
        eval_examples=1,
    )
    torch.cuda.reset_peak_memory_stats()
    result = train(model_dir, splits, spec, prompt, work / name)
    peak_memory = torch.cuda.max_memory_allocated()
    ends = result.step_end_seconds
    seconds_per_step = (ends[-1] - ends[args.warmup - 1]) / (result.steps - args.warmup)
    tokens_per_s = result.train_tokens / result.steps / seconds_per_step
    evaluation = evaluate_pair(
        model_dir,
        result.adapter_dir,
        splits.test,
        prompt,
        EvaluationSpec(metrics=["sql", "perplexity"], max_new_tokens=64, batch_size=16, bootstrap_resamples=200),
        dtype="bfloat16",
    )
    metrics = evaluation.metrics
    return {
        "mode": name,
        "steps": result.steps,
        "seconds_per_step": seconds_per_step,
        "tokens_per_s": tokens_per_s,
        "mfu_4nt": 4 * n_params * tokens_per_s / peak,
        "mfu_6nt": 6 * n_params * tokens_per_s / peak,
        "peak_gpu_memory_gib": peak_memory / 2**30,
        **{key: {"base": metrics[key].base, "tuned": metrics[key].tuned} for key in ("execution_suite", "perplexity_answer")},
    }


@dataclass(frozen=True)
class SearchRun:
    workers: int
    seconds: float
    finished: int  # complete + pruned trials
    budget: int
    distinct_params: int
    sampled: int  # trials with parameters


def parallel_search_spec(source: str, project: str, trials: int, workers: int, steps: int) -> dict:
    """A search of tiny trials on the built-in SQL set: what `harness run` would search, shrunk."""
    return {
        "project": project,
        "model": {"source": source},
        "data": {"source": "builtin:sql", "subset": 300, "split": {"valid": 8, "test": 8, "group_by": "group"}},
        "train": {"max_steps": steps, "batch_size": 8, "block_size": 256, "mixed_precision": "bf16",
                  "eval_every": steps, "eval_examples": 8},
        "compute": {"processes": 1},  # each trial trains on one GPU, in parallel or not
        "search": {"trials": trials, "parallel": workers, "sampler": "random", "pruner": "none",
                   "space": {"lr": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True}}},
    }


def run_search(spec_dict: dict, runs_dir: Path) -> SearchRun:
    from harness.pipeline import search_only
    from harness.spec import parse_spec

    started = time.perf_counter()
    study = search_only(parse_spec(spec_dict), runs_dir)
    seconds = time.perf_counter() - started
    params = [tuple(sorted(t.params.items())) for t in study.trials if t.params]
    return SearchRun(workers=spec_dict["search"]["parallel"], seconds=seconds,
                     finished=study.counts.get("complete", 0) + study.counts.get("pruned", 0),
                     budget=spec_dict["search"]["trials"], distinct_params=len(set(params)), sampled=len(params))


def parallel_part(args, gpus: int, work: Path) -> tuple[str, list[SearchRun]]:
    """(the report's section text, the runs): sequential first, then one worker per GPU."""
    if gpus < 2:
        reason = f"parallel search: skipped, {gpus} GPU visible (it needs 2 or more)"
        common.progress(f"[gpu_check] {reason}")
        return reason, []
    trials = args.trials_per_gpu * gpus
    runs = []
    for workers in (1, gpus):
        common.progress(f"[gpu_check] search, {trials} trials, parallel {workers} ...")
        spec = parallel_search_spec(args.source, f"gpu-check-parallel-{workers}", trials, workers, args.search_steps)
        runs.append(run_search(spec, work))
    sequential = runs[0].seconds
    body = common.table(
        ["workers", "trials finished / budget", "distinct parameters / sampled", "wall s", "speed-up"],
        [(r.workers, f"{r.finished} / {r.budget}", f"{r.distinct_params} / {r.sampled}", r.seconds, sequential / r.seconds)
         for r in runs],
    )
    return body + f"\n\n{args.search_steps} steps per trial, one GPU per worker, model {args.source}.", runs


def scaling_part(args, gpus: int, model_dir: Path, splits, work: Path) -> tuple[str, list]:
    """(the report's section text, the runs): 1 GPU, then DDP and FSDP on every GPU."""
    from bench.train_scaling import measure, table

    if gpus < 2:
        reason = f"multi-GPU training: skipped, {gpus} GPU visible (it needs 2 or more)"
        common.progress(f"[gpu_check] {reason}")
        return reason, []
    runs = []
    for strategy, processes in (("ddp", 1), ("ddp", gpus), ("fsdp", gpus)):
        common.progress(f"[gpu_check] {strategy} on {processes} GPU(s) ...")
        runs.append(measure(model_dir, splits, common.demo_prompt(), processes=processes, strategy=strategy,
                            global_batch=args.batch * processes, block=args.block, steps=args.steps, warmup=args.warmup,
                            precision="bf16", work=work))
    return table(runs) + f"\n\n{args.batch} × block {args.block} per GPU, bf16, model {args.source}.", runs


def main() -> None:
    p = common.parser(__doc__.splitlines()[0], threads=False)
    p.add_argument("--source", default="builtin:gemma3-270m", help="model.source to train (any the harness accepts)")
    p.add_argument("--steps", type=int, default=8, help="timed optimizer steps per mode")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--block", type=int, default=512)
    p.add_argument("--test", type=int, default=32, help="test questions evaluated per mode")
    p.add_argument("--trials-per-gpu", type=int, default=2, help="parallel part: search trials per GPU")
    p.add_argument("--search-steps", type=int, default=6, help="parallel part: optimizer steps per trial")
    p.add_argument("--parallel-only", action="store_true", help="run the parallel search part alone")
    p.add_argument("--scaling-only", action="store_true", help="run the multi-GPU training part alone")
    args = p.parse_args()

    import torch

    if not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA GPU visible (torch.cuda.is_available() is False); run it on a GPU machine")
    common.quiet_libraries()

    from bench.train_speed import base_params
    from harness.data import load_splits
    from harness.models import resolve_model
    from harness.spec import DataSpec, ModelSpec, SplitSpec

    model_dir = resolve_model(ModelSpec(source=args.source))
    splits, _ = load_splits(DataSpec(source="builtin:sql", subset=1200, split=SplitSpec(valid=8, test=args.test, group_by="group")))
    n_params = base_params(model_dir)
    peak = bf16_matmul_peak()
    rows = []
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as work:
        alone = args.parallel_only or args.scaling_only
        for name, quantization in {} if alone else MODES.items():
            common.progress(f"[gpu_check] {name} ...")
            rows.append(run_mode(name, quantization, model_dir, splits, common.demo_prompt(), args, Path(work), n_params, peak))
        scaling_body, scaling_runs = ("skipped (--parallel-only)", []) if args.parallel_only else scaling_part(
            args, torch.cuda.device_count(), model_dir, splits, Path(work))
        parallel_body, search_runs = ("skipped (--scaling-only)", []) if args.scaling_only else parallel_part(
            args, torch.cuda.device_count(), Path(work))
    body = common.table(
        ["mode", "s/step", "train tok/s", "MFU 4NT", "MFU 6NT", "peak GPU GiB", "exec suite base → tuned", "answer ppl base → tuned"],
        [
            (
                r["mode"],
                r["seconds_per_step"],
                r["tokens_per_s"],
                common.pct(r["mfu_4nt"]),
                common.pct(r["mfu_6nt"]),
                r["peak_gpu_memory_gib"],
                f"{r['execution_suite']['base']:.2f} → {r['execution_suite']['tuned']:.2f}",
                f"{r['perplexity_answer']['base']:.2f} → {r['perplexity_answer']['tuned']:.2f}",
            )
            for r in rows
        ],
    )
    notes = (
        f"{torch.cuda.get_device_name()}; N = {n_params / 1e6:.1f} M ({args.source}); bf16 matmul peak "
        f"{peak / 1e12:.1f} TFLOP/s (8192², measured here); batch {args.batch} × block {args.block}, "
        f"{args.steps} timed steps after {args.warmup}."
    )
    common.emit(args, "GPU check (bf16 LoRA, int4 QLoRA, parallel search)", machine.facts(),
                [("Results", body + "\n\n" + notes), ("Multi-GPU training", scaling_body),
                  ("Parallel search", parallel_body)],
                {"peak_bf16_flops": peak, "base_params": n_params, "results": rows,
                 "multi_gpu_training": [vars(r) for r in scaling_runs], "parallel_search": [vars(r) for r in search_runs]})


if __name__ == "__main__":
    main()
