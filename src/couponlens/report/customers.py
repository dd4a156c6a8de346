"""The customer-behaviour job: load, analyse, and write ``report.html`` + ``results.json``.

Example:
    >>> import tempfile, pathlib
    >>> from couponlens.datasets.customers_synthetic import generate_customers
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = generate_customers(d / "data", customers=300, seed=1)
    >>> outcome = customers_report(d / "data", d / "report", clv=False)
    >>> sorted(p.name for p in (d / "report").iterdir())
    ['report.html', 'results.json']
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
from couponlens.analysis.customers import CustomerAnalysis, analyse_customers
from couponlens.analysis.customers_activity import (
    Failures,
    OSShares,
    PaymentMix,
    PlatformShares,
    PromotionUse,
    Spikes,
    TimePatterns,
)
from couponlens.analysis.customers_behaviour import RFM, Acquisition, Cohorts, CustomerSummary
from couponlens.analysis.customers_profile import Demographics
from couponlens.analysis.customers_value import CLV
from couponlens.datasets.customers import CustomerLoadReport, Mapping, load_customer_data
from couponlens.engine import describe
from couponlens.report.html import Report, Section, write_report

#: Steps reported to a progress callback besides the analysis steps, in order.
REPORT_STEPS: tuple[str, ...] = ("load", "analyse", "write report")


@dataclass(frozen=True, repr=False)
class CustomerReportOutcome(Result):
    """Where the report went, the load report and the ``results.json`` content."""

    out_dir: str
    report_path: str
    results_path: str
    load: CustomerLoadReport
    results: dict[str, Any]


def _figure(title: str, x: str, y: str, height: int = 380) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=height)
    return figure


def _errors(frame: pd.DataFrame, value: str, low: str, high: str) -> dict[str, Any]:
    return {
        "type": "data",
        "symmetric": False,
        "array": (frame[high] - frame[value]).tolist(),
        "arrayminus": (frame[value] - frame[low]).tolist(),
    }


def _status(result: object) -> str:
    return str(getattr(result, "status", "ok"))


def _unavailable(title: str, result: object) -> Section | None:
    status = _status(result)
    return None if status == "ok" else Section(title, notes=[status])


def _data_section(load: CustomerLoadReport) -> Section:
    rows = [
        {
            "table": t.table, "source": Path(t.source).name, "layout": t.layout,
            "rows read": t.rows_read, "duplicates dropped": t.duplicates_dropped,
            "rows kept": t.rows_kept, "notes": "; ".join(t.notes),
        }
        for t in load.tables.values()
    ]  # fmt: skip
    notes = list(load.notes)
    if load.missing_tables:
        notes.append(f"Tables not found: {', '.join(load.missing_tables)}.")
    findings = [
        f"Loaded {len(load.tables)} table(s) from {load.data_dir} (mapping: {load.mapping}); "
        f"{load.placeholder_birth_dates:,} placeholder birth dates set to unknown."
    ]
    return Section("Data", findings=findings, tables=[pd.DataFrame(rows)],
                   table_captions=["Tables loaded"], notes=notes)  # fmt: skip


def _demographics_section(d: Demographics) -> Section:
    section = Section(
        "Demographics", intro=f"Ages on {d.as_of}; unknown birth dates are their own bar."
    )
    for frame, key, title in (
        (d.gender, "gender", "Customers by gender"),
        (d.age_buckets, "age", "Customers by age"),
        (d.generations, "generation", "Customers by generation"),
    ):
        figure = _figure(title, key, "customers")
        figure.add_bar(x=frame[key], y=frame["customers"],
                       text=[f"{s:.1%}" for s in frame["share"].fillna(0)], textposition="outside")  # fmt: skip
        section.charts.append(figure)
        section.tables.append(frame)
        section.table_captions.append(title)
    return section


def _time_section(t: TimePatterns, s: Spikes | object) -> Section:
    section = Section(
        "Time patterns",
        intro="Successful tickets. Months without any ticket (closures) are gaps, not zeros.",
    )
    monthly = _figure("Tickets by month", "month", "tickets")
    monthly.add_scatter(x=t.monthly["month"], y=t.monthly["tickets"], mode="lines+markers",
                        connectgaps=False, name="tickets")  # fmt: skip
    section.charts.append(monthly)
    week = _figure("Tickets by day of week", "day", "tickets")
    week.add_bar(x=t.weekday["day"], y=t.weekday["tickets"])
    section.charts.append(week)
    hours = _figure("Share of tickets by hour", "hour", "share of the day type's tickets")
    for kind in ("weekday", "weekend"):
        part = t.hourly[t.hourly.day_type == kind]
        hours.add_scatter(x=part["hour"], y=part["share"], mode="lines+markers", name=kind)
    hours.update_yaxes(tickformat=".0%")
    section.charts.append(hours)
    if t.missing_months:
        section.notes.append(f"Months with no tickets: {', '.join(t.missing_months)}.")
    if isinstance(s, Spikes) and not s.daily.empty:
        daily = _figure(
            f"Daily tickets and seasonal baseline (spikes: >= {s.ratio:g}x)", "day", "tickets", 420
        )
        daily.add_scatter(x=s.daily["date"], y=s.daily["tickets"], mode="lines", name="tickets",
                          connectgaps=False, line={"width": 1})  # fmt: skip
        daily.add_scatter(x=s.daily["date"], y=s.daily["baseline"], mode="lines", name="baseline",
                          line={"dash": "dot"})  # fmt: skip
        spike = s.daily[s.daily["spike"]]
        daily.add_scatter(x=spike["date"], y=spike["tickets"], mode="markers", name="spike day",
                          marker={"color": "crimson", "size": 7})  # fmt: skip
        section.charts.append(daily)
        if not s.episodes.empty:
            episodes = s.episodes.copy()
            episodes["top_movies"] = [
                ", ".join(f"{m['movie']} ({m['tickets']:,})" for m in movies)
                for movies in episodes["top_movies"]
            ]
            section.tables.append(episodes)
            section.table_captions.append("Spike episodes and their top movies")
    return section


def _platform_section(p: PlatformShares, o: OSShares | object) -> Section:
    section = Section("Platform and operating system",
                      intro="The OS is derived from the device model; untracked devices are 'unknown'.")  # fmt: skip
    for frame, key, count, title in (
        (p.devices, "platform", "devices", "Devices by platform (device table)"),
        (p.tickets, "platform", "tickets", "Successful tickets by platform"),
    ):
        if frame.empty:
            continue
        figure = _figure(title, key, count)
        figure.add_bar(x=frame[key], y=frame[count], text=[f"{s:.1%}" for s in frame["share"]],
                       textposition="outside")  # fmt: skip
        section.charts.append(figure)
        section.tables.append(frame)
        section.table_captions.append(title)
    if not p.website_monthly.empty:
        web = _figure("Website share of tickets by month", "month", "website share")
        web.add_scatter(
            x=p.website_monthly["month"], y=p.website_monthly["website_share"], mode="lines+markers"
        )
        web.update_yaxes(tickformat=".0%")
        section.charts.append(web)
    if isinstance(o, OSShares):
        for frame, count in ((o.devices, "devices"), (o.tickets, "tickets")):
            if frame.empty:
                continue
            figure = go.Figure(go.Pie(labels=frame["os"], values=frame[count], hole=0.4))
            figure.update_layout(title=f"Operating systems ({count})", height=380)
            section.charts.append(figure)
            section.tables.append(frame)
            section.table_captions.append(f"Operating systems by {count}")
    return section


def _payment_section(p: PaymentMix) -> Section:
    section = Section("Payment methods")
    figure = _figure("Successful tickets by payment method", "method", "tickets")
    figure.add_bar(x=p.methods["payment_method"], y=p.methods["tickets"])
    section.charts.append(figure)
    mix = _figure("Monthly payment mix", "month", "share of the month's tickets")
    for method, part in p.monthly.groupby("payment_method"):
        mix.add_scatter(
            x=part["month"], y=part["share"], mode="lines", stackgroup="one", name=str(method)
        )
    mix.update_yaxes(tickformat=".0%")
    section.charts.append(mix)
    section.tables.append(p.methods)
    section.table_captions.append("Payment methods")
    trend = pd.DataFrame({"payment_method": list(p.trend_per_year),
                          "share change per year": list(p.trend_per_year.values())})  # fmt: skip
    section.tables.append(trend)
    section.table_captions.append("Linear trend of each method's monthly share")
    return section


def _promotion_section(p: PromotionUse) -> Section:
    section = Section(
        "Promotions", intro="Share of successful tickets that used a campaign, and which types."
    )
    share = _figure("Promotion share of tickets by month", "month", "share")
    share.add_scatter(x=p.monthly_share["month"], y=p.monthly_share["share"], mode="lines+markers")
    share.update_yaxes(tickformat=".0%")
    section.charts.append(share)
    if not p.yearly.empty:
        mix = _figure("Promotion type mix by year", "year", "share of promoted tickets")
        for kind, part in p.yearly.groupby("campaign_type"):
            mix.add_bar(x=part["year"].astype(str), y=part["share"], name=str(kind))
        mix.update_layout(barmode="stack")
        mix.update_yaxes(tickformat=".0%")
        section.charts.append(mix)
        section.tables.append(p.types)
        section.table_captions.append("Promoted tickets by campaign type")
    r = p.responsiveness
    if not r.empty:
        for dimension, part in r.groupby("dimension", sort=True):
            part = part.dropna(subset=["ci_low", "ci_high"])
            if part.empty:
                continue
            figure = _figure(
                f"Promotion rate by {dimension} (95% CI, customer-clustered)",
                dimension,
                "promotion rate",
            )
            figure.add_bar(x=part["segment"].astype(str), y=part["rate"],
                           error_y=_errors(part, "rate", "ci_low", "ci_high"),
                           customdata=part["customers"], hovertemplate="%{x}: %{y:.1%} (%{customdata:,} customers)")  # fmt: skip
            figure.update_yaxes(tickformat=".0%")
            section.charts.append(figure)
        section.tables.append(r)
        section.table_captions.append("Promotion responsiveness by segment")
    return section


def _customers_section(c: CustomerSummary) -> Section:
    section = Section(
        "Customers", intro="The customer-level table: one row per customer with a ticket."
    )
    days = _figure("Buyers by active days", "active days", "buyers")
    days.add_bar(x=c.active_days["label"], y=c.active_days["customers"],
                 text=[f"{s:.1%}" for s in c.active_days["share"].fillna(0)], textposition="outside")  # fmt: skip
    section.charts.append(days)
    bins = _figure("Buyers by promotion rate", "share of their tickets with a promotion", "buyers")
    bins.add_bar(x=c.promotion_rate_bins["promotion_rate"], y=c.promotion_rate_bins["customers"])
    section.charts.append(bins)
    section.tables.append(c.top)
    section.table_captions.append("The 20 customers with the most successful tickets")
    return section


def _failures_section(f: Failures) -> Section:
    section = Section("Payment failures")
    if not f.by_group.empty:
        figure = _figure(
            "Failures by error group (Wilson 95% CI)", "error group", "share of failures"
        )
        figure.add_bar(x=f.by_group["error_group"], y=f.by_group["share"],
                       error_y=_errors(f.by_group, "share", "ci_low", "ci_high"))  # fmt: skip
        figure.update_yaxes(tickformat=".0%")
        section.charts.append(figure)
        monthly = _figure(
            "Failure rate of attempts by month and error group", "month", "failure rate"
        )
        for group, part in f.monthly.groupby("error_group"):
            monthly.add_scatter(
                x=part["month"], y=part["failure_rate"], mode="lines", name=str(group)
            )
        monthly.update_yaxes(tickformat=".1%")
        section.charts.append(monthly)
        by_status = _figure("Failures by month and status", "month", "failures")
        for status_id, part in f.monthly_by_status.groupby("status_id"):
            by_status.add_bar(x=part["month"], y=part["failures"], name=f"status {status_id}")
        by_status.update_layout(barmode="stack")
        section.charts.append(by_status)
        section.tables += [f.by_group, f.by_status]
        section.table_captions += ["Failures by error group", "Failures by status"]
    return section


def _cohort_section(c: Cohorts) -> Section:
    section = Section("Cohort retention", intro="Cohort = month of the first successful ticket.")
    if c.table.empty:
        return section
    grid = c.table.pivot(index="cohort", columns="offset", values="retention").sort_index()
    heat = go.Figure(go.Heatmap(z=grid.to_numpy(), x=[int(x) for x in grid.columns], y=list(grid.index),
                                colorscale="Blues", zmin=0, zmax=float(grid.drop(columns=0, errors="ignore").max().max() or 1),
                                hovertemplate="cohort %{y}, month +%{x}: %{z:.1%}<extra></extra>"))  # fmt: skip
    heat.update_layout(title="Monthly cohort retention", xaxis_title="months since first ticket",
                       yaxis_title="cohort", height=max(420, 14 * len(grid)),
                       yaxis={"type": "category", "autorange": "reversed"})  # fmt: skip
    section.charts.append(heat)
    section.tables.append(pd.DataFrame([c.mean_retention]))
    section.table_captions.append("Cohort-size-weighted retention")
    return section


def _acquisition_section(a: Acquisition) -> Section:
    section = Section(
        "Acquisition", intro="New customers whose first day used a promotion vs organic ones."
    )
    figure = _figure(
        "Share of new customers who came back (Wilson 95% CI)", "acquired", "return rate"
    )
    ch = a.channels.dropna(subset=["ci_low"])
    figure.add_bar(
        x=ch["channel"],
        y=ch["return_rate"],
        error_y=_errors(ch, "return_rate", "ci_low", "ci_high"),
    )
    figure.update_yaxes(tickformat=".0%")
    section.charts.append(figure)
    monthly = _figure("New customers by month", "month", "new customers")
    for channel, part in a.monthly.groupby("channel"):
        monthly.add_bar(x=part["month"], y=part["customers"], name=str(channel))
    monthly.update_layout(barmode="stack")
    section.charts.append(monthly)
    section.tables.append(a.channels)
    section.table_captions.append("New customers by channel")
    return section


def _rfm_section(r: RFM) -> Section:
    section = Section("RFM segments", intro=f"Recency on {r.as_of}; scores 1-5 by percent rank.")
    seg = r.segments
    figure = _figure("Buyers and revenue by RFM segment", "segment", "share")
    figure.add_bar(x=seg["segment"], y=seg["share"], name="buyers")
    figure.add_bar(x=seg["segment"], y=seg["monetary_share"], name="revenue")
    figure.update_yaxes(tickformat=".0%")
    section.charts.append(figure)
    if not r.grid.empty:
        grid = r.grid.pivot(index="r", columns="f", values="customers").fillna(0)
        heat = go.Figure(go.Heatmap(z=grid.to_numpy(), x=[f"F{int(c)}" for c in grid.columns],
                                    y=[f"R{int(i)}" for i in grid.index], colorscale="Greens"))  # fmt: skip
        heat.update_layout(title="Buyers by R and F score", height=380)
        section.charts.append(heat)
    section.tables.append(seg)
    section.table_captions.append("RFM segments")
    return section


def _clv_section(c: CLV) -> Section:
    section = Section("Customer lifetime value",
                      intro=f"BG/NBD + Gamma-Gamma ({c.library}), horizon {c.horizon_days} days, undiscounted.",
                      notes=list(c.notes))  # fmt: skip
    if not c.by_segment.empty:
        figure = _figure("Mean CLV by RFM segment", "segment", "mean CLV")
        figure.add_bar(x=c.by_segment["segment"], y=c.by_segment["mean_clv"])
        section.charts.append(figure)
        section.tables.append(c.by_segment)
        section.table_captions.append("CLV by RFM segment")
    deciles = _figure("CLV deciles", "quantile", "CLV")
    deciles.add_bar(x=[f"{q:.0%}" for q in c.deciles["quantile"]], y=c.deciles["clv"])
    section.charts.append(deciles)
    params = pd.DataFrame([{**{f"BG/NBD {k}": v for k, v in c.bgnbd.items()},
                            **{f"Gamma-Gamma {k}": v for k, v in c.gamma_gamma.items()}}])  # fmt: skip
    section.tables += [params, c.top]
    section.table_captions += ["Fitted parameters (days)", "The 20 customers of highest CLV"]
    return section


def build_customer_report(
    analysis: CustomerAnalysis, load: CustomerLoadReport, options: dict[str, Any]
) -> Report:
    """Assemble the report page from an analysis and its load report."""
    report = Report(
        title="Customer behaviour",
        subtitle="Who the customers are, when and how they buy, how they respond to promotions, what they are worth.",
        source=load.data_dir,
        options=options,
    )
    report.add(Section("Findings", findings=analysis.findings()))
    report.add(_data_section(load))
    a = analysis
    parts: list[tuple[str, object, Callable[[], Section]]] = [
        ("Demographics", a.demographics, lambda: _demographics_section(a.demographics)),  # type: ignore[arg-type]
        ("Time patterns", a.time, lambda: _time_section(a.time, a.spikes)),  # type: ignore[arg-type]
        ("Platform and operating system", a.platform, lambda: _platform_section(a.platform, a.os)),  # type: ignore[arg-type]
        ("Payment methods", a.payment, lambda: _payment_section(a.payment)),  # type: ignore[arg-type]
        ("Promotions", a.promotion, lambda: _promotion_section(a.promotion)),  # type: ignore[arg-type]
        ("Customers", a.customers, lambda: _customers_section(a.customers)),  # type: ignore[arg-type]
        ("Payment failures", a.failures, lambda: _failures_section(a.failures)),  # type: ignore[arg-type]
        ("Cohort retention", a.cohorts, lambda: _cohort_section(a.cohorts)),  # type: ignore[arg-type]
        ("Acquisition", a.acquisition, lambda: _acquisition_section(a.acquisition)),  # type: ignore[arg-type]
        ("RFM segments", a.rfm, lambda: _rfm_section(a.rfm)),  # type: ignore[arg-type]
        ("Customer lifetime value", a.clv, lambda: _clv_section(a.clv)),  # type: ignore[arg-type]
    ]
    for title, result, build in parts:
        report.add(_unavailable(title, result) or build())
    return report


def customers_report(
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    mapping: str | Path | Mapping | None = None,
    clv: bool = True,
    con: BaseBackend | None = None,
    progress: Callable[[str], object] | None = None,
) -> CustomerReportOutcome:
    """Load the tables in ``data_dir``, run every customer analysis and write ``report.html`` and
    ``results.json`` into ``out_dir``.

    ``results.json`` has the keys ``dataset, options, engine, demographics, time, platform, os,
    payment, promotion, customers, failures, cohorts, acquisition, rfm, clv, findings``.
    ``con`` is the engine the analyses run on (the tables are read on DuckDB and handed to it
    when it is Spark).
    """
    done = progress if progress is not None else (lambda _step: None)
    data = load_customer_data(data_dir, mapping, con)
    done("load")
    analysis = analyse_customers(data, clv=clv, progress=progress)
    done("analyse")
    options = {"mapping": data.report.mapping, "clv": clv, "as_of": analysis.as_of}
    results: dict[str, Any] = {
        "dataset": data.report.to_dict(),
        "options": options,
        "engine": describe(data.con),
        **analysis.to_results_json(),
        "findings": analysis.findings(),
    }
    out = Path(out_dir)
    write_report(build_customer_report(analysis, data.report, options), out, results)
    done("write report")
    return CustomerReportOutcome(
        out_dir=str(out),
        report_path=str(out / "report.html"),
        results_path=str(out / "results.json"),
        load=data.report,
        results=results,
    )
