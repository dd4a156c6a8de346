"""``couponlens experiment report|power`` and ``couponlens generate experiment``.

The ``experiment`` sub-app is :data:`experiment_app`; other modules (uplift, targeting) add
their commands to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from couponlens.cli._app import app, console, generate_app
from couponlens.cli._engine import ENGINE_HELP, SPARK_MASTER_HELP
from couponlens.cli._resources import MemoryLimit
from couponlens.errors import InputError

experiment_app = typer.Typer(
    help="Randomized coupon experiments: checks, effects by segment, design.", no_args_is_help=True
)
app.add_typer(experiment_app, name="experiment")


def _split(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise InputError(
            f"--split {text!r}: expected comma-separated shares such as 0.5,0.5"
        ) from None


@experiment_app.command("report")
def report_command(
    data: Annotated[
        Path,
        typer.Argument(
            help="Experiment table (CSV, Parquet, or a folder of Parquet parts), one row per unit."
        ),
    ],
    treatment: Annotated[str, typer.Option(help="Column naming each unit's arm.")],
    control: Annotated[str, typer.Option(help="The control arm's value in the treatment column.")],
    outcome: Annotated[list[str], typer.Option(help="Outcome column (repeat for several).")],
    out: Annotated[Path, typer.Option(help="Folder for report.html and results.json.")],
    covariate: Annotated[
        list[str] | None, typer.Option(help="Pre-treatment covariate (repeat).")
    ] = None,
    pre_period: Annotated[
        list[str] | None,
        typer.Option("--pre-period", help="Numeric pre-period column for ANCOVA (repeat)."),
    ] = None,
    segment: Annotated[
        list[str] | None,
        typer.Option(
            help="Segment rule NAME=EXPR, e.g. 'A=channel_acq == 3 & num_past_purch <= 2'."
        ),
    ] = None,
    split: Annotated[
        str | None,
        typer.Option(help="Planned shares, control first then other arms sorted, e.g. 0.5,0.5."),
    ] = None,
    primary: Annotated[
        list[str] | None, typer.Option(help="Primary outcome for Holm (default: all).")
    ] = None,
    alpha: Annotated[float, typer.Option(help="1 - confidence level.")] = 0.05,
    bootstrap: Annotated[
        int, typer.Option(help="Bootstrap resamples for amount outcomes (0: skip).")
    ] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap and row samples.")] = 0,
    force: Annotated[bool, typer.Option(help="Replace an existing report folder.")] = False,
    engine: Annotated[str | None, typer.Option("--engine", help=ENGINE_HELP)] = None,
    spark_master: Annotated[
        str | None, typer.Option("--spark-master", help=SPARK_MASTER_HELP)
    ] = None,
    memory_limit: MemoryLimit = None,
) -> None:
    """Analyse a randomized experiment and write report.html + results.json."""
    from couponlens.outputs import check_writable, replacing_folder

    check_writable(out, force=force)
    from couponlens.cli._engine import job_engine
    from couponlens.datasets.experiment import load_experiment
    from couponlens.engine import describe
    from couponlens.experiments.analysis import analyze_experiment
    from couponlens.experiments.report import write_experiment_report

    con = job_engine(engine, spark_master, memory_limit, "experiment report")
    loaded = load_experiment(
        data,
        treatment=treatment,
        control=control,
        outcomes=outcome,
        covariates=covariate or [],
        pre_period=pre_period or [],
        con=con,
    )
    console.print(f"rows read {loaded.n_rows:,}, all kept (a bad value stops the load)")
    analysis = analyze_experiment(
        loaded,
        segment or [],
        split=_split(split),
        primary=primary,
        alpha=alpha,
        bootstrap_resamples=bootstrap,
        seed=seed,
    )
    with replacing_folder(out, force=force) as work:
        write_experiment_report(analysis, work, extra_results={"engine": describe(con)})
    folder = out
    for sentence in analysis.findings[:6]:
        console.print(f"- {sentence}", highlight=False, markup=False, soft_wrap=True)
    console.print(
        f"wrote {folder / 'report.html'} and {folder / 'results.json'}",
        highlight=False,
        soft_wrap=True,
    )


@experiment_app.command("power")
def power_command(
    baseline: Annotated[
        float, typer.Option(help="Control mean (a rate in 0..1 for a binary metric).")
    ],
    mde: Annotated[
        float | None, typer.Option(help="Effect to detect; omit and give --n for the MDE.")
    ] = None,
    n: Annotated[
        int | None, typer.Option("--n", help="Total units available (gives the MDE).")
    ] = None,
    sd: Annotated[
        float | None, typer.Option(help="Standard deviation of a mean metric (omit for binary).")
    ] = None,
    relative: Annotated[
        bool, typer.Option(help="--mde (and the reported MDE) relative to the baseline.")
    ] = False,
    alpha: Annotated[float, typer.Option(help="Two-sided significance level.")] = 0.05,
    power: Annotated[float, typer.Option(help="Power.")] = 0.8,
    treatment_share: Annotated[float, typer.Option(help="Share of units treated.")] = 0.5,
) -> None:
    """Sample size for a planned effect, or the minimum detectable effect for a sample size."""
    from couponlens.experiments.power import minimum_detectable_effect, plan_sample_size

    if (mde is None) == (n is None):
        raise InputError("give exactly one of --mde (for the sample size) or --n (for the MDE)")
    if mde is not None:
        plan = plan_sample_size(
            baseline=baseline,
            mde=mde,
            sd=sd,
            alpha=alpha,
            power=power,
            treatment_share=treatment_share,
            relative=relative,
        )
        console.print(
            f"{plan.metric} metric, baseline {baseline:g}, effect {plan.absolute_mde:g}: "
            f"{plan.n_control:,} control + {plan.n_treatment:,} treated = {plan.n_total:,} units "
            f"(alpha {alpha:g}, power {power:g})",
            highlight=False,
            soft_wrap=True,
        )
    else:
        assert n is not None
        plan = minimum_detectable_effect(
            baseline=baseline,
            n_total=n,
            sd=sd,
            alpha=alpha,
            power=power,
            treatment_share=treatment_share,
            relative=relative,
        )
        if plan.status != "ok":
            console.print(plan.status, highlight=False)
            return
        unit = " (relative)" if relative else ""
        console.print(
            f"{plan.metric} metric, baseline {baseline:g}, {n:,} units: minimum detectable effect "
            f"{plan.mde:.4g}{unit} = {plan.absolute_mde:.4g} absolute (alpha {alpha:g}, power {power:g})",
            highlight=False,
            soft_wrap=True,
        )


@generate_app.command("experiment")
def generate_experiment_command(
    rows: Annotated[int, typer.Option(help="Customers.")],
    out: Annotated[Path, typer.Option(help="Output file (CSV, or Parquet by suffix).")],
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    arms: Annotated[
        str, typer.Option(help="Arm names, control first, comma-separated.")
    ] = "control,coupon",
    force: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
) -> None:
    """A randomized coupon test with planted segment effects and known per-customer CATE."""
    from couponlens.datasets.experiment_synthetic import SEGMENTS, write_experiment
    from couponlens.outputs import check_writable

    names = [a.strip() for a in arms.split(",") if a.strip()]
    if len(names) < 2 or len(set(names)) != len(names):
        raise InputError(f"--arms {arms!r}: expected at least two distinct names, control first")
    if rows < 1:
        raise InputError("--rows must be at least 1")
    check_writable(out, force=force)
    sim = write_experiment(out, rows, seed, arms=names)  # written whole or not at all
    console.print(
        f"wrote {len(sim.frame):,} rows to {out} (arms {', '.join(names)}; true effects in "
        f"{', '.join(sorted(set(sim.cate_columns.values())))}; planted segments: {'; '.join(SEGMENTS)})",
        highlight=False,
        soft_wrap=True,
    )
