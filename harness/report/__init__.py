"""Report stage: a run directory's results.json (+ spec.yaml) -> report.md, report.html, report.json;
a sweep directory's leaderboard.json -> leaderboard.md, leaderboard.html.

Reads only the run directory, so `harness report RUN_DIR` can regenerate the reports of any
finished run without the model, the data or the study. Output depends only on those two files
(no clock, no machine state): regenerating writes the same bytes, replacing the reports and
plots/ and nothing else. Every file is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pydantic import ValidationError

from harness import results, runs
from harness.report import content, leaderboard, plots, render
from harness.report.content import SavedSpec
from harness.report.view import ReportView
from harness.runs import REPORT_FILES
from harness.spec import Spec


def write_reports(run_dir: Path) -> list[Path]:
    """Write the three reports (and plots/*.png for the Markdown one); returns the paths written."""
    run_dir = Path(run_dir)
    view = build_view(run_dir)
    figures = plots.render(view)
    plot_files = _write_plots(run_dir, figures)
    md, page, data = (run_dir / name for name in REPORT_FILES)
    runs.write_atomic(md, render.markdown(view, figures).encode())
    runs.write_atomic(page, render.html_page(view, figures).encode())
    runs.write_atomic(data, (json.dumps(render.json_data(view, figures), indent=2, ensure_ascii=False) + "\n").encode())
    return [md, page, data, *plot_files]


def write_leaderboard(sweep_dir: Path) -> list[Path]:
    """A sweep's leaderboard.md and leaderboard.html (and plots/) from its leaderboard.json."""
    sweep_dir = Path(sweep_dir)
    view = leaderboard.build(results.load_leaderboard(sweep_dir))
    figures = plots.leaderboard(view)
    plot_files = _write_plots(sweep_dir, figures)
    md, page = (sweep_dir / name for name in runs.LEADERBOARD_REPORTS)
    runs.write_atomic(md, render.markdown(view, figures, "leaderboard.md.j2").encode())
    runs.write_atomic(page, render.html_page(view, figures, "leaderboard.html.j2").encode())
    return [md, page, *plot_files]


def build_view(run_dir: Path) -> ReportView:
    """The report's content (what report.json holds, minus the plot list)."""
    return content.build(results.load(Path(run_dir)), _read_spec(Path(run_dir)))


def _read_spec(run_dir: Path) -> SavedSpec | None:
    """The run's spec.yaml as saved and as the typed `Spec` (None where it is missing).

    Validated as it stands, without `${VAR}` interpolation or any look at the files it names: the
    report depends on the run directory alone, not on the environment or on data that may have
    moved. Relative paths in it resolve against the run directory. A spec that no longer validates
    (an older harness wrote it) is still shown; only what the report reads from the typed spec
    (the seeds, the log-scale parameters) is then left out."""
    path = runs.spec_path(run_dir)
    saved = yaml.safe_load(path.read_text()) if path.is_file() else None
    if not isinstance(saved, dict):
        return None
    try:
        spec = Spec.model_validate(saved)
    except ValidationError:
        return SavedSpec(saved=saved, spec=None)
    spec.base_dir = run_dir
    return SavedSpec(saved=saved, spec=spec)


def _write_plots(out_dir: Path, figures: list[plots.Plot]) -> list[Path]:
    written = [runs.write_atomic(out_dir / render.plot_path(p), p.png) for p in figures]
    _remove_stale_plots(out_dir / runs.PLOTS_DIR, keep=set(written))
    return written


def _remove_stale_plots(plot_dir: Path, keep: set[Path]) -> None:
    """plots/ belongs to the report: a figure the current view no longer has must not linger."""
    if plot_dir.is_dir():
        for path in plot_dir.glob("*.png"):
            if path not in keep:
                path.unlink()
