"""Self-contained HTML reports: Plotly charts, sortable tables and findings, written atomically.

A report page is built from :class:`Section` objects and written with :func:`write_report`,
which puts ``report.html`` (plotly.js inlined once, so the page works offline) and
``results.json`` into a folder. Every page says which data, options and version produced it.

Example:
    >>> import tempfile, pandas as pd, plotly.graph_objects as go
    >>> from couponlens.report.html import Report, Section, write_report
    >>> report = Report(title="Demo", source="sample.csv", options={"threshold": 500})
    >>> _ = report.add(Section(title="Counts", findings=["Two rows."],
    ...                    charts=[go.Figure(go.Bar(x=["a", "b"], y=[1, 2]))],
    ...                    tables=[pd.DataFrame({"x": [1, 2]})]))
    >>> out = write_report(report, tempfile.mkdtemp(), {"rows": 2})
    >>> sorted(p.name for p in out.iterdir())
    ['report.html', 'results.json']
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from couponlens._results import jsonable


@dataclass
class Section:
    """One titled part of a report: findings sentences, charts, tables and notes, in that order."""

    title: str
    findings: list[str] = field(default_factory=list)
    charts: list[go.Figure] = field(default_factory=list)
    tables: list[pd.DataFrame] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    table_captions: list[str] = field(default_factory=list)
    intro: str = ""

    @property
    def anchor(self) -> str:
        """The section's id in the page, derived from its title."""
        return "".join(c if c.isalnum() else "-" for c in self.title.lower()).strip("-")


@dataclass
class Report:
    """A report page: a title, what produced it, and its sections."""

    title: str
    subtitle: str = ""
    source: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)
    banner: str = ""

    def add(self, section: Section) -> Report:
        """Append a section and return the report (for chaining)."""
        self.sections.append(section)
        return self


@lru_cache(maxsize=1)
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("couponlens", "report/templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _chart_html(figure: go.Figure, index: int) -> Markup:
    figure = go.Figure(figure)
    figure.update_layout(template="plotly_white", margin={"l": 50, "r": 20, "t": 50, "b": 50})
    html = figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=f"chart-{index}",
        config={"displaylogo": False, "responsive": True},
    )
    return Markup(html)


def _format_cell(value: Any) -> str:
    value = jsonable(value)
    if value is None:
        return "—"
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e7):
            return f"{value:.3g}"
        return f"{value:,.4f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _table_html(frame: pd.DataFrame) -> Markup:
    shown = frame.head(500)
    head = "".join(f"<th>{_escape(str(c))}</th>" for c in shown.columns)
    rows = []
    for record in shown.itertuples(index=False):
        cells = []
        for value in record:
            plain = jsonable(value)
            sort_key = "" if plain is None else str(plain)
            numeric = isinstance(plain, int | float) and not isinstance(plain, bool)
            cls = ' class="num"' if numeric else ""
            cells.append(
                f'<td{cls} data-sort="{_escape(sort_key)}">{_escape(_format_cell(value))}</td>'
            )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = (
        f'<p class="note">Showing 500 of {len(frame):,} rows; all rows are in results.json.</p>'
        if len(frame) > 500
        else ""
    )
    return Markup(
        f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>{more}'
    )


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def render_report(report: Report) -> str:
    """Render the page to one self-contained HTML string."""
    from couponlens import __version__

    chart_index = 0
    sections = []
    for section in report.sections:
        charts = []
        for figure in section.charts:
            charts.append(_chart_html(figure, chart_index))
            chart_index += 1
        captions = section.table_captions + [""] * (
            len(section.tables) - len(section.table_captions)
        )
        tables = [
            {"caption": caption, "html": _table_html(frame)}
            for caption, frame in zip(captions, section.tables, strict=False)
        ]
        sections.append({"section": section, "charts": charts, "tables": tables})
    template = _environment().get_template("report.html")
    return template.render(
        report=report,
        sections=sections,
        options_json=json.dumps(jsonable(report.options), indent=1, sort_keys=True),
        version=__version__,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        plotly_js=Markup(_plotly_js()) if chart_index else Markup(""),
    )


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_results_json(path: Path, results: dict[str, Any]) -> None:
    """Write results as JSON (NaN -> null, dates -> ISO text), atomically."""
    write_text_atomic(path, json.dumps(jsonable(results), indent=2, allow_nan=False) + "\n")


def write_report(report: Report, out_dir: str | Path, results: dict[str, Any]) -> Path:
    """Write ``report.html`` and ``results.json`` into ``out_dir`` (created if needed).

    Both files are written to temporary names and renamed, so an interrupted job leaves the
    previous files intact.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_results_json(out / "results.json", results)
    write_text_atomic(out / "report.html", render_report(report))
    return out
