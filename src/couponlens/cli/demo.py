"""``couponlens demo``: every job on generated data, written as one site of reports.

The site is ``OUT/index.html`` (key figures of every job, links to each report) plus one folder
per job. The generated inputs stay in ``OUT/data/`` so a user can rerun any job by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from couponlens.cli._app import app, console
from couponlens.cli.o2o import print_summary, run_with_progress
from couponlens.datasets.o2o_synthetic import generate_o2o
from couponlens.report.site import SiteEntry, write_index

REAL_O2O_ROWS = 1_754_884


def _pct(value: Any) -> str:
    return "—" if value is None else f"{100 * float(value):.1f}%"


def demo_o2o(out: Path, rows: int, seed: int) -> SiteEntry:
    """Generate an O2O log and run the coupon-usage report on it."""
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    log = data / "o2o_train.csv"
    console.print(f"generating {rows:,} rows of O2O log -> {log}")
    generate_o2o(rows, seed, log, data / "o2o_truth.csv")
    console.rule("O2O coupon usage")
    # The real file's threshold of 500 distinct users, scaled to the sample's size.
    threshold = max(1, round(500 * rows / REAL_O2O_ROWS))
    outcome = run_with_progress(log, out / "o2o", threshold, strict=False)
    print_summary(outcome)
    results = outcome.results
    mania = results["shopping_mania"]
    return SiteEntry(
        title="O2O coupon usage",
        link="o2o/report.html",
        question="How are issued coupons used, and what drives store traffic and spending?",
        figures={
            "rows analysed": f"{results['dataset']['rows_kept']:,}",
            "usage rate": _pct(results["usage_rate"]),
            "used within 15 days": _pct(results["usage_rate_15d"]),
            "popular merchants": f"{len(results['popular_merchants']['merchants']):,} (> {threshold} coupon users)",
            "shopping_mania users": f"{mania['users']:,}" if mania["users"] is not None else "—",
        },
    )


@app.command("demo")
def demo_command(
    out: Path = typer.Option(
        Path("demo"), "--out", help="Folder for the sample data and the reports."
    ),
    rows: int = typer.Option(200_000, "--rows", min=1000, help="Rows of generated O2O log."),
    seed: int = typer.Option(7, "--seed", help="Random seed of the generated data."),
) -> None:
    """Generate sample data, run every job on it and write the report site (what `make demo` runs)."""
    entries = [demo_o2o(out, rows, seed)]
    index = write_index(
        out, entries, source="generated sample data", options={"rows": rows, "seed": seed}
    )
    console.rule()
    console.print(f"site: {index}")
