"""Hand-written results.json content for the report tests: what a tiny random model never produces
(fixed and broken examples, breakdowns, execution metrics, two objectives, secrets, hostile model output)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from harness import results as results_module
from harness import runs
from harness.results import Comparison, RunResults
from harness.spec import parse_spec

SECRETS = ("hf_SeCrEt123", "pw-SeCrEt456", "sk-SeCrEt789", "db-SeCrEt000")


def comparison(base: float, tuned: float, low: float, high: float, n: int = 200) -> dict:
    """A results.Comparison as stored."""
    diff = tuned - base
    return {"n": n, "base": base, "tuned": tuned, "diff": diff, "rel_change": diff / abs(base) if base else None,
            "ci_low": low, "ci_high": high, "confidence": 0.95, "n_resamples": 1000}


def typed(base: float, tuned: float, low: float, high: float, n: int = 200) -> Comparison:
    return Comparison.model_validate(comparison(base, tuned, low, high, n))


NOT_APPLICABLE = {**dict.fromkeys(("base", "tuned", "diff", "rel_change", "ci_low", "ci_high")), "n": 0, "confidence": 0.95, "n_resamples": 1000}


def example(i: int, base_ok: bool, tuned_ok: bool) -> dict:
    def scores(ok: bool) -> dict:
        return {"exact_match": float(ok), "execution_match": float(ok), "valid_sql": 1.0, "executable": 1.0}

    return {
        "id": f"bank-{i:04d}",
        "prompt": f"Database schema:\ncustomers(id, name, city)\n\nQuestion: how many customers live in city {i}?",
        "gold": f"SELECT COUNT(*) FROM customers WHERE city = 'c{i}';",
        "base": f"SELECT name FROM customers -- base {i}",
        "tuned": f"SELECT COUNT(*) FROM customers WHERE city = 'c{i}';",
        "meta": {"category": ("join", "aggregate", "nested")[i % 3], "difficulty": ("hard", "easy", "medium")[i % 3]},
        "base_scores": scores(base_ok),
        "tuned_scores": scores(tuned_ok),
    }


def suite_example(i: int, single_ok: bool, suite_ok: bool) -> dict:
    """An answer the real database may accept (single_ok) that its neighbours may still reject."""
    row = example(i, base_ok=False, tuned_ok=single_ok)
    row["tuned_scores"] = {**row["tuned_scores"], "execution_suite": float(suite_ok)}
    row["base_scores"] = {**row["base_scores"], "execution_suite": 0.0}
    return row


def _latency_side(total: float, tokens: int, n: int = 50) -> dict:
    tpot = (total - 0.05) / tokens
    summary = lambda v: {"n": n, "mean": v, "p50": v, "p95": v}
    return {"queries": [{"ttft_s": 0.05, "tpot_s": tpot, "total_s": total, "output_tokens": tokens}] * n,
            "total_s": summary(total), "ttft_s": summary(0.05), "tpot_s": summary(tpot), "batch1_tokens_per_s": tokens / total}


def _breakdown_group(n: int, base: float, tuned: float) -> dict:
    return {"n": n, "base": {"execution_match": base, "exact_match": base}, "tuned": {"execution_match": tuned, "exact_match": tuned}}


def trial(number: int, state: str, lr: float, r: int, values: list | None) -> dict:
    return {"number": number, "state": state, "params": {"lr": lr, "lora.r": r, "scheduler": "cosine" if number % 2 else "linear"},
            "values": values, "duration_s": 60.0 + number, "intermediate_values": {}, "steps": 100, "planned_steps": 100,
            "valid_loss": values[0] if values else None}


def demo_evaluation() -> dict:
    """The SQL demo's evaluation: tuned is better, faster and terser; 6 examples fixed, 2 broken."""
    outcomes = [(False, True)] * 6 + [(True, False)] * 2 + [(True, True)] * 3 + [(False, False)]
    examples = [example(i, base_ok, tuned_ok) for i, (base_ok, tuned_ok) in enumerate(outcomes)]
    examples[0]["tuned"] = "<script>alert('x')</script> ```\n| a | b |"  # hostile output: must stay text
    return {
        "n": 200,
        "decoding": {"strategy": "greedy", "max_new_tokens": 128, "batch_size": 16, "dtype": "float32"},
        "metrics": {
            "exact_text": comparison(0.10, 0.30, 0.22, 0.41),
            "exact_match": comparison(0.12, 0.35, 0.18, 0.29),
            "valid_sql": comparison(0.80, 0.99, 0.12, 0.25),
            "executable": comparison(0.75, 0.97, 0.15, 0.28),
            "execution_match": comparison(0.42, 0.735, 0.25, 0.38),
            "execution_match_subset": NOT_APPLICABLE,
            "output_tokens": comparison(40.0, 20.0, -22.0, -18.0),
            "perplexity_answer": comparison(8.2, 1.6, -7.0, -6.2),
            "perplexity_sequence": comparison(14.0, 9.5, -5.0, -4.1),
            "latency_total_s": comparison(0.9, 0.5, -0.45, -0.35, n=50),
            "latency_ttft_s": comparison(0.05, 0.05, -0.01, 0.01, n=50),
            "latency_tpot_s": comparison(0.0213, 0.0225, -0.001, 0.003, n=50),
        },
        "throughput": {"base": {"seconds": 60.0, "tokens_per_s": 133.3, "tokens": 8000},
                       "tuned": {"seconds": 30.0, "tokens_per_s": 133.3, "tokens": 4000}},
        "latency": {"base": _latency_side(0.9, 40), "tuned": _latency_side(0.5, 20)},
        "verdict": {"outcome": "better", "headline": "execution_match",
                    "family": ["execution_match", "executable", "exact_match", "valid_sql", "exact_text"],
                    "better": ["execution_match", "executable", "exact_match", "valid_sql", "exact_text"], "worse": [], "confidence": 0.95},
        "breakdown": {
            "category": {"aggregate": _breakdown_group(70, 0.5, 0.8), "join": _breakdown_group(70, 0.4, 0.7),
                         "nested": _breakdown_group(60, 0.3, 0.7)},
            "difficulty": {"easy": _breakdown_group(80, 0.6, 0.9), "hard": _breakdown_group(40, 0.2, 0.5),
                           "medium": _breakdown_group(80, 0.4, 0.7)},
        },
        "examples": examples,
    }


