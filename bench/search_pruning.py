"""Search pruning: one study with a pruner and without, same spec, seed, sampler and trial budget.

Runs `harness.pipeline.search_only` once per pruner, each in its own fresh search area, and prints
per run: trials, pruned, optimizer steps spent, steps saved by pruning, the best value and its
parameters, and whether the best value equals the unpruned run's. Trials with the same parameters
train identically (`train.seed` seeds every trial) and the sampler's first draws do not depend on
results (TPE samples at random for its first 10 trials), so both runs try the same parameters in
the same order and the only difference is what the pruner stopped. Ratios, not times: steps are
the compute measure (seconds are shown but depend on the machine and its load).

Examples (from the repo root):
    python -m bench.search_pruning projects/sqlcoder.yaml --json bench/results/search-pruning.json
    python -m bench.search_pruning projects/sqlcoder.yaml --set trials=4 --set pruner=median --pruners median
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import yaml

from bench import common

PRUNERS = ("asha", "hyperband", "median", "none")


def search_override(text: str) -> tuple[list[str], object]:
    """`KEY=VALUE` under the spec's search section (dotted KEY, YAML VALUE): `trial_train.max_steps=8`."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.split("."), yaml.safe_load(value)


def load_search_spec(path: Path, overrides: list[tuple[list[str], object]], pruner: str):
    from harness.spec import parse_spec

    raw = yaml.safe_load(path.read_text())
    search = raw.setdefault("search", {})
    for keys, value in overrides:
        node = search
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    search["pruner"] = pruner
    if pruner == "none":  # asha/hyperband settings are the pruned run's; they mean nothing here
        search.pop("min_resource", None)
        search.pop("reduction_factor", None)
    return parse_spec(raw, base_dir=path.resolve().parent, origin=str(path))


def run_search(spec_path: Path, overrides: list[tuple[list[str], object]], pruner: str) -> dict:
    """One study in a fresh search area; a top-level function so a worker process can run it."""
    from harness.pipeline import search_only

    common.quiet_libraries()
    common.progress(f"search with pruner {pruner} ...")
    with tempfile.TemporaryDirectory(prefix=f"search-{pruner}-") as tmp:
        record = search_only(load_search_spec(spec_path, overrides, pruner), Path(tmp))
    trials = [t for t in record.trials if t.state in ("complete", "pruned")]
    return {
        "pruner": record.pruner,
        "trials": len(trials),
        "pruned": sum(t.state == "pruned" for t in trials),
        "steps_spent": record.steps_run,
        "steps_saved": record.steps_saved_by_pruning,
        "tokens_spent": record.tokens_run,
        "train_seconds": record.train_seconds_run,
        "best_trial": record.best_trial,
        "best_value": record.best_values[0],
        "best_params": record.best_params,
        "spec_settings_value": next((t.values[0] for t in record.trials if t.spec_settings and t.values), None),
        "curves": {t.number: {"state": str(t.state), "params": t.params, "steps": t.steps, "value": t.values[0] if t.values else None,
                              "intermediate": t.intermediate_values} for t in record.trials},
    }


def main() -> None:
    p = common.parser(__doc__.splitlines()[0], threads=False)
    p.add_argument("spec", type=Path, help="the spec whose search section is run (e.g. projects/sqlcoder.yaml)")
    p.add_argument("--pruners", type=common.choice_list(PRUNERS), default=None,
                   help="comma-separated; default: the spec's own pruner, then none (the reference)")
    p.add_argument("--set", dest="overrides", type=search_override, action="append", default=[], metavar="KEY=VALUE",
                   help="override a field of the spec's search section (repeatable), e.g. trials=8")
    p.add_argument("--parallel", action="store_true",
                   help="run the studies at the same time, one process each (their seconds then share the CPU)")
    args = p.parse_args()
    common.quiet_libraries()
    own = load_search_spec(args.spec, args.overrides, "none").search
    pruners = args.pruners or list(dict.fromkeys([yaml.safe_load(args.spec.read_text())["search"].get("pruner", "median"), "none"]))
    if args.parallel:  # steps, losses and pruning do not depend on timing; only the seconds column does
        with ProcessPoolExecutor(len(pruners), mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pruner: pool.submit(run_search, args.spec, args.overrides, pruner) for pruner in pruners}
            runs = {pruner: future.result() for pruner, future in futures.items()}
    else:
        runs = {pruner: run_search(args.spec, args.overrides, pruner) for pruner in pruners}
    reference = runs.get("none")
    rows = []
    for r in runs.values():
        rows.append((
            r["pruner"], r["trials"], r["pruned"], r["steps_spent"], r["steps_saved"],
            common.ratio(r["steps_spent"], reference["steps_spent"]) if reference else None,
            None if r["spec_settings_value"] is None else f"{r['spec_settings_value']:.4f}",
            f"{r['best_value']:.4f} (trial {r['best_trial']})",
            None if reference is None else r["best_value"] == reference["best_value"],
            r["train_seconds"],
        ))
    headers = ["pruner", "trials", "pruned", "steps spent", "steps saved", "steps ÷ unpruned", "your settings (trial 0)", "best value",
               "best = unpruned best", "train s (machine-dependent)"]
    curve_rows = [
        (pruner, n, c["state"], ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in c["params"].items()),
         c["steps"], " ".join(f"{s}:{v:.4f}" for s, v in c["intermediate"].items()), None if c["value"] is None else f"{c['value']:.4f}")
        for pruner, r in runs.items() for n, c in r["curves"].items()
    ]
    common.emit(
        args,
        f"Search pruning: {args.spec} ({own.trials} trials, {own.objective}, sampler {own.sampler}, seed {own.seed})",
        None,
        [
            ("Pruned vs unpruned", common.table(headers, rows)),
            ("Trials (validation loss at each reported step, then the objective)",
             common.table(["run", "trial", "state", "params", "steps", "reported", "objective"], curve_rows)),
        ],
        {"runs": runs},
    )


if __name__ == "__main__":
    main()
