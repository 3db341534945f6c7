"""Where a LoRA training step's time goes on CPU: the operator profile of the bare PEFT step in bf16
autocast (the demo's `mixed_precision: auto` on a CPU with bf16 units), with and without LoRA
dropout, beside each step's MFU against the bf16 matmul peak.

The issue asks for training at >= 50% of the bf16 matmul peak or the measured reason why not. The
step is the bare loop of `bench.train_speed` (SmolLM2-135M, LoRA r 16 on all linear layers, 4 packed
rows of 256 tokens, AdamW, clip 1.0), which runs within a few percent of the harness's AutoTrain
path; configurations alternate (A B A B) so drift falls on both. The profile groups PyTorch
operators into what they are for (matmuls, attention, dtype casts, dropout's random masks,
elementwise arithmetic, softmax/loss, other), by self CPU time over the profiled steps.

Example (from the repo root):
    python -m bench.train_profile --json bench/results/train-profile-bf16.json
"""

from __future__ import annotations

import gc
import statistics
import time
from collections import defaultdict

from bench import common, machine

# operator name -> what it is for (self CPU time is summed per group)
GROUPS = {
    "matmul": ("aten::mm", "aten::bmm", "aten::addmm", "aten::linear", "aten::matmul"),
    "attention": ("aten::_scaled_dot_product",),
    "dtype casts": ("aten::copy_", "aten::_to_copy", "aten::to"),
    "dropout masks": ("aten::bernoulli", "aten::dropout", "aten::native_dropout"),
    "elementwise": ("aten::mul", "aten::add", "aten::div", "aten::pow", "aten::silu", "aten::rsqrt", "aten::mean",
                    "aten::neg", "aten::cat", "aten::sub", "aten::where", "aten::fill_", "aten::zero_"),
    "softmax / loss": ("aten::_log_softmax", "aten::nll_loss", "aten::cross_entropy"),
}


def group_of(name: str) -> str:
    return next((group for group, prefixes in GROUPS.items() if name.startswith(prefixes)), "other")


def step_fn(model, optimizer, params, autocast: bool):
    import torch

    def step(batch: dict) -> float:
        inputs = {k: t for k, t in batch.items() if k not in ("real", "total")}
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = model(**inputs).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss)

    return step


def measure(dropout: float, model_dir, batches: list[dict], args) -> dict:
    """Steady seconds per step, then a profile of `args.profiled` more steps."""
    import torch
    from torch.profiler import profile

    from bench.train_speed import plain_model

    torch.manual_seed(0)
    model = plain_model(model_dir, gradient_checkpointing=False, dropout=dropout)
    params = [p for p in model.parameters() if p.requires_grad]
    step = step_fn(model, torch.optim.AdamW(params, lr=1e-3), params, autocast=args.precision == "bf16")
    seconds, losses = [], []
    for k, batch in enumerate(batches[: args.warmup + args.steps]):
        started = time.perf_counter()
        losses.append(step(batch))
        if k >= args.warmup:
            seconds.append(time.perf_counter() - started)
    with profile() as profiled:
        for batch in batches[args.warmup + args.steps :]:
            step(batch)
    by_group: dict[str, float] = defaultdict(float)
    for event in profiled.key_averages():
        by_group[group_of(event.key)] += event.self_cpu_time_total / 1e6
    del model
    gc.collect()
    return {"dropout": dropout, "seconds_per_step": statistics.fmean(seconds), "step_seconds": seconds, "losses": losses,
            "profile_seconds": dict(by_group)}


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=4, help="timed steps per configuration")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--profiled", type=int, default=2, help="profiled steps after the timed ones")
    p.add_argument("--rounds", type=int, default=2, help="A B rounds (dropout 0.05, then 0)")
    p.add_argument("--precision", choices=("bf16", "fp32"), default="bf16", help="bf16: CPU autocast, as mixed_precision bf16")
    args = p.parse_args()

    machine.set_threads(args.threads)
    common.quiet_libraries()
    facts = machine.facts()
    dtype = "bfloat16" if args.precision == "bf16" else "float32"
    peak_start = machine.matmul_flops(repeats=3, dtype=dtype)

    from transformers import AutoTokenizer

    from bench.train_speed import Variant, base_params, make_batches
    from harness.data.prompts import training_text

    model_dir, splits, prompt = common.sql_workload()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    examples = [tokenizer(training_text(tokenizer, prompt, ex), add_special_tokens=False)["input_ids"] for ex in splits.train]
    batches = make_batches(Variant("plain", False, 256, 4), examples, tokenizer.pad_token_id, args.warmup + args.steps + args.profiled)
    runs = []
    for _ in range(args.rounds):
        for dropout in (0.05, 0.0):
            common.progress(f"[train_profile] LoRA dropout {dropout} ...")
            runs.append(measure(dropout, model_dir, batches, args))
    peak_end = machine.matmul_flops(repeats=3, dtype=dtype)
    peak = max(peak_start["peak"], peak_end["peak"])
    n_params = base_params(model_dir)
    tokens = batches[0]["real"]

    rows, profile_rows = [], []
    for dropout in (0.05, 0.0):
        mine = [r for r in runs if r["dropout"] == dropout]
        per_step = statistics.fmean(r["seconds_per_step"] for r in mine)
        rows.append((dropout, per_step, tokens / per_step, common.pct(4 * n_params * tokens / per_step / peak), mine[0]["losses"][-1]))
        total = sum(mine[-1]["profile_seconds"].values())
        shares = {group: seconds / total for group, seconds in mine[-1]["profile_seconds"].items()}
        profile_rows.append((dropout, *(common.pct(shares.get(g, 0.0)) for g in [*GROUPS, "other"])))
    slow, fast = rows[0][1], rows[1][1]
    notes = (f"{tokens} tokens per step; {args.steps} timed steps after {args.warmup} warm-up, {args.rounds} rounds; MFU = 4·N·T/s over "
             f"the best {args.precision} matmul of this run ({peak / 1e9:,.0f} GFLOP/s, N = {n_params / 1e6:.1f} M). The loss column "
             "is the last timed step's (dropout changes it a little, the data and seed are the same).")
    common.emit(
        args,
        "Training step profile (LoRA SFT on CPU)",
        facts,
        [
            (f"{args.precision} matmul (torch)", machine.matmul_table(peak_start, peak_end, dtype=args.precision)),
            ("Step time", common.table(["LoRA dropout", "s/step", "train tok/s", "MFU (4NT)", "loss"], rows) + "\n\n" + notes),
            ("Where the time goes (share of self CPU time, last profiled round)",
             common.table(["LoRA dropout", *GROUPS, "other"], profile_rows)),
            ("Ratios", common.targets_table([
                ("MFU (4NT) without dropout", 4 * n_params * tokens / fast / peak, 0.5),
                ("step time: dropout 0.05 ÷ dropout 0", common.ratio(slow, fast), None),
            ])),
        ],
        {"matmul_start": peak_start, "matmul_end": peak_end, "peak_flops": peak, "base_params": n_params, "runs": runs},
    )


if __name__ == "__main__":
    main()
