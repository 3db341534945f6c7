"""Plumbing shared by the benchmark scripts, so they all report the same way: flags, the SQL
workload, summary statistics, Markdown tables and one JSON record per run."""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

DEMO_SPEC = Path("projects/sqlcoder.yaml")
# Fallback if the demo spec is missing; keep in step with projects/sqlcoder.yaml.
DEMO_SYSTEM = "Write one SQLite query that answers the question. Reply with SQL only."


def parser(description: str, threads: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers (and machine facts) here")
    if threads:
        p.add_argument("--threads", type=int, default=2, help="torch (and llama.cpp) threads")
    return p


def choice_list(choices: tuple[str, ...]):
    """argparse type for a comma-separated subset of `choices`, order kept."""

    def parse(text: str) -> list[str]:
        picked = [c.strip() for c in text.split(",") if c.strip()]
        unknown = [c for c in picked if c not in choices]
        if unknown or not picked:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(choices)} (got {text!r})")
        return picked

    return parse


def demo_prompt():
    """The demo's prompt (chat template + its system line): benchmarks see what `harness run` sees."""
    from harness.errors import UserError
    from harness.spec import PromptSpec, load_spec

    try:
        return load_spec(DEMO_SPEC).prompt
    except UserError:  # spec moved or invalid: the benchmark still runs, on the same text
        return PromptSpec(system=DEMO_SYSTEM)


def sql_workload(subset: int | None = 1200, test: int = 8):
    """(model dir, splits, prompt spec): the embedded SmolLM2-135M and the built-in SQL set.

    With the demo's subset (1200, seed 0, grouped) the test split is filled first, so the first N
    test questions are the demo's first N whatever `test` is."""
    from harness.data import load_splits
    from harness.models import resolve_model
    from harness.spec import DataSpec, ModelSpec, SplitSpec

    model_dir = resolve_model(ModelSpec())
    data = DataSpec(source="builtin:sql", subset=subset, split=SplitSpec(valid=8, test=test, group_by="group"))
    splits, _ = load_splits(data)
    return model_dir, splits, demo_prompt()


def quiet_libraries() -> None:
    """Keep stdout for our Markdown: importing AutoTrain points loguru (the global logger) at
    stdout, so send it to stderr; and keep stderr readable (no per-call library warnings)."""
    import logging
    import sys
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    logging.getLogger("harness").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        from autotrain import logger
    except ImportError:
        return
    logger.remove()
    logger.add(sys.stderr, level="INFO")


def progress(message: str) -> None:
    """Progress goes to stderr, so stdout stays a clean Markdown report."""
    import sys

    print(message, file=sys.stderr, flush=True)


def summarize(values) -> dict:
    """n, mean, p50, min, max of the values that are not None (None when there are none)."""
    present = [v for v in values if v is not None]
    if not present:
        return {"n": 0, "mean": None, "p50": None, "min": None, "max": None}
    return {
        "n": len(present),
        "mean": statistics.fmean(present),
        "p50": statistics.median(present),
        "min": min(present),
        "max": max(present),
    }


def pct(x: float | None) -> str | None:
    return None if x is None else f"{100 * x:.1f}%"


def ratio(x: float | None, y: float | None) -> float | None:
    return None if x is None or not y else x / y


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}"
    return str(value).replace("|", "\\|")


def table(headers: list[str], rows) -> str:
    """A Markdown table; floats get 3 significant digits (1 decimal from 10 up), None is '–'."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def targets_table(rows: list[tuple[str, float | None, float | None]]) -> str:
    """(what, measured ratio, required ratio or None) -> a met/missed table. Targets are ratios on
    the same machine, so they hold on a faster or slower CPU alike; None marks an explanatory ratio.
    A target not measured in this run stays in the table as '–'; an explanatory ratio is dropped."""
    return table(
        ["ratio", "measured", "target", "met"],
        [
            (name, value, None if need is None else f"≥ {need:g}", None if need is None or value is None else value >= need)
            for name, value, need in rows
            if need is not None or value is not None
        ],
    )


def emit(args: argparse.Namespace, title: str, facts: dict | None, sections: list[tuple[str, str]], results: dict) -> None:
    """Print the Markdown report (this machine's facts first, when measured here) and, with
    --json, write the same numbers."""
    from bench.machine import facts_table

    print(f"# {title}\n")
    if facts is not None:
        print(f"## Machine\n\n{facts_table(facts)}\n")
    for heading, body in sections:
        print(f"## {heading}\n\n{body}\n")
    if getattr(args, "json", None):
        record = {"benchmark": title, "machine": facts, "args": vars(args), **results}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2, default=str) + "\n")
        progress(f"numbers written to {args.json}")
