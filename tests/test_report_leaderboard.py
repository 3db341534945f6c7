"""harness.report.leaderboard: a sweep's models ranked by the tuned headline in its better direction,
failed models apart, each metric cell the run report's own row; rendered by write_leaderboard."""

from __future__ import annotations

from pathlib import Path

from harness import results, runs
from harness.report import leaderboard, write_leaderboard
from harness.report.content import metric_row
from harness.results import Leaderboard, LeaderboardRow
from tests.report_fixtures import typed


def _row(name: str, tuned: float | None, run_dir: Path | None = None, **fields) -> LeaderboardRow:
    metrics = {"exact_match": typed(0.1, tuned, 0.0, 0.3)} if tuned is not None else {}
    return LeaderboardRow(name=name, source=f"src-{name}", run_dir=run_dir, metrics=metrics, **fields)


def _board(sweep_dir: Path, *rows: LeaderboardRow, headline: str | None = "exact_match") -> Leaderboard:
    return Leaderboard(project="sweep", sweep_dir=sweep_dir, headline=headline, rows=list(rows))


def test_ranked_by_the_tuned_headline_failed_models_apart(tmp_path: Path):
    board = _board(tmp_path, _row("mid", 0.3), _row("none", None), _row("broken", None, error="OSError: no weights"),
                   _row("best", 0.5), _row("worst", 0.2))
    view = leaderboard.build(board)
    assert [(r.rank, r.name) for r in view.rows] == [(1, "best"), (2, "mid"), (3, "worst"), (4, "none")]
    assert [(r.rank, r.name, r.error) for r in view.failed] == [(None, "broken", "OSError: no weights")]
    assert view.headline.metric == "exact_match" and view.headline.better == "higher"
    assert view.rows[0].headline == metric_row("exact_match", board.rows[3].metrics["exact_match"])  # the run report's own row


def test_lower_is_better_headline_ranks_the_lowest_first(tmp_path: Path):
    board = _board(tmp_path, *(LeaderboardRow(name=n, source="x", metrics={"perplexity_answer": typed(9.0, v, -8.0, -1.0)})
                               for n, v in (("a", 3.0), ("b", 1.5))), headline="perplexity_answer")
    assert [r.name for r in leaderboard.build(board).rows] == ["b", "a"]


def test_links_are_relative_and_only_to_reports_that_exist(tmp_path: Path):
    sweep_dir = tmp_path / "runs" / "sweep" / "sweep"
    reported, bare = (sweep_dir / f"sweep-{n}" / "20260101-000000" for n in ("a", "b"))
    reported.mkdir(parents=True)
    bare.mkdir(parents=True)
    (reported / "report.html").write_text("<html>")
    view = leaderboard.build(_board(sweep_dir, _row("a", 0.4, reported), _row("b", 0.3, bare)))
    assert (view.rows[0].report_html, view.rows[0].report_md) == ("sweep-a/20260101-000000/report.html", "sweep-a/20260101-000000/report.md")
    assert view.rows[1].report_html is None and view.rows[1].run_dir == str(bare)


def test_rendered_leaderboard(tmp_path: Path):
    rows = [_row("a", 0.4, parameters=134_515_008, tokens_per_s={"base": 100.0, "tuned": 120.5}, train_seconds=75.0, adapter_mb=3.5),
            _row("b", None, error="RuntimeError: out | of memory")]
    results.write(runs.leaderboard_path(tmp_path), _board(tmp_path, *rows))
    write_leaderboard(tmp_path)
    md, page = (tmp_path / "leaderboard.md").read_text(), (tmp_path / "leaderboard.html").read_text()
    assert "| 1 | a | 134.5 M | 10.0% → 40.0% | +30.0 pts [+0.0, +30.0], " in md
    assert "| 100.0 / 120.5 | 1 min 15 s | 3.50 | — |" in md
    assert "| b | src-b | RuntimeError: out \\| of memory | — |" in md and "## Failed" in md
    assert "1 finished, 1 failed" in page and "100.0 / 120.5" in page
    assert "](plots/accuracy_vs_size.png)" in md and "](plots/accuracy_vs_cost.png)" in md
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["accuracy_vs_cost.png", "accuracy_vs_size.png"]
