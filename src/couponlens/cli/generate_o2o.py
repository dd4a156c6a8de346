"""``couponlens generate o2o``: a synthetic Tianchi-layout O2O log with a planted truth."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from couponlens.cli._app import console, generate_app
from couponlens.datasets.o2o_synthetic import generate_o2o
from couponlens.errors import InputError
from couponlens.outputs import check_writable, replacing_file


@generate_app.command("o2o")
def generate_o2o_command(
    rows: Annotated[int, typer.Option(help="Data rows (the real train file has 1,754,884).")],
    out: Annotated[Path, typer.Option(help="CSV to write, in the Tianchi layout.")],
    seed: Annotated[
        int, typer.Option(help="Random seed; the same options give the same bytes.")
    ] = 0,
    truth: Annotated[
        Path | None,
        typer.Option(
            help="Also write each receipt's true probability of use within 15 days to this CSV."
        ),
    ] = None,
    layout: Annotated[
        str, typer.Option(help="'train' (7 columns, with Date) or 'test' (6 columns, next month).")
    ] = "train",
    world_rows: Annotated[
        int | None,
        typer.Option(
            help="Rows of the train file whose users, merchants and coupons a test file shares "
            "(give the train file's --rows and --seed)."
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing log or truth file.")] = False,
) -> None:
    """A synthetic O2O coupon log calibrated to the real Tianchi file, with a planted truth."""
    if truth is not None and truth.resolve() == out.resolve():
        raise InputError(f"{truth}: the truth file must differ from the output file")
    check_writable(out, force=force)
    if truth is not None:
        check_writable(truth, force=force)
    # Both files are written under temporary names and renamed only when both are complete.
    with contextlib.ExitStack() as stack:
        work = stack.enter_context(replacing_file(out, force=force))
        work_truth = (
            None if truth is None else stack.enter_context(replacing_file(truth, force=force))
        )
        summary = generate_o2o(rows, seed, work, work_truth, layout=layout, world_rows=world_rows)
    console.print(
        f"wrote {summary.rows:,} rows to {out} in {summary.seconds:.1f} s: "
        f"{summary.receipts:,} coupon receipts, {summary.normal_purchases:,} normal purchases, "
        f"{summary.users:,} users, {summary.merchants:,} merchants, {summary.coupons:,} coupons",
        highlight=False,
        soft_wrap=True,
    )
    if summary.usage_rate is not None:
        console.print(
            f"usage rate {summary.usage_rate:.4f}, within 15 days {summary.usage_rate_15d:.4f}",
            highlight=False,
        )
    if summary.truth_path:
        console.print(
            f"truth (mean probability {summary.mean_truth_probability:.4f}): {truth}",
            highlight=False,
        )
