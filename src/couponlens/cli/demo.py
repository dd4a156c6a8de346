"""``couponlens demo``: every job on generated data, written as one folder of reports."""

from __future__ import annotations

from pathlib import Path

import typer

from couponlens.cli._app import app, console
from couponlens.cli.o2o import print_summary, run_with_progress
from couponlens.datasets.o2o_synthetic import generate_o2o


@app.command("demo")
def demo_command(
    out: Path = typer.Option(Path("demo"), "--out", help="Folder for the sample data and the reports."),
    rows: int = typer.Option(200_000, "--rows", min=1000, help="Rows of generated O2O log."),
    seed: int = typer.Option(7, "--seed", help="Random seed of the generated data."),
) -> None:
    """Generate sample data and run the reports on it (what `make demo` runs)."""
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    log = data / "o2o_train.csv"
    console.print(f"generating {rows:,} rows of O2O log -> {log}")
    generate_o2o(rows, seed, log, data / "o2o_truth.csv")
    console.rule("O2O coupon usage")
    print_summary(run_with_progress(log, out / "o2o", 500 * rows // 1_754_884 or 1, strict=False))