def demo_search() -> dict:
    """A two-objective study (valid loss + adapter size) with a failed trial."""
    trials = [trial(0, "complete", 1e-4, 8, [0.9, 12.0]), trial(1, "complete", 3e-4, 16, [0.7, 24.0]),
              trial(2, "complete", 1e-3, 32, [0.8, 48.0]), trial(3, "fail", 2e-3, 8, None)]
    trials[3]["fail_reason"] = "FloatingPointError: objective valid_loss is nan"
    return {
        "study_name": "sql-demo-abc", "storage": f"postgresql://optuna:{SECRETS[3]}@db.example/optuna",
        "objectives": ["valid_loss", "adapter_mb"], "directions": ["minimize", "minimize"],
        "best_params": trials[1]["params"], "best_values": [0.7, 24.0], "best_trial": 1, "reused_best_trial": False,
        "trials": trials, "pareto_front": [0, 1], "param_importances": {}, "counts": {"complete": 3, "fail": 1},
        "steps_run": 400, "steps_saved_by_pruning": 0, "seconds": 250.0,
    }


def demo_results() -> dict:
    """A results.json as the SQL demo writes it, with everything a tiny random model never produces."""
    history = [{"step": s, "loss": 3.0 / s, "learning_rate": 3e-4, "grad_norm": 1.0, "epoch": s / 100} for s in range(1, 101)]
    return {
        "schema_version": results_module.SCHEMA_VERSION, "project": "sql-demo", "status": "ok", "run_dir": "runs/sql-demo/20260101-000000",
        "model": {"source": "builtin:smollm2-135m-instruct", "dir": "/cache/m", "architecture": "LlamaForCausalLM",
                  "hidden_size": 576, "layers": 30, "vocab_size": 49152, "weights_sha256_head": "0123456789abcdef"},
        "data": {"source": "builtin:sql", "format": "builtin-sql", "rows": 6515, "train": 6000, "valid": 315, "test": 200,
                 "dropped_overlap": 3, "sha256": "fedcba9876543210"},
        "train_spec": {"lr": 3e-4, "epochs": 1, "max_steps": 100, "batch_size": 8, "seed": 42,
                       "lora": {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": "all-linear"}},
        "training": {
            "adapter_dir": "x/adapter", "steps": 100, "planned_steps": 100, "train_tokens": 200000, "train_seconds": 300.0,
            "validation_seconds": 20.0, "tokens_per_second": 666.7, "stopped_early": False,
            "autotrain_params": {"mixed_precision": "bf16"},
            "history": history + [{"step": 100, "train_runtime": 300.0, "train_loss": 0.5}],  # AutoTrain's summary row
            "valid_losses": [{"step": s, "loss": 2.5 / (s / 25)} for s in (25, 50, 75, 100)],
        },
        "search": demo_search(),
        "evaluation": demo_evaluation(),
        "environment": {"python": "3.11.7", "platform": "Linux", "cpu_count": 16, "torch_threads": 16, "gpu": "NVIDIA H100",
                        "packages": {"torch": "2.5.1", "optuna": "4.1.0"}},
        "timings": {"load_data": 1.0, "load_model": 2.0, "search": 250.0, "train": 300.0, "evaluate": 120.0},
    }


def demo_spec() -> str:
    """The demo's spec.yaml as a run writes it (`Spec.to_yaml`), literal secrets in it."""
    return parse_spec({
        "project": "sql-demo",
        "model": {"source": "builtin:smollm2-135m-instruct", "token": SECRETS[0]},
        "data": {"source": "builtin:sql", "split": {"seed": 7}},
        "train": {"seed": 42},
        "search": {"seed": 3, "storage": f"postgresql://optuna:{SECRETS[3]}@db.example/optuna",
                   "space": {"lr": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True},
                             "lora.r": {"type": "categorical", "choices": [8, 16, 32]}}},
    }).to_yaml()


def old_spec() -> str:
    """A spec.yaml this harness no longer reads as a `Spec` (keys an older version knew), secrets in it."""
    return yaml.safe_dump({
        "project": "sql-demo",
        "model": {"source": "builtin:smollm2-135m-instruct", "token": SECRETS[0]},
        "data": {"source": "builtin:sql", "token": "${HF_TOKEN}", "split": {"seed": 7}},
        "train": {"seed": 42, "hub": {"password": SECRETS[1], "api_key": SECRETS[2]}},
        "search": {"seed": 3, "storage": f"postgresql://optuna:{SECRETS[3]}@db.example/optuna", "space": {"lr": {"type": "float", "log": True}}},
    }, sort_keys=False)


def make_run_dir(root: Path, results: dict | None = None, spec: str | None = None) -> Path:
    """A run directory holding results.json and (unless `spec` is "") spec.yaml, nothing else."""
    run_dir = root / "run"
    run_dir.mkdir(parents=True)
    record = RunResults.model_validate(results if results is not None else demo_results())
    results_module.write(runs.results_path(run_dir), record)
    if spec != "":
        runs.spec_path(run_dir).write_text(spec if spec is not None else demo_spec())
    return run_dir


def report_json(run_dir: Path) -> dict:
    return json.loads((run_dir / "report.json").read_text())
