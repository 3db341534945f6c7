"""Training throughput: LoRA SFT train tokens/s and model-FLOPs utilisation (MFU) of SmolLM2-135M.

Two paths over the same model, LoRA (r 16, alpha 32, all-linear), optimizer and batch shape:
- `harness`: the real `harness.train.train` -> AutoTrain -> TRL SFTTrainer path a run uses;
- `plain`: a bare PyTorch/PEFT loop (forward, backward, clip, AdamW step), the ceiling the
  harness could reach; the gap between the two is what AutoTrain/TRL/the harness cost.

MFU = 4·N·T FLOPs / seconds / the fp32 matmul rate measured in this same process (bench.machine).
N = all base-model parameters once (tied embedding counted once: the LM head matmul costs it, the
input lookup is free); 4 = forward (2) + backward to activations (2); LoRA adds no weight-gradient
pass over the frozen base (6·N·T, full fine-tuning's count, is shown too). Attention-score FLOPs
(≈ 6.6% more at block 256, 13% at 512) and gradient-checkpointing recomputation are not counted:
MFU credits useful work only.

Examples (from the repo root):
    python -m bench.train_speed --variants harness --steps 6 --json harness.json
    python -m bench.train_speed --variants plain,packing --steps 6
"""

from __future__ import annotations

import contextlib
import gc
import random
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import common, machine

GROUPS = ("harness", "plain", "blocks", "packing")


@dataclass(frozen=True)
class Variant:
    path: str  # "harness" (AutoTrain) or "plain" (bare PEFT loop)
    gradient_checkpointing: bool
    block: int
    batch: int  # rows per optimizer step
    batching: str = "packed"  # "packed" (concatenated, cut into blocks) or "padded" (one example per row)

    @property
    def label(self) -> str:
        shape = f"{self.batch}×{self.block}" if self.batching == "packed" else f"{self.batch} examples, padded"
        return f"{self.path} · GC {'on' if self.gradient_checkpointing else 'off'} · {shape}"


