"""The report's figures as PNG bytes, drawn with matplotlib from the view model (content.build, view.py).

Figures are built with the object API (matplotlib.figure.Figure, Agg canvas), never pyplot, so
rendering touches no global backend or figure registry and the same view gives the same bytes.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from harness.report import formatting
from harness.report.view import (
    BreakdownTable,
    LeaderboardEntry,
    LeaderboardView,
    LossCurve,
    Number,
    ReportView,
    SearchSection,
)

DPI = 100
BASE_COLOR, TUNED_COLOR, MUTED = "#8c8c8c", "#1f77b4", "#b0b0b0"
_STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
}


@dataclass(frozen=True)
class Plot:
    id: str  # also the file name: plots/<id>.png
    title: str
    section: str  # which report section shows it: training, breakdown, search
    png: bytes


def render(view: ReportView) -> list[Plot]:
    """Every figure the view has data for, in report order."""
    search = view.search
    jobs: list[tuple[str, str, str, Callable[[], Figure | None]]] = [
        ("loss", "Training and validation loss", "training", lambda: loss_curves(view.training.loss_curve)),
        *[
            (f"breakdown_{_slug(b.column)}", f"{b.label} by {b.column}", "breakdown", lambda b=b: breakdown_bars(b))
            for b in view.breakdown
        ],
    ]
    if search:
        jobs += [
            ("search_history", "Optimisation history", "search", lambda: optimisation_history(search)),
            ("search_importances", "Parameter importances", "search", lambda: param_importances(search)),
            ("search_params", "Parameters tried, coloured by objective", "search", lambda: param_scatter(search)),
            ("search_pareto", "Pareto front", "search", lambda: pareto_front(search)),
        ]
    return _draw(jobs)


def leaderboard(view: LeaderboardView) -> list[Plot]:
    """A sweep's figures (view: harness.report.leaderboard.build): headline against size and cost."""
    if view.headline is None:
        return []
    label = view.headline.label
    return _draw([
        ("accuracy_vs_size", f"{label} against model size", "sweep",
         lambda: headline_against(view, lambda r: r.parameters, "parameters", formatting.count)),
        ("accuracy_vs_cost", f"{label} against training cost", "sweep",
         lambda: headline_against(view, lambda r: r.train_seconds, "training time of the final model", formatting.seconds)),
    ])


def _draw(jobs: list[tuple[str, str, str, Callable[[], Figure | None]]]) -> list[Plot]:
    plots = []
    with matplotlib.rc_context(_STYLE):
        for plot_id, title, section, draw in jobs:
            figure = draw()
            if figure is not None:
                plots.append(Plot(plot_id, title, section, _png(figure)))
    return plots


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_") or "column"


def _axes(width: float = 8.0, height: float = 3.8):
    figure = Figure(figsize=(width, height))
    return figure, figure.add_subplot()


# ----------------------------------------------------------------------------------------------


