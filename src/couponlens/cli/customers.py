"""``couponlens customers report`` and ``couponlens generate customers``; the demo's customer page.

Example:
    >>> import tempfile, pathlib
    >>> from couponlens.cli import main
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> main(["generate", "customers", "--out", str(d), "--customers", "200", "--seed", "3"])
    ... # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
    wrote the customer tables and truth.json to ...
    0
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer
from ibis.backends import BaseBackend
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from couponlens.analysis.customers import ANALYSIS_STEPS
from couponlens.cli._app import app, console, generate_app
from couponlens.cli._engine import ENGINE_HELP, SPARK_MASTER_HELP, job_engine
from couponlens.cli._resources import MemoryLimit
from couponlens.datasets.customers_synthetic import generate_customers
from couponlens.errors import InputError
from couponlens.outputs import check_writable, replacing_folder
from couponlens.report.customers import REPORT_STEPS, CustomerReportOutcome, customers_report
from couponlens.report.site import SiteEntry

customers_app = typer.Typer(
    help="Customer behaviour (cinema ticketing layout): demographics, habits, promotions, value.",
    no_args_is_help=True,
)
app.add_typer(customers_app, name="customers")


def run_with_progress(
    data_dir: Path,
    out: Path,
    mapping: Path | None,
    clv: bool,
    force: bool = False,
    con: BaseBackend | None = None,
) -> CustomerReportOutcome:
    """Run :func:`customers_report` with a Rich progress bar over its steps.

    The report folder is written under a temporary name and renamed into ``out`` at the end, so
    a failed or interrupted run leaves a previous report intact; an existing report needs
    ``force``.
    """
    check_writable(out, force=force)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("load", total=len(ANALYSIS_STEPS) + len(REPORT_STEPS))

        def advance(step: str) -> None:
            bar.update(task, advance=1, description=step)

        with replacing_folder(out, force=force) as work:
            outcome = customers_report(
                data_dir, work, mapping=mapping, clv=clv, con=con, progress=advance
            )
    return dataclasses.replace(
        outcome,
        out_dir=str(out),
        report_path=str(out / "report.html"),
        results_path=str(out / "results.json"),
    )


def print_summary(outcome: CustomerReportOutcome) -> None:
    """Print the load counts, the headline findings and where the files went."""
    for load in outcome.load.tables.values():
        console.print(
            f"{load.table}: read {load.rows_read:,}, duplicates dropped {load.duplicates_dropped:,}, "
            f"kept {load.rows_kept:,} ({load.layout})",
            highlight=False,
        )
    if outcome.load.missing_tables:
        console.print(f"missing tables: {', '.join(outcome.load.missing_tables)}", highlight=False)
    console.print(
        f"placeholder birth dates set to unknown: {outcome.load.placeholder_birth_dates:,}"
    )
    for line in outcome.results.get("findings", [])[:4]:
        console.print(f"  {line}", highlight=False)
    console.print(f"report: {outcome.report_path}\nresults: {outcome.results_path}")


@customers_app.command("report")
def report_command(
    data_dir: Path = typer.Argument(
        ...,
        help="Folder with customer.csv, ticket_history.csv, device_detail.csv, ... "
        "(CSV, Parquet, or folders of Parquet parts).",
    ),
    out: Path = typer.Option(..., "--out", help="Folder for report.html and results.json."),
    mapping: Path | None = typer.Option(
        None, "--mapping", help="Column-mapping file (TOML or JSON) for other layouts."
    ),
    clv: bool = typer.Option(
        True, "--clv/--no-clv", help="Fit the BG/NBD + Gamma-Gamma value models."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing report folder."),
    engine: str | None = typer.Option(None, "--engine", help=ENGINE_HELP),
    spark_master: str | None = typer.Option(None, "--spark-master", help=SPARK_MASTER_HELP),
    memory_limit: MemoryLimit = None,
) -> None:
    """Analyse customer behaviour and value; write an HTML report and results.json."""
    check_writable(out, force=force)  # before an engine takes its seconds to start
    con = job_engine(engine, spark_master, memory_limit, "customers report")
    print_summary(run_with_progress(data_dir, out, mapping, clv, force, con))


@generate_app.command("customers")
def generate_command(
    out: Path = typer.Option(..., "--out", help="Folder for the five tables and truth.json."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    customers: int = typer.Option(20_000, "--customers", help="Registered customers (>= 10)."),
    force: bool = typer.Option(
        False, "--force", help="Replace an existing folder (everything in it)."
    ),
) -> None:
    """Write a synthetic cinema ticketing business (2019-2022) with planted truths."""
    if customers < 10:
        raise InputError(f"--customers must be at least 10, got {customers}")
    with replacing_folder(out, force=force) as work:
        generate_customers(work, customers=customers, seed=seed)
    console.print(f"wrote the customer tables and truth.json to {out}")


def demo_customers(out: Path, seed: int, clv: bool = False) -> SiteEntry:
    """Generate a small business into ``out/data/customers`` and write ``out/customers/report.html``.

    Returns the demo index entry with the key figures. About 8 s after the CLI is imported;
    ``clv=True`` adds the BG/NBD + Gamma-Gamma fit (about 14 s more, most of it importing and
    compiling PyMC), so it is off by default to keep the demo within its time budget.

    Example:
        >>> import tempfile, pathlib
        >>> entry = demo_customers(pathlib.Path(tempfile.mkdtemp()), seed=1)  # doctest: +SKIP
        >>> entry.link  # doctest: +SKIP
        'customers/report.html'
    """
    data = generate_customers(Path(out) / "data" / "customers", customers=5_000, seed=seed)
    outcome = customers_report(data, Path(out) / "customers", clv=clv)
    r = outcome.results

    def pct(value: object) -> str:
        return "n/a" if value is None else f"{100 * float(value):.1f}%"  # type: ignore[arg-type]

    channels = {c["channel"]: c for c in r["acquisition"].get("channels", [])}
    figures = {
        "promotion share of tickets": pct(r["promotion"].get("share")),
        "customers active on one day only": pct(r["customers"].get("one_day_share")),
        "return rate, promotion-acquired": pct(channels.get("promotion", {}).get("return_rate")),
        "return rate, organic": pct(channels.get("organic", {}).get("return_rate")),
        "external share of failures": pct(
            next(
                (
                    g["share"]
                    for g in r["failures"].get("by_group", [])
                    if g["error_group"] == "external"
                ),
                None,
            )
        ),
    }
    if r["clv"].get("mean_clv") is not None:
        figures["mean 1-year CLV (VND)"] = f"{r['clv']['mean_clv']:,.0f}"
    return SiteEntry(
        title="Customer behaviour",
        link="customers/report.html",
        question="Who are our customers, when do they buy, who responds to promotions, and what are they worth?",
        figures=figures,
    )


__all__ = ["customers_app", "demo_customers"]
