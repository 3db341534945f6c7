"""Training precision on the demo: fp32 vs bf16 mixed precision, speed and accuracy, one sitting.

Each run is the demo's own training (`projects/sqlcoder.yaml`: its data, prompt and `train`
section, SmolLM2-135M) through `harness.train.train`, once with `train.mixed_precision: none` and
once with `bf16` (AutoTrain -> Trainer `bf16=True` -> accelerate's CPU autocast). Runs alternate
(ABBA with `--rounds 2`) so machine drift falls on both sides.

Speed: steady train tokens/s (first step left out) and MFU = 4·N·T / s over the matmul peak of the
run's own precision (fp32 or bf16, `bench.machine`, measured here at start and end), and over the
fp32 peak for a common yardstick. Accuracy: the validation loss the run recorded (its
`eval_examples`) and, after training, the loss on the whole validation split with the adapter
merged into fp32 weights: both adapters judged by the same arithmetic.

Example (from the repo root):
    python -m bench.precision --rounds 1 --json bench/results/precision.json
"""

from __future__ import annotations

import gc
import statistics
import tempfile
from pathlib import Path

from bench import common, machine

PRECISIONS = ("none", "bf16")
PEAK_DTYPE = {"none": "float32", "bf16": "bfloat16"}


def run(precision: str, spec, model_dir: Path, splits, work: Path) -> dict:
    from transformers import AutoTokenizer

    from harness.data.prompts import render_prompt
    from harness.evaluate.generation import load_model
    from harness.likelihood import example_nll, mean_loss
    from harness.train import train

    settings = spec.train.model_copy(update={"mixed_precision": precision})
    result = train(model_dir, splits, settings, spec.prompt, work)
    ends = result.step_end_seconds
    tokens_per_step = result.train_tokens / result.steps
    steady = tokens_per_step * (len(ends) - 1) / (ends[-1] - ends[0])
    model, _ = load_model(model_dir, result.adapter_dir)  # fp32, merged: same judge for both
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    inputs = [render_prompt(tokenizer, spec.prompt, ex.prompt) for ex in splits.valid]
    answers = [ex.answer + tokenizer.eos_token for ex in splits.valid]
    valid = mean_loss([s.answer for s in example_nll(model, tokenizer, inputs, answers)])
    del model
    gc.collect()
    return {
        "precision": precision,
        "steps": result.steps,
        "tokens_per_s": steady,
        "train_seconds": result.train_seconds,
        "train_losses": [h.loss for h in result.history if h.loss is not None],
        "recorded_valid_losses": [v.loss for v in result.valid_losses],
        "valid_loss_fp32_judge": valid,
        "valid_examples": len(inputs),
    }


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=1, help="1: fp32 then bf16; 2: ABBA")
    p.add_argument("--steps", type=int, help="optimizer steps (default: the demo's train.max_steps)")
    args = p.parse_args()

    machine.set_threads(args.threads)
    common.quiet_libraries()
    facts = machine.facts()
    peaks = {dtype: [machine.matmul_flops(repeats=3, dtype=dtype)] for dtype in PEAK_DTYPE.values()}

    from harness.data import load_splits
    from harness.models import resolve_model
    from harness.spec import load_spec

    spec = load_spec(common.DEMO_SPEC)
    if args.steps:
        spec = spec.model_copy(update={"train": spec.train.model_copy(update={"max_steps": args.steps})})
    splits, _ = load_splits(spec.data, spec.base_dir)
    model_dir = resolve_model(spec.model)
    from bench.train_speed import base_params

    n_params = base_params(model_dir)
    order = [PRECISIONS[(k // 2 + k) % 2] for k in range(2 * args.rounds)]  # A B B A A B ...
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-precision-") as tmp:
        for k, precision in enumerate(order):
            common.progress(f"[precision] run {k + 1}/{len(order)}: mixed_precision {precision} ...")
            runs.append(run(precision, spec, model_dir, splits, Path(tmp) / f"run{k}"))
    for dtype in peaks:
        peaks[dtype].append(machine.matmul_flops(repeats=3, dtype=dtype))
    peak = {dtype: max(m["peak"] for m in measured) for dtype, measured in peaks.items()}
    for r in runs:
        flops = 4 * n_params * r["tokens_per_s"]
        r["mfu_own_peak"] = flops / peak[PEAK_DTYPE[r["precision"]]]
        r["mfu_fp32_peak"] = flops / peak["float32"]

    rows = [
        (
            "fp32" if r["precision"] == "none" else "bf16 autocast",
            r["steps"],
            r["tokens_per_s"],
            common.pct(r["mfu_own_peak"]),
            common.pct(r["mfu_fp32_peak"]),
            r["train_losses"][-1],
            " → ".join(f"{loss:.3f}" for loss in r["recorded_valid_losses"]),
            r["valid_loss_fp32_judge"],
        )
        for r in runs
    ]
    table = common.table(
        ["run", "steps", "train tok/s (steady)", "MFU vs own peak", "MFU vs fp32 peak", "last train loss",
         "recorded valid loss (every eval_every)", f"valid loss, all {runs[0]['valid_examples']} (fp32 judge)"],
        rows,
    )

    def mean(precision: str, key: str) -> float:
        return statistics.fmean(r[key] for r in runs if r["precision"] == precision)

    ratios = common.targets_table([
        ("bf16 ÷ fp32 matmul peak", common.ratio(peak["bfloat16"], peak["float32"]), None),
        ("bf16 ÷ fp32 train tok/s", common.ratio(mean("bf16", "tokens_per_s"), mean("none", "tokens_per_s")), None),
        ("bf16 training MFU vs the bf16 peak", mean("bf16", "mfu_own_peak"), 0.5),
        ("fp32 training MFU vs the fp32 peak", mean("none", "mfu_own_peak"), 0.5),
        ("bf16 ÷ fp32 valid loss (fp32 judge)",
         common.ratio(mean("bf16", "valid_loss_fp32_judge"), mean("none", "valid_loss_fp32_judge")), None),
    ])
    peak_rows = common.table(["matmul peak", "GFLOP/s (best of start, end)"], [(d, v / 1e9) for d, v in peak.items()])
    notes = (f"Demo training ({spec.train.max_steps} steps of {spec.train.batch_size}×{spec.train.block_size}, lr "
             f"{spec.train.lr:g}, LoRA r {spec.train.lora.r}); N = {n_params / 1e6:.1f} M; run order {', '.join(order)}.")
    common.emit(
        args,
        "Training precision: fp32 vs bf16 on the demo",
        facts,
        [("Matmul peaks", peak_rows), ("Runs", table + "\n\n" + notes), ("Ratios", ratios)],
        {"peaks": peaks, "base_params": n_params, "order": order, "runs": runs},
    )


if __name__ == "__main__":
    main()