def loss_curves(curve: LossCurve) -> Figure | None:
    """Train loss per logged step and validation loss per evaluation, on one step axis."""
    if not curve.train and not curve.valid:
        return None
    figure, ax = _axes()
    # Different token sets: training reports packed full sequences, validation the answers only.
    labels = (("train loss (packed sequences)", "-"), ("validation loss (answer tokens, held out)", "o-"))
    for points, (label, style) in zip((curve.train, curve.valid), labels):
        if points:
            steps, losses = zip(*points)
            ax.plot(steps, losses, style, label=label, color=TUNED_COLOR if label.startswith("valid") else BASE_COLOR)
    ax.set_xlabel("step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("loss")
    _legend_above(ax)
    return figure


def breakdown_bars(breakdown: BreakdownTable) -> Figure | None:
    """Base vs tuned headline metric per value of one breakdown column, as horizontal bar pairs."""
    rows = [r for r in breakdown.rows if r.base is not None or r.tuned is not None]
    if not rows:
        return None
    scale = 100 if breakdown.kind == "rate" else 1
    figure, ax = _axes(height=1.2 + 0.45 * len(rows))
    positions = range(len(rows))
    for offset, side, color, values in ((-0.2, "base", BASE_COLOR, [r.base for r in rows]),
                                        (0.2, "tuned", TUNED_COLOR, [r.tuned for r in rows])):
        ax.barh([p + offset for p in positions], [scale * (v or 0) for v in values], height=0.4, color=color, label=side)
    ax.set_yticks(list(positions), [f"{r.value} (n={r.n})" for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel(breakdown.label + (" (%)" if scale == 100 else ""))
    if scale == 100:
        ax.set_xlim(0, 100)
    _legend_above(ax)
    return figure


def headline_against(view: LeaderboardView, x_of: Callable[[LeaderboardEntry], Number], xlabel: str,
                     tick: Callable[[float], str]) -> Figure | None:
    """Each model's base and tuned headline at its x (`x_of`: its size or cost), joined by an arrow,
    named; a log x axis where the models span a decade or more."""
    rows = [r for r in view.rows if r.headline is not None and x_of(r)]
    if not rows:
        return None
    kind = rows[0].headline.kind
    scale = 100 if kind == "rate" else 1
    figure, ax = _axes()
    for i, r in enumerate(rows):
        x, base, tuned = x_of(r), scale * r.headline.base, scale * r.headline.tuned
        ax.annotate("", xy=(x, tuned), xytext=(x, base), arrowprops={"arrowstyle": "->", "color": MUTED})
        ax.plot([x], [base], "o", color=BASE_COLOR, label="base" if i == 0 else None)
        ax.plot([x], [tuned], "o", color=TUNED_COLOR, label="tuned" if i == 0 else None)
        ax.annotate(r.name, (x, tuned), textcoords="offset points", xytext=(6, 4), fontsize=9)
    xs = [x_of(r) for r in rows]
    if max(xs) >= 10 * min(xs):
        ax.set_xscale("log")
        xlabel += " (log scale)"
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: tick(v)))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(view.headline.label + (" (%)" if scale == 100 else ""))
    if scale == 100:
        ax.set_ylim(-2, 102)
    _legend_above(ax)
    return figure


def _legend_above(ax) -> None:
    """Outside the axes, so it never hides a bar or a point."""
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.01), ncol=4, frameon=False, fontsize=9)


def optimisation_history(search: SearchSection) -> Figure | None:
    """Objective per trial (first objective), pruned trials at their last reported value, best so far."""
    scored = [t for t in search.trials if t.value is not None and t.state in ("complete", "pruned")]
    if not scored:
        return None
    figure, ax = _axes()
    for state, marker, color in (("complete", "o", TUNED_COLOR), ("pruned", "x", MUTED)):
        trials = [t for t in scored if t.state == state]
        if trials:
            label = state if state == "complete" else "pruned (last reported value)"
            ax.plot([t.number for t in trials], [t.value for t in trials], marker, color=color, label=label, linestyle="none")
    if not search.multi_objective:
        complete = sorted((t for t in scored if t.state == "complete"), key=lambda t: t.number)
        better = min if search.directions[0] == "minimize" else max
        best, line = None, []
        for t in complete:
            best = t.value if best is None else better(best, t.value)
            line.append((t.number, best))
        if line:
            ax.step(*zip(*line), where="post", color="#d62728", label="best so far")
    ax.set_xlabel("trial")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(_objective_label(search, 0))
    _legend_above(ax)
    return figure


def param_importances(search: SearchSection) -> Figure | None:
    """fANOVA importances from the study (empty for multi-objective or too few trials)."""
    items = search.param_importances
    if not items:
        return None
    figure, ax = _axes(height=1.0 + 0.45 * len(items))
    ax.barh([i.name for i in items], [i.importance for i in items], color=TUNED_COLOR)
    ax.invert_yaxis()
    ax.set_xlabel(f"importance for {search.objectives[0]}")
    ax.set_xlim(0, 1)
    return figure


