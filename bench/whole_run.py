"""Whole run: where a finished run's wall time went (load, search, train, evaluate, report).

Reads RUN_DIR/results.json only (through harness.results), so it costs nothing and works on any
run of the current results schema; the machine facts shown are the run's own (`environment`),
not this machine's.

Example (from the repo root):
    python -m bench.whole_run runs/sqlcoder/<stamp> --json whole-run.json
"""

from __future__ import annotations

from pathlib import Path

from bench import common
from bench.generation_speed import EVAL_BUDGET_S, EVAL_QUESTIONS
from harness.results import RunResults, load

STAGES = (
    ("load", ("load_data", "load_model")),
    ("search", ("search",)),
    ("train", ("train",)),
    ("evaluate", ("evaluate",)),
)


def split(timings: dict[str, float]) -> list[dict]:
    """Stage seconds and shares of the total (which ends before the report is written); 'other'
    is what no stage timer covered."""
    stages = [{"stage": name, "seconds": sum(timings.get(k, 0.0) for k in keys)} for name, keys in STAGES]
    covered = sum(s["seconds"] for s in stages)
    total = timings.get("total", covered)
    stages.append({"stage": "other (not in a stage)", "seconds": max(total - covered, 0.0)})
    for s in stages:
        s["share"] = s["seconds"] / total if total else None
    return stages + [{"stage": "total", "seconds": total, "share": 1.0 if total else None}]


def details(results: RunResults) -> dict:
    """Per-stage facts that explain the split: throughput, trial count, generation share."""
    timings, training, search, evaluation = results.timings, results.training, results.search, results.evaluation
    trials = search.trials if search else []
    durations = [t.duration_s for t in trials if t.duration_s is not None]
    generation_s = sum(t.seconds for t in evaluation.throughput.values())
    n = evaluation.n
    evaluate_s = timings.get("evaluate")
    return {
        "train_steps": training.steps,
        "train_tokens": training.train_tokens,
        "train_seconds_optimizer": training.train_seconds,
        "train_seconds_validation": training.validation_seconds,
        "train_tokens_per_s": training.tokens_per_second,
        "search_trials": len(trials),
        "search_trial_states": {str(s): sum(t.state == s for t in trials) for s in sorted({t.state for t in trials})},
        "search_trial_seconds": common.summarize(durations),
        "search_seconds": search.seconds if search else None,
        "eval_questions": n,
        "eval_generation_seconds": generation_s,
        "eval_generation_share": generation_s / evaluate_s if evaluate_s else None,
        "eval_throughput": {side: t.model_dump() for side, t in evaluation.throughput.items()},
        "eval_projected_seconds": evaluate_s * EVAL_QUESTIONS / n if evaluate_s and n else None,
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
    results = load(args.run_dir)
    stages, d = split(results.timings), details(results)
    env = results.environment
    env_rows = [(k, v) for k, v in env.model_dump(exclude={"packages"}).items()]
    env_rows.append(("packages", ", ".join(f"{k} {v}" for k, v in env.packages.items() if v)))
    budget = common.ratio(EVAL_BUDGET_S, d["eval_projected_seconds"])
    common.emit(
        args,
        f"Whole run: {results.project} ({args.run_dir})",
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
