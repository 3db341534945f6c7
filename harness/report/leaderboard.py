"""A sweep's leaderboard as a view model (view.LeaderboardView): leaderboard.json (the typed record) -> leaderboard.md/.html.

Rows are ranked by the tuned models' headline metric in its better direction (from
harness/metrics.py); failed models follow, with their error line. Each metric cell is the run
report's own row (`content.metric_row`), so a model reads the same here and in its report.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness import metrics as registry
from harness import runs
from harness.report.content import metric_row
from harness.report.view import LeaderboardEntry, LeaderboardHeadline, LeaderboardView, MetricRow, SidePair
from harness.results import Leaderboard, LeaderboardRow


def build(board: Leaderboard) -> LeaderboardView:
    headline = registry.get(board.headline) if board.headline else None
    finished = sorted((r for r in board.rows if r.finished), key=lambda r: _rank_key(r, headline))
    return LeaderboardView(
        project=board.project,
        sweep_dir=str(board.sweep_dir),
        headline=LeaderboardHeadline(metric=headline.key, label=headline.label, sentence_name=headline.sentence_name,
                                     better=headline.better.value) if headline else None,
        perplexity_label=registry.METRICS[registry.LEADERBOARD_PERPLEXITY].label,
        adapter_label=registry.METRICS["adapter_mb"].label,
        rows=[_row(r, board, rank) for rank, r in enumerate(finished, 1)],
        failed=[_row(r, board, None) for r in board.rows if not r.finished],
    )


def _rank_key(row: LeaderboardRow, headline: registry.Metric | None) -> tuple:
    """Best tuned headline first; models without one after those, in the spec's order."""
    comparison = row.metrics.get(headline.key) if headline else None
    if comparison is None or comparison.tuned is None:
        return (1, 0.0)
    return (0, -comparison.tuned if headline.better == registry.Better.HIGHER else comparison.tuned)


def _row(row: LeaderboardRow, board: Leaderboard, rank: int | None) -> LeaderboardEntry:
    md, html, _ = runs.REPORT_FILES
    reported = row.run_dir is not None and (row.run_dir / html).is_file()
    return LeaderboardEntry(
        rank=rank,
        name=row.name,
        source=row.source,
        error=row.error,
        resumed=row.resumed,
        run_dir=str(row.run_dir) if row.run_dir else None,
        # relative, so the leaderboard's links survive moving the runs folder
        report_md=_relative(row.run_dir / md, board.sweep_dir) if reported else None,
        report_html=_relative(row.run_dir / html, board.sweep_dir) if reported else None,
        architecture=row.architecture,
        parameters=row.parameters,
        headline=_metric(row, board.headline),
        perplexity=_metric(row, registry.LEADERBOARD_PERPLEXITY),
        tokens_per_s=SidePair(**row.tokens_per_s),
        train_seconds=row.train_seconds,
        adapter_mb=row.adapter_mb,
        total_seconds=row.total_seconds,
    )


def _metric(row: LeaderboardRow, key: str | None) -> MetricRow | None:
    return metric_row(key, row.metrics[key]) if key and key in row.metrics else None


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()
