"""harness.report.plots: the figures the view has data for, drawn the same way every time."""

from __future__ import annotations

from pathlib import Path

from harness.report import build_view, leaderboard, plots
from harness.results import Leaderboard, LeaderboardRow
from tests.report_fixtures import demo_results, make_run_dir, typed

PNG = b"\x89PNG\r\n\x1a\n"


def test_report_figures_by_section(tmp_path: Path):
    figures = plots.render(build_view(make_run_dir(tmp_path)))
    assert [(p.id, p.section) for p in figures] == [
        ("loss", "training"), ("breakdown_category", "breakdown"), ("breakdown_difficulty", "breakdown"),
        ("search_history", "search"), ("search_params", "search"), ("search_pareto", "search"),
    ]  # no importances: fANOVA needs one objective
    assert all(p.png.startswith(PNG) for p in figures)
    assert [p.png for p in plots.render(build_view(tmp_path / "run"))] == [p.png for p in figures]  # same view, same bytes


def test_a_run_without_curves_search_or_breakdown_has_no_figures(tmp_path: Path):
    results = demo_results()
    results["search"] = None
    results["evaluation"]["breakdown"] = {}
    results["training"].update(history=[], valid_losses=[])
    assert plots.render(build_view(make_run_dir(tmp_path, results))) == []


def test_log_searched_parameter_gets_a_log_axis(tmp_path: Path):
    search = build_view(make_run_dir(tmp_path)).search  # the demo spec searches lr on a log scale
    assert search.log_scale_params == ["lr"]
    assert plots.param_scatter(search).axes[0].get_xscale() == "log"
    linear = search.model_copy(update={"log_scale_params": []})
    assert plots.param_scatter(linear).axes[0].get_xscale() == "linear"


def test_optimisation_history_draws_the_best_so_far_for_one_objective(tmp_path: Path):
    results = demo_results()
    search = results["search"]
    for t, value in zip(search["trials"], ([0.9], [0.7], [0.8], None)):
        t["values"] = value
    search.update(objectives=["valid_loss"], directions=["minimize"], best_values=[0.7], pareto_front=None)
    view = build_view(make_run_dir(tmp_path, results))
    (ax,) = plots.optimisation_history(view.search).axes
    best = next(line for line in ax.get_lines() if line.get_label() == "best so far")
    assert list(best.get_ydata()) == [0.9, 0.7, 0.7]
    assert plots.pareto_front(view.search) is None


def _board(**rows) -> Leaderboard:
    entries = [LeaderboardRow(name=name, source="tiny", parameters=parameters, train_seconds=seconds,
                              metrics={"exact_match": typed(0.1, tuned, 0.0, 0.2)}) for name, (parameters, seconds, tuned) in rows.items()]
    return Leaderboard(project="p", sweep_dir=Path("runs/p/sweep"), headline="exact_match", rows=entries)


def test_leaderboard_figures_headline_against_size_and_cost():
    view = leaderboard.build(_board(small=(1_000_000, 60.0, 0.3), big=(100_000_000, 90.0, 0.5)))
    label = view.headline.label
    assert [(p.id, p.title, p.section) for p in plots.leaderboard(view)] == [
        ("accuracy_vs_size", f"{label} against model size", "sweep"),
        ("accuracy_vs_cost", f"{label} against training cost", "sweep"),
    ]
    size = plots.headline_against(view, lambda r: r.parameters, "parameters", str).axes[0]
    cost = plots.headline_against(view, lambda r: r.train_seconds, "seconds", str).axes[0]
    assert size.get_xscale() == "log" and cost.get_xscale() == "linear"  # a decade apart, or not
    assert {t.get_text() for t in size.texts} >= {"small", "big"}


def test_a_leaderboard_without_a_shared_headline_has_no_figures():
    board = _board(a=(1, 1.0, 0.2)).model_copy(update={"headline": None})
    assert plots.leaderboard(leaderboard.build(board)) == []