def variants(groups: list[str], args, mean_example_tokens: float) -> list[Variant]:
    """The requested groups expanded into distinct configurations (a shared baseline runs once)."""
    tokens = args.batch * args.block
    out: list[Variant] = []
    for group in groups:
        if group in ("harness", "plain"):
            out += [Variant(group, gc, args.block, args.batch) for gc in (False, True)]
        elif group == "blocks":
            out += [Variant("plain", False, block, max(1, tokens // block)) for block in args.blocks]
        elif group == "packing":
            padded_rows = max(1, round(tokens / mean_example_tokens))  # about the same real tokens per step
            out += [Variant("plain", False, args.block, args.batch), Variant("plain", False, args.block, padded_rows, "padded")]
    return list(dict.fromkeys(out))


# ------------------------------------------------------------------ the harness (AutoTrain) path


def run_harness(v: Variant, model_dir: Path, splits, prompt, args, work: Path) -> dict:
    from harness.spec import TrainSpec
    from harness.train import train

    spec = TrainSpec(
        max_steps=args.warmup + args.steps,
        batch_size=v.batch,
        block_size=v.block,
        gradient_checkpointing=v.gradient_checkpointing,
        eval_every=10**6,  # no validation passes inside the timed steps
        eval_examples=1,
    )
    out = work / f"harness-gc{int(v.gradient_checkpointing)}-{v.block}x{v.batch}"
    result = train(model_dir, splits, spec, prompt, out)
    tokens = v.batch * v.block  # what a step holds when every packed row is a full block
    ends = result.step_end_seconds  # steady rate: the warm-up steps are left out
    timed = result.steps - args.warmup
    seconds = (ends[-1] - ends[args.warmup - 1]) / timed if args.warmup else ends[-1] / timed
    return {
        "steps": timed,
        "seconds_per_step": seconds,
        "tokens_per_step": tokens,
        "real_tokens_per_step": result.train_tokens / result.steps,  # as the Trainer counted them
        "harness_reported_tokens_per_s": result.tokens_per_second,
    }


# ------------------------------------------------------------------ the bare PyTorch/PEFT loop


def make_batches(v: Variant, examples: list[list[int]], pad_id: int, count: int) -> list[dict]:
    """`count` batches of real SQL training text. Packed: the token stream cut into full blocks,
    as TRL's packing does; padded: one example per row (truncated to the block), right-padded to
    the longest in its batch, pad positions masked out of attention and loss."""
    import torch

    batches = []
    if v.batching == "packed":
        stream = [t for ex in examples for t in ex]
        need = count * v.batch * v.block
        stream = (stream * (need // len(stream) + 1))[:need]
        ids = torch.tensor(stream).view(count, v.batch, v.block)
        for step in ids:
            batches.append({"input_ids": step, "labels": step.clone(), "real": step.numel(), "total": step.numel()})
        return batches
    rows = [ex[: v.block] for ex in examples]
    for k in range(count):
        group = [rows[(k * v.batch + i) % len(rows)] for i in range(v.batch)]
        width = max(map(len, group))
        ids = torch.full((v.batch, width), pad_id)
        mask = torch.zeros((v.batch, width), dtype=torch.long)
        for i, row in enumerate(group):
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        labels = ids.masked_fill(mask == 0, -100)
        batches.append({"input_ids": ids, "attention_mask": mask, "labels": labels, "real": int(mask.sum()), "total": mask.numel()})
    return batches


def plain_model(model_dir: Path, gradient_checkpointing: bool, dropout: float | None = None):
    """The model as AutoTrain builds it for LoRA on CPU (fp32, input grads on, same LoraConfig;
    `dropout` overrides the harness's default LoRA dropout)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaForCausalLM

    from harness.spec import LoraSpec

    model = LlamaForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.config.use_cache = False
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    lora = LoraSpec()  # the harness's defaults, so both paths train the same adapter shape
    config = LoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout if dropout is None else dropout, bias="none", task_type="CAUSAL_LM", target_modules=lora.target_modules
    )
    model = get_peft_model(model, config)
    model.train()
    return model


def run_plain(v: Variant, model_dir: Path, examples: list[list[int]], pad_id: int, args) -> dict:
    import torch

    model = plain_model(model_dir, v.gradient_checkpointing)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    batches = make_batches(v, examples, pad_id, args.warmup + args.steps)
    seconds = []
    for batch in batches:
        inputs = {k: t for k, t in batch.items() if k not in ("real", "total")}
        started = time.perf_counter()
        model(**inputs).loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)  # the Trainer does this every step too
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        seconds.append(time.perf_counter() - started)
    timed = batches[args.warmup :]
    out = {
        "steps": len(timed),
        "seconds_per_step": statistics.fmean(seconds[args.warmup :]),
        "tokens_per_step": statistics.fmean(b["total"] for b in timed),
        "real_tokens_per_step": statistics.fmean(b["real"] for b in timed),
        "trainable_params": sum(p.numel() for p in params),
    }
    del model, optimizer
    gc.collect()
    return out


# ------------------------------------------------------------------ report


def base_params(model_dir: Path) -> int:
    """Unique parameters of the base model, counted on the meta device (no weights loaded)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_dir))
    return sum(p.numel() for p in model.parameters())


def finish_row(v: Variant, measured: dict, n_params: int, peak: float) -> dict:
    tokens_per_s = measured["real_tokens_per_step"] / measured["seconds_per_step"]
    return {
        "variant": v.label,
        **asdict(v),
        **measured,
        "padding_fraction": 1 - measured["real_tokens_per_step"] / measured["tokens_per_step"],
        "tokens_per_s": tokens_per_s,
        "mfu_4nt": 4 * n_params * tokens_per_s / peak,
        "mfu_6nt": 6 * n_params * tokens_per_s / peak,
    }


def results_table(rows: list[dict]) -> str:
    return common.table(
        [
            "variant",
            "timed steps",
            "s/step",
            "tokens/step (real)",
            "padding",
            "train tok/s",
            "MFU 4NT",
            "MFU 6NT",
            "harness-reported tok/s (all steps)",
        ],
        [
            (
                r["variant"],
                r["steps"],
                r["seconds_per_step"],
                f"{r['tokens_per_step']:.0f} ({r['real_tokens_per_step']:.0f})",
                common.pct(r["padding_fraction"]),
                r["tokens_per_s"],
                common.pct(r["mfu_4nt"]),
                common.pct(r["mfu_6nt"]),
                r.get("harness_reported_tokens_per_s"),
            )
            for r in rows
        ],
    )


def comparisons(by: dict[Variant, dict], args) -> str:
    """The issue's target (MFU ≥ 50%) for the harness's default configuration, plus the ratios
    that explain it: harness vs bare loop, and what each knob changes."""
    from harness.spec import TrainSpec

    default = Variant("harness", TrainSpec().gradient_checkpointing, args.block, args.batch)

    def get(v: Variant, key: str = "tokens_per_s"):
        return by[v][key] if v in by else None

    plain_default = Variant("plain", default.gradient_checkpointing, args.block, args.batch)
    lines = [
        (f"harness MFU (4NT) at its default ({default.label})", get(default, "mfu_4nt"), 0.5),
        ("bare PEFT loop MFU (4NT), same shape", get(plain_default, "mfu_4nt"), 0.5),
        ("harness ÷ bare loop tok/s (what AutoTrain/TRL/harness cost)", common.ratio(get(default), get(plain_default)), None),
    ]
    for path in ("harness", "plain"):
        on, off = (Variant(path, gc, args.block, args.batch) for gc in (True, False))
        lines.append((f"{path}: GC on ÷ GC off tok/s", common.ratio(get(on), get(off)), None))
    for v in by:
        if v.batching == "padded":
            lines.append(("padded ÷ packed real tok/s", common.ratio(get(v), get(plain_default)), None))
    return common.targets_table(lines)


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--variants", type=common.choice_list(GROUPS), default=list(GROUPS), help=f"comma-separated groups: {','.join(GROUPS)}")
    p.add_argument("--steps", type=int, default=6, help="timed optimizer steps per variant")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps first (allocation, thread pool)")
    p.add_argument("--batch", type=int, default=4, help="rows per step for the harness/plain/packing groups")
    p.add_argument("--block", type=int, default=256, help="block size for the harness/plain/packing groups")
    p.add_argument("--blocks", type=int, nargs="+", default=[128, 256, 512], help="block sizes for 'blocks', at batch×block tokens/step")
    p.add_argument("--subset", type=int, default=1200, help="built-in SQL rows sampled (the demo's 1200)")
    p.add_argument("--work-dir", type=Path, help="keep AutoTrain outputs here (default: a temporary dir)")
    args = p.parse_args()

    machine.set_threads(args.threads)
    common.quiet_libraries()
    facts = machine.facts()
    peak_start = machine.matmul_flops(repeats=3)

    from transformers import AutoTokenizer

    from harness.data.prompts import training_text

    model_dir, splits, prompt = common.sql_workload(args.subset)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    texts = [training_text(tokenizer, prompt, ex) for ex in splits.train]
    random.Random(0).shuffle(texts)
    examples = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    mean_tokens = statistics.fmean(map(len, examples))
    n_params = base_params(model_dir)

    measured: list[tuple[Variant, dict]] = []
    with contextlib.ExitStack() as stack:
        work = args.work_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-train-")))
        for v in variants(args.variants, args, mean_tokens):
            common.progress(f"[train_speed] {v.label} ...")
            if v.path == "harness":
                measured.append((v, run_harness(v, model_dir, splits, prompt, args, work)))
            else:
                measured.append((v, run_plain(v, model_dir, examples, tokenizer.pad_token_id, args)))
    peak_end = machine.matmul_flops(repeats=3)
    peak = max(peak_start["peak"], peak_end["peak"])  # the higher one: MFU never flattered by a dip
    by = {v: finish_row(v, m, n_params, peak) for v, m in measured}
    rows = list(by.values())

    notes = (
        f"N = {n_params / 1e6:.1f} M base parameters; MFU against {peak / 1e9:.1f} GFLOP/s "
        f"(best fp32 matmul of this run, start or end). {args.steps} timed steps after {args.warmup} warm-up. "
        f"Training text: built-in SQL, demo prompt, mean {mean_tokens:.0f} tokens per example. "
        "Padding = pad tokens ÷ all tokens in the batch; tok/s and MFU count real tokens only."
    )
    emit_sections = [
        ("fp32 matmul (torch)", machine.matmul_table(peak_start, peak_end)),
        ("LoRA SFT throughput", results_table(rows) + "\n\n" + notes),
        ("Targets and ratios", comparisons(by, args)),
    ]
    common.emit(
        args,
        "Training speed (LoRA SFT)",
        facts,
        emit_sections,
        {"matmul_start": peak_start, "matmul_end": peak_end, "peak_flops": peak, "base_params": n_params, "results": rows},
    )


if __name__ == "__main__":
    main()