def param_scatter(search: SearchSection) -> Figure | None:
    """Two searched parameters against each other (learning rate x LoRA rank where both are searched),
    coloured by objective; with one parameter, that parameter against the objective."""
    names = _scatter_params(search.param_names)
    trials = [t for t in search.trials if all(n in t.params for n in names) and (len(names) > 1 or t.value is not None)]
    if not names or not trials:
        return None
    figure, ax = _axes()
    complete = [t for t in trials if t.state == "complete" and t.value is not None]
    other = [t for t in trials if t not in complete]
    log = search.log_scale_params
    x_all = _param_axis(ax, "x", names[0], [t.params[names[0]] for t in trials], names[0] in log)
    if len(names) > 1:
        y_all = _param_axis(ax, "y", names[1], [t.params[names[1]] for t in trials], names[1] in log)
    else:  # one parameter: against the objective (a pruned trial at its last reported value)
        ax.set_ylabel(_objective_label(search, 0))
        y_all = [t.value for t in trials]
    where = {t.number: (x, y) for t, x, y in zip(trials, x_all, y_all)}
    if other:
        ax.scatter(*zip(*(where[t.number] for t in other)), marker="x", color=MUTED, label="pruned / failed")
    if complete:
        xy = zip(*(where[t.number] for t in complete))
        points = ax.scatter(*xy, c=[t.value for t in complete], cmap="viridis", s=60, label="complete")
        figure.colorbar(points, ax=ax, label=_objective_label(search, 0))
        best = [where[t.number] for t in complete if t.is_best]
        if best:
            ax.scatter(*zip(*best), s=220, facecolors="none", edgecolors="#d62728", linewidths=1.5, label="best")
    _legend_above(ax)
    return figure


def pareto_front(search: SearchSection) -> Figure | None:
    """Both objectives of every complete trial; the non-dominated ones joined up."""
    if not search.multi_objective:
        return None
    points = [
        (t.values[0], t.values[1], t.on_pareto_front)
        for t in search.trials
        if t.state == "complete" and len(t.values or []) >= 2
    ]
    if not points:
        return None
    figure, ax = _axes()
    ax.scatter([p[0] for p in points if not p[2]], [p[1] for p in points if not p[2]], color=MUTED, label="dominated")
    front = sorted((p[0], p[1]) for p in points if p[2])
    if front:
        ax.plot(*zip(*front), "o-", color="#d62728", label="Pareto front")
    ax.set_xlabel(_objective_label(search, 0))
    ax.set_ylabel(_objective_label(search, 1))
    _legend_above(ax)
    return figure


def _objective_label(search: SearchSection, i: int) -> str:
    names, directions = search.objectives, search.directions
    if i >= len(names):
        return "objective"
    direction = directions[i] if i < len(directions) else ""
    hint = {"minimize": " (lower is better)", "maximize": " (higher is better)"}.get(direction, "")
    return names[i] + hint


def _scatter_params(names: list[str]) -> list[str]:
    """Learning rate and LoRA rank when both were searched, otherwise the first two parameters."""
    preferred = [n for n in ("lr", "lora.r") if n in names]
    return (preferred if len(preferred) == 2 else names)[:2]


def _param_axis(ax, axis: str, name: str, values: list, log: bool) -> list[float]:
    """Label one axis for a parameter's raw values and return where each value is plotted.

    Non-numbers (e.g. scheduler names) become evenly spaced categories; a log-searched parameter
    gets a log axis when its values span at least a decade (below that, log ticks are unreadable);
    integers (LoRA rank) get integer ticks."""
    getattr(ax, f"set_{axis}label")(name)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        categories = sorted({str(v) for v in values})
        getattr(ax, f"set_{axis}ticks")(range(len(categories)), categories)
        return [float(categories.index(str(v))) for v in values]
    if log and min(values) > 0 and max(values) >= 10 * min(values):
        getattr(ax, f"set_{axis}scale")("log")
    elif all(float(v).is_integer() for v in values):
        getattr(ax, f"{axis}axis").set_major_locator(MaxNLocator(integer=True))
    else:  # small values such as learning rates: 1e-03 style ticks, a few of them, no overlap
        getattr(ax, f"{axis}axis").set_major_locator(MaxNLocator(nbins=5))
        getattr(ax, f"{axis}axis").set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}" if abs(v) >= 0.01 or v == 0 else f"{v:.1e}"))
    return [float(v) for v in values]
