"""``couponlens o2o features``: the labelled feature table of a history's training windows."""

from __future__ import annotations

from pathlib import Path

import typer

from couponlens.cli._app import console, o2o_app
from couponlens.cli._engine import ENGINE_HELP, SPARK_MASTER_HELP, job_engine
from couponlens.cli._resources import MemoryLimit
from couponlens.features.o2o_table import o2o_feature_table
from couponlens.features.windows import DEFAULT_LABEL_DAYS, DEFAULT_PAIRS
from couponlens.outputs import check_writable


@o2o_app.command("features")
def features_command(
    history: Path = typer.Argument(
        ..., help="O2O log in the Tianchi train layout (CSV, Parquet, or a folder of parts)."
    ),
    out: Path = typer.Option(
        ..., "--out", help="The feature table: Parquet for a .parquet name, else CSV."
    ),
    pairs: int = typer.Option(DEFAULT_PAIRS, "--pairs", min=1, help="(feature, label) windows."),
    label_days: int = typer.Option(
        DEFAULT_LABEL_DAYS, "--label-days", min=0, help="Label: used within this many days."
    ),
    leakage_features: bool = typer.Option(
        False, "--leakage-features", help="Add the label-window features (competition mode)."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing output."),
    engine: str | None = typer.Option(None, "--engine", help=ENGINE_HELP),
    spark_master: str | None = typer.Option(None, "--spark-master", help=SPARK_MASTER_HELP),
    memory_limit: MemoryLimit = None,
) -> None:
    """Build the point-in-time features of every label window on the engine and write them."""
    check_writable(out, force=force)
    outcome = o2o_feature_table(
        history,
        out,
        con=job_engine(engine, spark_master, memory_limit, "o2o features"),
        pairs=pairs,
        label_days=label_days,
        leakage=leakage_features,
        force=force,
    )
    for pair in outcome.plan.pairs:
        console.print(
            f"window {pair.name}: features {pair.feature_start}..{pair.feature_end} -> "
            f"labels {pair.label_start}..{pair.label_end}",
            highlight=False,
        )
    console.print(
        f"{outcome.rows:,} labelled receipts x {outcome.columns} columns ({outcome.format}, "
        f"built on {outcome.engine['engine']}): {outcome.path}",
        highlight=False,
    )
