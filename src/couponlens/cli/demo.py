"""``couponlens demo``: every job on generated data, written as one site of reports.

The site is ``OUT/index.html`` (key figures of every job, links to each report) plus one folder
per job. The generated inputs stay in ``OUT/data/`` so a user can rerun any job by hand.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import typer

from couponlens.cli._app import app, console
from couponlens.cli.o2o import print_summary, run_with_progress
from couponlens.datasets.o2o_synthetic import generate_o2o
from couponlens.errors import CouponlensError
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
    outcome = run_with_progress(log, out / "o2o", threshold, strict=False, force=True)
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


def _run(args: list[str]) -> None:
    """Run one CLI command exactly as a user would; stop the demo if it fails."""
    from couponlens.cli import main

    console.print(f"$ couponlens {shlex.join(args)}", style="dim", highlight=False, soft_wrap=True)
    code = main(args)
    if code != 0:
        raise CouponlensError(f"demo step failed (exit {code}): couponlens {' '.join(args)}")


def _auc(value: Any) -> str:
    return "—" if value is None else f"{float(value):.3f}"


def demo_o2o_model(out: Path, rows: int, seed: int) -> SiteEntry:
    """Train a redemption model on the generated log, score next month's receipts, target 5%."""
    data = out / "data"
    history = data / "o2o_train.csv"
    candidates = data / "o2o_next_month.csv"
    test_rows = max(1000, rows // 12)
    console.rule("O2O redemption model and targeting")
    generate_o2o(test_rows, seed, candidates, layout="test", world_rows=rows)
    model = out / "models" / "o2o"
    budget = max(10, test_rows // 20)
    _run(["o2o", "train", str(history), "--model", str(model), "--report", str(out / "model"),
          "--seed", str(seed), "--force"])  # fmt: skip
    scores = out / "model" / "scores.csv"
    _run(["o2o", "predict", str(model), str(candidates), "--history", str(history),
          "--out", str(scores), "--force"])  # fmt: skip
    recipients = out / "model" / "recipients.csv"
    _run(["target", str(model), str(candidates), "--history", str(history),
          "--out", str(recipients), "--budget", str(budget), "--per-user-cap", "1",
          "--force"])  # fmt: skip
    manifest = json.loads((model / "manifest.json").read_text())
    validation = manifest["metrics"]["validation"]
    targeting = json.loads(recipients.with_name(recipients.name + ".json").read_text())["targeting"]
    lift = targeting.get("lift_over_random")
    return SiteEntry(
        title="O2O redemption model and targeting",
        link="model/report.html",
        question="Who will use which coupon within 15 days, and whom should the next coupons go to?",
        figures={
            "mean per-coupon AUC (validation)": _auc(validation["mean_coupon_auc"]),
            "overall AUC (validation)": _auc(validation["auc"]),
            "model kept": str(manifest["chosen"]),
            f"expected redemptions, top {budget:,} of {test_rows:,}": (
                f"{targeting['expected_redemptions']:,.1f}"
            ),
            "vs sending at random": "—" if lift is None else f"{lift:.1f}x",
        },
        notes=[
            "Leakage features off: every feature comes from history before the scored receipts.",
        ],
        files={
            f"scores of the {test_rows:,} next-month receipts ({scores.name})": f"model/{scores.name}",
            f"the {targeting['sent']:,} chosen recipients ({recipients.name})": (
                f"model/{recipients.name}"
            ),
        },
    )


def demo_experiment(out: Path, rows: int, seed: int) -> SiteEntry:
    """Generate a randomized coupon test with planted segment effects and analyse it."""
    from couponlens.datasets.experiment_synthetic import EXTRA_SEGMENTS, SEGMENTS

    console.rule("Coupon experiment")
    table = out / "data" / "experiment.csv"
    _run(["generate", "experiment", "--rows", str(rows), "--seed", str(seed), "--out", str(table),
          "--force"])  # fmt: skip
    segments = [arg for rule in (*SEGMENTS, *EXTRA_SEGMENTS) for arg in ("--segment", rule)]
    _run(["experiment", "report", str(table), "--treatment", "treatment", "--control", "control",
          "--outcome", "trans_after", "--outcome", "revenue_after", "--outcome", "converted",
          "--covariate", "channel_acq", "--covariate", "num_past_purch",
          "--covariate", "spent_last_purchase", "--covariate", "gender",
          "--pre-period", "trans_before", "--pre-period", "revenue_before",
          *segments, "--split", "0.5,0.5", "--bootstrap", "200", "--seed", str(seed),
          "--out", str(out / "experiment"), "--force"])  # fmt: skip
    results = json.loads((out / "experiment" / "results.json").read_text())
    everyone = [
        e for e in results["effects"] if e["segment"] == "all" and e["outcome"] == "trans_after"
    ]
    figures = {
        "customers": f"{sum(a['n'] for a in results['arms']):,}",
        "sample-ratio check p": f"{results['srm']['p']:.3f}",
    }
    if everyone:
        e = everyone[0]
        figures["transactions per customer, coupon - control"] = (
            f"{e['diff']:+.3f} (95% CI {e['ci_low']:+.3f} to {e['ci_high']:+.3f})"
        )
    return SiteEntry(
        title="Coupon experiment",
        link="experiment/report.html",
        question="Did the coupon work, for whom, and which segment should get it next?",
        figures=figures,
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
    from couponlens.cli.amexpert import demo_amexpert
    from couponlens.cli.customers import demo_customers
    from couponlens.cli.experiment_uplift import demo_uplift

    entries = [demo_o2o(out, rows, seed), demo_o2o_model(out, rows, seed)]
    console.rule("AmExpert redemption model")
    entries.append(demo_amexpert(out, seed))
    entries.append(demo_experiment(out, 20_000, seed))
    console.rule("Uplift and targeting")
    entries.append(demo_uplift(out, seed))
    console.rule("Customer behaviour")
    entries.append(demo_customers(out, seed))
    index = write_index(
        out, entries, source="generated sample data", options={"rows": rows, "seed": seed}
    )
    console.rule()
    console.print(f"site: {index}")
