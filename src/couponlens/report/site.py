"""The demo site: an ``index.html`` that summarises every job's key figures and links to its report.

Example:
    >>> import tempfile, pathlib
    >>> from couponlens.report.site import SiteEntry, write_index
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> entry = SiteEntry(title="O2O coupon usage", link="o2o/report.html",
    ...                   question="How are coupons used?", figures={"usage rate": "7.2%"})
    >>> write_index(out, [entry], source="generated sample data").name
    'index.html'
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from couponlens.report.html import _environment, write_text_atomic


@dataclass
class SiteEntry:
    """One job on the index page: what it answers, its key figures, and its report's relative link."""

    title: str
    link: str
    question: str
    figures: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: Output files worth opening, by label: relative links like ``link``.
    files: dict[str, str] = field(default_factory=dict)


def write_index(
    out_dir: str | Path,
    entries: list[SiteEntry],
    *,
    source: str,
    options: dict[str, object] | None = None,
) -> Path:
    """Write ``out_dir/index.html`` (self-contained) and return its path."""
    from couponlens import __version__

    out = Path(out_dir)
    html = (
        _environment()
        .get_template("index.html")
        .render(
            entries=entries,
            source=source,
            options=options or {},
            version=__version__,
            generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )
    )
    path = out / "index.html"
    write_text_atomic(path, html)
    return path
