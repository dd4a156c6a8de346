"""``couponlens o2o report``: the coupon-usage analysis of a Tianchi-layout log."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer
from ibis.backends import BaseBackend
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from couponlens.analysis.o2o import ANALYSIS_STEPS
from couponlens.cli._app import console, o2o_app
from couponlens.cli._engine import ENGINE_HELP, SPARK_MASTER_HELP, job_engine
from couponlens.cli._resources import MemoryLimit
from couponlens.errors import InputError
from couponlens.outputs import check_writable, replacing_folder
from couponlens.report.o2o import REPORT_STEPS, O2OReportOutcome, o2o_report


def run_with_progress(
    path: Path,
    out: Path,
    popular_threshold: int,
    strict: bool,
    force: bool = False,
    *,
    con: BaseBackend | None = None,
    quarantine_format: str = "csv",
) -> O2OReportOutcome:
    """Run :func:`o2o_report` with a Rich progress bar over its steps.

    The report folder is written under a temporary name and renamed into ``out`` at the end, so
    a failed run leaves a previous report intact; an existing report needs ``force``.
    """
    steps = len(ANALYSIS_STEPS) + len(REPORT_STEPS)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("load and validate", total=steps)

        def advance(step: str) -> None:
            bar.update(task, advance=1, description=step)

        with replacing_folder(out, force=force) as work:
            outcome = o2o_report(
                path,
                work,
                popular_threshold=popular_threshold,
                strict=strict,
                con=con,
                progress=advance,
                quarantine_format=quarantine_format,
            )
    quarantine = outcome.quarantine_path
    return dataclasses.replace(
        outcome,
        out_dir=str(out),
        report_path=str(out / "report.html"),
        results_path=str(out / "results.json"),
        quarantine_path=None if quarantine is None else str(out / Path(quarantine).name),
    )


def print_summary(outcome: O2OReportOutcome) -> None:
    """Print the load counts, the headline figures and where the files went."""
    load = outcome.load
    console.print(
        f"rows read {load.rows_read:,} = kept {load.rows_kept:,} + quarantined {load.rows_quarantined:,}"
    )
    for reason, count in load.reasons.items():
        console.print(f"  quarantined {count:,}: {reason}", highlight=False)
    if outcome.quarantine_path:
        console.print(f"  quarantined rows: {outcome.quarantine_path}")
    for warning in load.warnings:
        console.print(f"  warning: {warning}", highlight=False)
    results = outcome.results
    if results.get("usage_rate") is not None:
        console.print(
            f"usage rate {results['usage_rate']:.4f}, within 15 days {results['usage_rate_15d']:.4f}"
        )
    console.print(f"report: {outcome.report_path}\nresults: {outcome.results_path}")


@o2o_app.command("report")
def report_command(
    file: Path = typer.Argument(
        ..., help="O2O log in the Tianchi layout (CSV, Parquet, or a folder of Parquet parts)."
    ),
    out: Path = typer.Option(
        ..., "--out", help="Folder for report.html, results.json, quarantine.csv."
    ),
    popular_threshold: int = typer.Option(
        500,
        "--popular-threshold",
        min=0,
        help="A popular merchant has more distinct coupon users than this.",
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Stop at the first bad row instead of quarantining it."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing report folder."),
    quarantine_format: str = typer.Option(
        "csv", "--quarantine-format", help="Quarantined rows as csv or parquet (for big files)."
    ),
    engine: str | None = typer.Option(None, "--engine", help=ENGINE_HELP),
    spark_master: str | None = typer.Option(None, "--spark-master", help=SPARK_MASTER_HELP),
    memory_limit: MemoryLimit = None,
) -> None:
    """Analyse coupon usage, store traffic and spending habits; write an HTML report."""
    if quarantine_format not in ("csv", "parquet"):
        raise InputError(f"--quarantine-format {quarantine_format!r}: expected csv or parquet")
    check_writable(out, force=force)  # before Spark takes its seconds to start
    con = job_engine(engine, spark_master, memory_limit, "o2o report")
    outcome = run_with_progress(
        file,
        out,
        popular_threshold,
        strict,
        force,
        con=con,
        quarantine_format=quarantine_format,
    )
    print_summary(outcome)
