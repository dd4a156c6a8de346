"""The root Typer app and the consoles every sub-app shares."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(
    name="couponlens",
    help="Coupon and promotion analytics: usage, redemption models, targeting, experiments, customers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
console_err = Console(stderr=True)

generate_app = typer.Typer(help="Write synthetic data with planted truths.", no_args_is_help=True)
app.add_typer(generate_app, name="generate")
o2o_app = typer.Typer(
    help="O2O coupon logs (Tianchi layout): analysis, models.", no_args_is_help=True
)
app.add_typer(o2o_app, name="o2o")
