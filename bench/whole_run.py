"""Whole run: where a finished run's wall time went (load, search, train, evaluate, report).

Reads RUN_DIR/results.json only, so it costs nothing and works on any run, old or new; the
machine facts shown are the run's own (`environment`), not this machine's.

Example (from the repo root):
    python -m bench.whole_run runs/sqlcoder/<stamp> --json whole-run.json
"""

from __future__ import annotations

import json
from pathlib import Path

from bench import common
from bench.generation_speed import EVAL_BUDGET_S, EVAL_QUESTIONS

STAGES = (
    ("load", ("load_data", "load_model")),
    ("search", ("search",)),
    ("train", ("train",)),
    ("evaluate", ("evaluate",)),
    ("report", ("report",)),
)


def split(timings: dict) -> list[dict]:
    """Stage seconds and shares of the total; 'other' is what no stage timer covered."""
    stages = [{"stage": name, "seconds": sum(timings.get(k) or 0.0 for k in keys)} for name, keys in STAGES]
    covered = sum(s["seconds"] for s in stages)
    total = timings.get("total") or covered  # older runs wrote results before the total existed
    stages.append({"stage": "other (not in a stage)", "seconds": max(total - covered, 0.0)})
    for s in stages:
        s["share"] = s["seconds"] / total if total else None
    return stages + [{"stage": "total", "seconds": total, "share": 1.0 if total else None}]


def details(results: dict) -> dict:
    """Per-stage facts that explain the split: throughput, trial count, generation share."""
    timings, training = results.get("timings", {}), results.get("training") or {}
    search, evaluation = results.get("search") or {}, results.get("evaluation") or {}
    trials = search.get("trials") or []
    durations = [t["duration_s"] for t in trials if t.get("duration_s") is not None]
    throughput = evaluation.get("throughput") or {}
    generation_s = sum((throughput.get(m) or {}).get("seconds", 0.0) for m in ("base", "tuned"))
    n = evaluation.get("n")
    return {
        "train_steps": training.get("steps"),
        "train_tokens": training.get("train_tokens"),
        "train_seconds_optimizer": training.get("train_seconds"),
        "train_seconds_validation": training.get("validation_seconds"),
        "train_tokens_per_s": training.get("tokens_per_second"),
        "search_trials": len(trials),
        "search_trial_states": {s: sum(t.get("state") == s for t in trials) for s in sorted({t.get("state") for t in trials})},
        "search_trial_seconds": common.summarize(durations),
        "search_seconds": search.get("seconds"),
        "eval_questions": n,
        "eval_generation_seconds": generation_s,
        "eval_generation_share": generation_s / timings["evaluate"] if timings.get("evaluate") else None,
        "eval_throughput": throughput,
        "eval_projected_seconds": timings["evaluate"] * EVAL_QUESTIONS / n if timings.get("evaluate") and n else None,
    }


def details_table(d: dict) -> str:
    s = d["search_trial_seconds"]
    rows = [
        ("train: steps, tokens", f"{d['train_steps']}, {d['train_tokens']}"),
        ("train: optimizer seconds (validation seconds)", f"{_num(d['train_seconds_optimizer'])} ({_num(d['train_seconds_validation'])})"),
        ("train: tokens/s (optimizer time)", d["train_tokens_per_s"]),
        ("search: trials by state", ", ".join(f"{k} {v}" for k, v in d["search_trial_states"].items()) or "no search"),
        ("search: trial seconds mean / p50 / max", f"{_num(s['mean'])} / {_num(s['p50'])} / {_num(s['max'])}"),
        ("evaluate: questions × 2 models", d["eval_questions"]),
        (
            "evaluate: batched generation seconds (share of evaluate)",
            f"{_num(d['eval_generation_seconds'])} ({common.pct(d['eval_generation_share'])})",
        ),
    ]
    for model, t in d["eval_throughput"].items():
        rows.append((f"evaluate: {model} generation tok/s (tokens)", f"{_num(t.get('tokens_per_s'))} ({t.get('tokens')})"))
    rows.append((f"evaluate: projected for {EVAL_QUESTIONS} questions × 2 models (linear in questions)", d["eval_projected_seconds"]))
    return common.table(["fact", "value"], rows)


def _num(x) -> str:
    return "–" if x is None else f"{x:,.1f}"


def main() -> None:
    p = common.parser(__doc__.splitlines()[0], threads=False)
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a finished run directory (runs/<project>/<stamp>)")
    args = p.parse_args()
    path = args.run_dir / "results.json"
    if not path.is_file():
        p.error(f"{path} not found: give a finished run directory")
    results = json.loads(path.read_text())
    stages, d = split(results.get("timings", {})), details(results)
    env = results.get("environment", {})
    env_rows = [(k, v) for k, v in env.items() if k != "packages"]
    env_rows.append(("packages", ", ".join(f"{k} {v}" for k, v in (env.get("packages") or {}).items() if v)))
    budget = common.ratio(EVAL_BUDGET_S, d["eval_projected_seconds"])
    common.emit(
        args,
        f"Whole run: {results.get('project', '?')} ({args.run_dir})",
        None,
        [
            ("Run environment (from results.json)", common.table(["fact", "value"], env_rows)),
            (
                "Wall time by stage",
                common.table(["stage", "seconds", "share"], [(s["stage"], s["seconds"], common.pct(s["share"])) for s in stages]),
            ),
            ("Stage details", details_table(d)),
            (
                "Targets",
                common.targets_table(
                    [(f"{EVAL_BUDGET_S:.0f} s ÷ projected evaluation time, {EVAL_QUESTIONS} questions × 2 models", budget, 1.0)]
                ),
            ),
        ],
        {"run_dir": str(args.run_dir), "stages": stages, "details": d},
    )


if __name__ == "__main__":
    main()
