"""The O2O coupon-usage job: load, validate, analyse, and write ``report.html`` + ``results.json``.

Example:
    >>> import tempfile, pathlib
    >>> from couponlens.report.o2o import o2o_report
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "log.csv").write_text(
    ...     "User_id,Merchant_id,Coupon_id,Discount_rate,Distance,Date_received,Date\\n"
    ...     "1,10,100,150:20,0,20160101,20160105\\n"
    ...     "2,10,null,null,null,null,20160102\\n"
    ...     "3,10,100,150:20,1,20160101,null\\n"
    ... )
    >>> outcome = o2o_report(d / "log.csv", d / "report")
    >>> outcome.results["usage_rate"], outcome.results["dataset"]["rows_read"]
    (0.5, 3)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from ibis.backends import BaseBackend

from couponlens._results import Result
from couponlens.analysis.o2o import O2OAnalysis, analyse_o2o
from couponlens.datasets.o2o import LoadReport, load_o2o
from couponlens.engine import describe
from couponlens.errors import InputError
from couponlens.report.html import Report, Section, write_report

#: Steps reported to a progress callback, in order.
REPORT_STEPS: tuple[str, ...] = ("load and validate", "analyse", "write report")


@dataclass(frozen=True, repr=False)
class O2OReportOutcome(Result):
    """Where the report went, the load counts and the ``results.json`` content."""

    out_dir: str
    report_path: str
    results_path: str
    quarantine_path: str | None
    load: LoadReport
    results: dict[str, Any]


def _ci_errors(frame: pd.DataFrame, rate: str, low: str, high: str) -> dict[str, Any]:
    return {
        "type": "data",
        "symmetric": False,
        "array": (frame[high] - frame[rate]).tolist(),
        "arrayminus": (frame[rate] - frame[low]).tolist(),
    }


def _figure(title: str, x: str, y: str) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=380)
    return figure


def _data_section(load: LoadReport) -> Section:
    counts = pd.DataFrame(
        [
            {"rows read": load.rows_read, "rows kept": load.rows_kept,
             "rows quarantined": load.rows_quarantined, "blank lines": load.blank_lines},
        ]
    )  # fmt: skip
    tables = [counts]
    captions = ["Rows read = rows kept + rows quarantined"]
    if load.reasons:
        tables.append(
            pd.DataFrame({"reason": list(load.reasons), "rows": list(load.reasons.values())})
        )
        captions.append("Quarantined rows by reason")
    notes = list(load.warnings)
    if load.quarantine_path:
        notes.append(
            "Quarantined rows with their line numbers and raw text: "
            f"{Path(load.quarantine_path).name}, beside this page"
        )
    findings = [
        f"Read {load.rows_read:,} rows from {Path(load.path).name} ({load.layout} layout): "
        f"{load.rows_kept:,} kept, {load.rows_quarantined:,} quarantined."
    ]
    return Section("Data", findings=findings, tables=tables, table_captions=captions, notes=notes)


def _record_class_section(a: O2OAnalysis) -> Section:
    rc = a.record_classes
    section = Section("Record classes", notes=[] if rc.status == "ok" else [rc.status])
    if rc.status == "ok":
        frame = rc.to_frame()
        section.tables.append(frame)
        labels = ["coupon not used", "normal purchase", "coupon used", "no coupon, no purchase"]
        values = [rc.coupon_not_used, rc.normal_purchase, rc.coupon_used, rc.no_coupon_no_purchase]
        figure = _figure("Records by class", "class", "records")
        figure.add_bar(x=labels, y=values, text=[f"{v:,}" for v in values], textposition="outside")
        section.charts.append(figure)
    return section


def _daily_section(a: O2OAnalysis) -> Section:
    frame = a.daily.to_frame()
    section = Section(
        "Daily issue and use", notes=[] if a.daily.status == "ok" else [a.daily.status]
    )
    if frame.empty:
        return section
    dates = pd.to_datetime(frame["date"])
    volume = _figure("Coupons issued and used by receipt date", "receipt date", "coupons")
    volume.add_bar(x=dates, y=frame["issued"], name="issued")
    if a.daily.status == "ok":
        volume.add_bar(x=dates, y=frame["used"], name="used")
    volume.update_layout(barmode="overlay")
    section.charts.append(volume)
    if a.daily.status == "ok":
        rate = _figure("Usage rate by receipt date (Wilson 95% band)", "receipt date", "usage rate")
        rate.add_scatter(
            x=dates, y=frame["ci_high"], line={"width": 0}, showlegend=False, hoverinfo="skip"
        )
        rate.add_scatter(
            x=dates, y=frame["ci_low"], fill="tonexty", line={"width": 0}, name="95% CI",
            fillcolor="rgba(47,111,221,0.2)", hoverinfo="skip",
        )  # fmt: skip
        rate.add_scatter(x=dates, y=frame["usage_rate"], mode="lines", name="usage rate")
        rate.update_yaxes(tickformat=".0%")
        section.charts.append(rate)
    return section


def _popular_section(a: O2OAnalysis) -> Section:
    pm = a.popular_merchants
    section = Section(
        "Popular merchants",
        intro=(
            f"Merchants with more than {pm.threshold:,} distinct coupon users; does their "
            "popularity move with distance or discount?"
        ),
        notes=[] if pm.status == "ok" else [pm.status],
    )
    merchants = pm.to_frame()
    if not merchants.empty:
        for column, label in (
            ("mean_distance", "mean distance (x 500 m)"),
            ("mean_discount", "mean discount rate"),
        ):
            figure = _figure(f"Coupon users vs {label}", label, "distinct coupon users")
            figure.add_scatter(
                x=merchants[column], y=merchants["coupon_users"], mode="markers",
                text=[f"merchant {m}" for m in merchants["merchant_id"]], marker={"size": 10},
            )  # fmt: skip
            section.charts.append(figure)
        section.tables.append(merchants)
        section.table_captions.append("Popular merchants")
    correlations = pm.correlation_frame()
    if not correlations.empty:
        section.tables.append(correlations)
        section.table_captions.append(
            "Pearson r (Fisher-z 95% CI) and Spearman rho, pairwise deletion"
        )
    return section


def _mania_section(a: O2OAnalysis) -> Section:
    sm = a.shopping_mania
    section = Section(
        "Shopping mania",
        intro=(
            "Users who, at some merchant, bought with a coupon and never without one "
            "(the seed's definition), and the strict variant: coupon users with no normal purchase anywhere."
        ),
        notes=[] if sm.status == "ok" else [sm.status],
    )
    if sm.status == "ok":
        frame = sm.to_frame()
        section.tables.append(frame)
        figure = _figure("Mean days from receipt to use", "group", "days")
        figure.add_bar(x=frame["group"], y=frame["mean_days_to_use"])
        section.charts.append(figure)
    return section


def _habits_section(a: O2OAnalysis) -> Section:
    section = Section("Consumer habits")
    for breakdown, title in (
        (a.purchases_by_weekday, "Purchases by day of week"),
        (a.purchases_by_distance, "Purchases by distance (x 500 m)"),
    ):
        frame = breakdown.to_frame()
        if breakdown.status != "ok" or frame.empty:
            section.notes.append(f"{title}: {breakdown.status}")
            continue
        figure = _figure(title, breakdown.dimension, "purchases")
        figure.add_bar(x=frame["group"], y=frame["normal_purchases"], name="normal")
        figure.add_bar(x=frame["group"], y=frame["coupon_purchases"], name="with a coupon")
        figure.update_layout(barmode="stack")
        section.charts.append(figure)
        section.tables.append(frame)
        section.table_captions.append(title)
    per_user = a.purchases_per_user
    if per_user.status == "ok" and not per_user.histogram.empty:
        hist = per_user.to_frame()
        figure = _figure("Buyers by number of purchases", "purchases per buyer", "buyers")
        figure.add_bar(
            x=hist["purchases"], y=hist["buyers_by_coupon_purchases"], name="coupon purchases"
        )
        figure.add_bar(
            x=hist["purchases"], y=hist["buyers_by_normal_purchases"], name="normal purchases"
        )
        section.charts.append(figure)
    elif per_user.status != "ok":
        section.notes.append(f"Purchases per user: {per_user.status}")
    return section


def _patterns_section(a: O2OAnalysis) -> Section:
    section = Section("Coupon usage patterns")
    for breakdown, title in (
        (a.usage_by_discount_rate, "Usage rate by discount rate"),
        (a.usage_by_spend_threshold, "Usage rate by spend threshold"),
        (a.usage_by_distance, "Usage rate by distance (x 500 m)"),
        (a.usage_by_weekday, "Usage rate by day of week of receipt"),
    ):
        frame = breakdown.to_frame()
        if breakdown.status != "ok" or frame.empty:
            section.notes.append(f"{title}: {breakdown.status}")
            continue
        figure = _figure(f"{title} (Wilson 95% CI)", breakdown.dimension, "usage rate")
        figure.add_bar(
            x=frame["group"].astype(str), y=frame["usage_rate"],
            error_y=_ci_errors(frame, "usage_rate", "ci_low", "ci_high"),
            customdata=frame["issued"], hovertemplate="%{x}: %{y:.1%} of %{customdata:,} issued",
        )  # fmt: skip
        figure.update_yaxes(tickformat=".0%")
        section.charts.append(figure)
        section.tables.append(frame)
        section.table_captions.append(title)
    days = a.days_to_use
    if days.status == "ok" and not days.histogram.empty:
        hist = days.to_frame()
        figure = _figure("Days from receipt to use", "days", "uses")
        figure.add_bar(x=hist["days"], y=hist["uses"])
        figure.add_vline(
            x=days.window_days + 0.5, line_dash="dash", annotation_text=f"{days.window_days} days"
        )
        section.charts.append(figure)
    elif days.status != "ok":
        section.notes.append(f"Days to use: {days.status}")
    return section


def build_o2o_report(analysis: O2OAnalysis, load: LoadReport, options: dict[str, Any]) -> Report:
    """Assemble the report page from an analysis and its load report."""
    report = Report(
        title="O2O coupon usage",
        subtitle="How coupons are used, what drives store traffic, and how consumers spend.",
        source=load.path,
        options=options,
    )
    report.add(Section("Findings", findings=analysis.findings()))
    report.add(_data_section(load))
    report.add(_record_class_section(analysis))
    report.add(_daily_section(analysis))
    report.add(_popular_section(analysis))
    report.add(_mania_section(analysis))
    report.add(_habits_section(analysis))
    report.add(_patterns_section(analysis))
    return report


def o2o_report(
    path: str | Path,
    out_dir: str | Path,
    *,
    popular_threshold: int = 500,
    strict: bool = False,
    con: BaseBackend | None = None,
    progress: Callable[[str], object] | None = None,
    quarantine_format: str = "csv",
) -> O2OReportOutcome:
    """Load ``path``, run every O2O analysis, and write ``report.html``, ``results.json``
    (and ``quarantine.csv``, or ``quarantine.parquet`` with ``quarantine_format="parquet"``,
    when rows were quarantined) into ``out_dir``.

    ``con`` is the engine the analyses run on (a new DuckDB by default; with Spark the file
    is still read and validated on DuckDB, see :func:`~couponlens.datasets.o2o.load_o2o`);
    ``results.json`` records it under ``engine``. ``progress`` is called with each of
    :data:`REPORT_STEPS` and each analysis step as it ends.
    """
    if quarantine_format not in ("csv", "parquet"):
        raise InputError(f"quarantine format {quarantine_format!r}: expected csv or parquet")
    out = Path(out_dir)
    done = progress if progress is not None else (lambda _step: None)
    quarantine = out / f"quarantine.{quarantine_format}"
    data = load_o2o(path, con, strict=strict, quarantine_path=quarantine)
    done("load and validate")
    analysis = analyse_o2o(data, popular_threshold=popular_threshold, progress=progress)
    done("analyse")
    options = {"popular_threshold": popular_threshold, "strict": strict, "window_days": 15}
    results: dict[str, Any] = {
        "dataset": {
            "path": str(path),
            "layout": data.report.layout,
            "rows_read": data.report.rows_read,
            "rows_kept": data.report.rows_kept,
            "rows_quarantined": data.report.rows_quarantined,
            "blank_lines": data.report.blank_lines,
            "quarantine_reasons": data.report.reasons,
            "warnings": data.report.warnings,
        },
        "options": options,
        "engine": describe(data.con),
        **analysis.to_results_json(),
        "findings": analysis.findings(),
    }
    if not data.report.rows_quarantined:
        quarantine.unlink(missing_ok=True)  # a stale file from an earlier run would mislead
    write_report(build_o2o_report(analysis, data.report, options), out, results)
    done("write report")
    return O2OReportOutcome(
        out_dir=str(out),
        report_path=str(out / "report.html"),
        results_path=str(out / "results.json"),
        quarantine_path=data.report.quarantine_path,
        load=data.report,
        results=results,
    )
