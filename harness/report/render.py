"""The view model to text: report.md and report.html through jinja2 templates, report.json as data.

HTML autoescapes everything (model outputs, prompts and data values are untrusted text); Markdown
escapes what would break a table cell or a code fence.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import jinja2

from harness import runs
from harness.report import formatting
from harness.report.content import flatten
from harness.report.plots import Plot
from harness.report.view import LeaderboardView, ReportView

TEMPLATES = Path(__file__).parent / "templates"


def plot_path(plot: Plot) -> str:
    """Where a plot's PNG lives, relative to the run directory (and to report.md)."""
    return f"{runs.PLOTS_DIR}/{plot.id}.png"


def markdown(view: ReportView | LeaderboardView, plots: list[Plot], template: str = "report.md.j2") -> str:
    return _environment(autoescape=False).get_template(template).render(
        **dict(view), plots=_by_section(plots, plot_path)
    )


def html_page(view: ReportView | LeaderboardView, plots: list[Plot], template: str = "report.html.j2") -> str:
    """One self-contained page: CSS inline, images as base64 data URIs, no scripts or fonts to fetch."""
    return _environment(autoescape=True).get_template(template).render(
        **dict(view), plots=_by_section(plots, lambda p: "data:image/png;base64," + base64.b64encode(p.png).decode("ascii"))
    )


def json_data(view: ReportView, plots: list[Plot]) -> dict:
    """report.json: the view's fields (its documented keys) and where each figure lies."""
    return {**view.model_dump(), "plots": [{"id": p.id, "title": p.title, "section": p.section, "path": plot_path(p)} for p in plots]}


def _by_section(plots: list[Plot], src) -> dict[str, list[dict]]:
    sections: dict[str, list[dict]] = {"training": [], "breakdown": [], "search": []}
    for plot in plots:
        sections.setdefault(plot.section, []).append({"id": plot.id, "title": plot.title, "src": src(plot)})
    return sections


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(formatting.FILTERS)
    env.filters.update(md_cell=md_cell, fence=fence, flatten=flatten)
    return env


def md_cell(value) -> str:
    """Untrusted text inside a Markdown table cell: one line, no column breaks, no raw HTML."""
    text = value if isinstance(value, str) else formatting.number(value)
    return html.escape(re.sub(r"\s*\n\s*", " ", text), quote=False).replace("|", "\\|")


def fence(text, info: str = "text") -> str:
    """A fenced code block longer than any backtick run inside, so untrusted text cannot close it."""
    text = "" if text is None else str(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    marks = "`" * max(3, longest + 1)
    return f"{marks}{info}\n{text}\n{marks}"
