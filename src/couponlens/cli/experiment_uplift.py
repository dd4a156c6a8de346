"""``couponlens experiment uplift|target|allocate``, and the uplift part of the demo.

* ``uplift``: fit T-, X- and DR-learners with cross-fitting, compare them on held-out Qini,
  save the chosen one as a checksummed model folder and write its report.
* ``target``: score candidates with a saved model, decide whom to send (net value positive,
  within a budget), and value that policy against treat-all and treat-none.
* ``allocate``: share several coupon options among segments under an expected-cost budget (LP).

The commands only parse options and print; the work is in :mod:`couponlens.experiments` and
:mod:`couponlens.targeting`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer

from couponlens.cli._app import console
from couponlens.cli.experiment import experiment_app
from couponlens.errors import InputError
from couponlens.experiments.policy import PolicyComparison
from couponlens.report.site import SiteEntry


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


def _fractions(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(
            f"--k {text!r}: expected comma-separated fractions such as 0.1,0.3"
        ) from None
    if not values or any(not 0 < v <= 1 for v in values):
        raise InputError(f"--k {text!r}: every fraction must be in (0, 1]")
    return values


def _oracle(items: list[str]) -> dict[str, str]:
    """``--oracle COL`` (the one treated arm: key "") or ``--oracle ARM=COL`` as arm -> column."""
    mapping: dict[str, str] = {}
    for item in items:
        arm, _, column = item.rpartition("=")
        if not column:
            raise InputError(f"--oracle {item!r}: expected COLUMN or ARM=COLUMN")
        mapping[arm] = column
    return mapping


def _print_policy(policy: PolicyComparison, where: str) -> None:
    _say(f"policy value per customer ({where}; value {policy.value:g} per unit of outcome):")
    for estimator in ("ipw", "dr"):
        rows = [e for e in policy.estimates if e.estimator == estimator]
        if not rows:
            continue
        for e in rows:
            _say(
                f"  {estimator.upper():<3} {e.policy:<22} net {e.net_value_per_customer:10.4f} "
                f"[{e.net_ci_low:.4f}, {e.net_ci_high:.4f}]  sent {100 * e.share_sent:5.1f}%"
            )
        for d in policy.differences:
            if d.estimator == estimator:
                _say(
                    f"  {estimator.upper():<3} targeting - {d.baseline:<10} {d.net_difference:+.4f} "
                    f"[{d.ci_low:+.4f}, {d.ci_high:+.4f}]  p = {d.p:.3g}"
                )


@experiment_app.command("uplift")
def uplift_command(
    data: Annotated[Path, typer.Argument(help="Experiment table (CSV or Parquet).")],
    treatment: Annotated[str, typer.Option(help="Column naming each unit's arm.")],
    control: Annotated[str, typer.Option(help="The control arm's value.")],
    outcome: Annotated[str, typer.Option(help="Outcome column (binary, count or amount).")],
    feature: Annotated[list[str], typer.Option(help="Pre-treatment feature column (repeat).")],
    model: Annotated[Path, typer.Option(help="Folder for the model (LightGBM text + manifest).")],
    report: Annotated[
        Path | None, typer.Option(help="Folder for report.html + results.json (default: --model).")
    ] = None,
    learner: Annotated[
        list[str] | None, typer.Option(help="Learner to compare: t, x or dr (repeat; default all).")
    ] = None,
    arm: Annotated[
        list[str] | None, typer.Option(help="Treated arm to model (repeat; default every arm).")
    ] = None,
    folds: Annotated[int, typer.Option(help="Cross-fitting folds.")] = 5,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for the CIs.")] = 200,
    k: Annotated[str, typer.Option("--k", help="Fractions for uplift at k%.")] = "0.1,0.2,0.3,0.5",
    rounds: Annotated[int, typer.Option(help="LightGBM boosting rounds per model.")] = 100,
    learning_rate: Annotated[float, typer.Option(help="LightGBM learning rate.")] = 0.05,
    min_child_samples: Annotated[int, typer.Option(help="LightGBM minimum rows per leaf.")] = 100,
    outcome_kind: Annotated[
        str, typer.Option(help="auto, binary or amount (auto: binary when all 0/1).")
    ] = "auto",
    value: Annotated[
        float | None, typer.Option(help="Value of one unit of outcome (to value a policy).")
    ] = None,
    cost: Annotated[float | None, typer.Option(help="Cost of one coupon sent.")] = None,
    oracle: Annotated[
        list[str] | None,
        typer.Option(
            help="Column of true effects (generated data), or ARM=COLUMN per arm: drawn as the "
            "best achievable Qini curve."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of folds, bootstrap and LightGBM.")] = 0,
    force: Annotated[bool, typer.Option(help="Replace existing outputs.")] = False,
) -> None:
    """Fit and compare uplift learners on held-out folds; save the chosen model and its report."""
    from couponlens.experiments.uplift_job import train_uplift_model
    from couponlens.experiments.uplift_selection import learner_name

    if rounds < 1:
        raise InputError(f"--rounds must be at least 1, got {rounds}")
    if bootstrap < 0:
        raise InputError(f"--bootstrap must be at least 0, got {bootstrap}")
    from contextlib import ExitStack

    from couponlens.outputs import check_writable, replacing_folder

    separate_report = report is not None and report.resolve() != model.resolve()
    check_writable(model, force=force)
    if separate_report:
        check_writable(report, force=force)  # type: ignore[arg-type]
    with ExitStack() as outputs, console.status("fitting uplift learners") as status:
        model_work = outputs.enter_context(replacing_folder(model, force=force))
        report_work = (
            outputs.enter_context(replacing_folder(report, force=force))  # type: ignore[arg-type]
            if separate_report
            else None
        )
        job = train_uplift_model(
            data,
            progress=status.update,
            treatment=treatment,
            control=control,
            outcome=outcome,
            features=feature,
            model_dir=model_work,
            report_dir=report_work,
            model_label=str(model),
            arms=arm,
            learners=learner or ["t", "x", "dr"],
            n_folds=folds,
            n_bootstrap=bootstrap,
            fractions=_fractions(k),
            value=value,
            cost=cost,
            random_state=seed,
            n_estimators=rounds,
            learning_rate=learning_rate,
            min_child_samples=min_child_samples,
            outcome_kind=outcome_kind,
            oracle=_oracle(oracle or []),
        )
    validation = job.fit.validation
    _say(
        f"{outcome} ({validation.outcome_kind}), {', '.join(validation.arms)} vs "
        f"{validation.control}: held-out Qini on {validation.n_folds} folds"
    )
    for r in validation.results:
        mark = " <- chosen" if r.learner == validation.chosen else ""
        s = r.scores
        _say(
            f"  {learner_name(r.learner):<11} {r.arm:<14} Qini {s.qini:.4f} "
            f"[{s.qini_ci_low:.4f}, {s.qini_ci_high:.4f}]  AUUC {s.auuc:.4f}{mark}"
        )
    if job.policy is not None:
        _print_policy(job.policy, "held-out folds")
    report_folder = report if separate_report and report is not None else model
    _say(f"wrote model {model} and {report_folder / 'report.html'}")


@experiment_app.command("target")
def target_command(
    model_dir: Annotated[Path, typer.Argument(help="Model folder from `experiment uplift`.")],
    candidates: Annotated[Path, typer.Argument(help="Candidates (CSV or Parquet) to score.")],
    value: Annotated[float, typer.Option(help="Value of one unit of outcome.")],
    cost: Annotated[float, typer.Option(help="Cost of one coupon sent.")],
    out: Annotated[
        Path,
        typer.Option(help="Candidates + uplift, net_value, send: CSV, or Parquet for .parquet."),
    ],
    budget: Annotated[int | None, typer.Option(help="At most this many coupons.")] = None,
    arm_cost: Annotated[
        list[str] | None,
        typer.Option(help="ARM=COST for one treated arm (repeat; overrides --cost for it)."),
    ] = None,
    confidence: Annotated[float, typer.Option(help="Confidence level of the intervals.")] = 0.95,
    force: Annotated[bool, typer.Option(help="Replace existing outputs.")] = False,
) -> None:
    """Rank candidates by uplift x value - cost; send where positive, within the budget."""
    from couponlens.experiments.uplift_artifact import load_uplift_model
    from couponlens.experiments.uplift_job import target_candidates
    from couponlens.outputs import check_writable

    check_writable(out, force=force)
    if not 0 < confidence < 1:
        raise InputError(f"--confidence must be in (0, 1), got {confidence}")
    loaded = load_uplift_model(model_dir)
    costs: float | dict[str, float] = cost
    if arm_cost:
        overrides = _named_numbers(arm_cost, "--arm-cost", "ARM=COST, e.g. c20=2.5")
        costs = {arm: overrides.get(arm, cost) for arm in loaded.arms} | overrides
    job = target_candidates(
        loaded, candidates, value=value, cost=costs, budget=budget, out=out, confidence=confidence
    )
    limit = "" if budget is None else f" (budget {budget:,})"
    _say(
        f"scored {job.n_candidates:,} candidates; send to {job.n_sent:,}{limit}; expected net "
        f"value {job.total_net_value:,.2f}"
    )
    where = (
        "on the candidates, a held-out experiment"
        if job.policy_source == "candidates"
        else "on the training experiment's held-out folds"
    )
    _print_policy(job.policy, where)
    for note in job.notes:
        _say(f"note: {note}")
    _say(f"wrote {out}")


def _named_numbers(items: list[str], option: str, form: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for item in items:
        name, sep, text = item.partition("=")
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not sep or not name.strip() or not math.isfinite(number):
            raise InputError(f"{option} {item!r}: expected {form}")
        values[name.strip()] = number
    return values


@experiment_app.command("allocate")
def allocate_command(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="CUSTOMERS PROBABILITIES (customers with segment columns + prob_<option> per "
            "segment), or one SEGMENTS file with a size column and prob_<option> columns."
        ),
    ],
    budget: Annotated[float, typer.Option(help="Expected-cost budget.")],
    face_value: Annotated[
        list[str],
        typer.Option(help="OPTION=AMOUNT paid when a customer responds (repeat; every option)."),
    ],
    min_share: Annotated[
        float, typer.Option(help="Least share of every segment given each option.")
    ] = 0.0,
    baseline: Annotated[
        str | None, typer.Option(help="Option extra responses count from (default: face 0).")
    ] = None,
    size_column: Annotated[str, typer.Option(help="Size column of a SEGMENTS file.")] = "n",
    out: Annotated[Path | None, typer.Option(help="CSV of the shares per segment.")] = None,
    force: Annotated[bool, typer.Option(help="Replace existing outputs.")] = False,
) -> None:
    """Allocate coupon options to segments to maximise extra responses (a linear programme)."""
    from couponlens.outputs import check_writable

    if out is not None:
        check_writable(out, force=force)
    from couponlens.targeting.allocation import (
        CouponOption,
        allocate_coupons,
        load_allocation_inputs,
        load_segment_table,
    )

    if len(files) == 2:
        inputs = load_allocation_inputs(files[0], files[1])
    elif len(files) == 1:
        inputs = load_segment_table(files[0], size_column=size_column)
    else:
        raise InputError(
            f"give one SEGMENTS file or CUSTOMERS PROBABILITIES, got {len(files)} files"
        )
    faces = _named_numbers(face_value, "--face-value", "OPTION=AMOUNT, e.g. dm2=1000")
    missing = [o for o in inputs.options if o not in faces]
    unknown = [o for o in faces if o not in inputs.options]
    if missing or unknown:
        raise InputError(
            f"--face-value must name every option exactly: the options are {inputs.options}"
            + (f"; missing {missing}" if missing else "")
            + (f"; unknown {unknown}" if unknown else "")
        )
    options = [CouponOption(o, faces[o]) for o in inputs.options]
    result = allocate_coupons(
        inputs.segments,
        options,
        budget,
        keys=inputs.keys,
        baseline=baseline,
        min_share=min_share,
    )
    if result.status != "optimal":
        raise InputError(result.status)
    n_total = int(inputs.segments["n"].sum())
    _say(
        f"{len(inputs.segments)} segments, {n_total:,} customers, options "
        f"{', '.join(f'{o.name} ({o.face_value:g})' for o in options)}"
    )
    _say(
        f"extra responses over {result.baseline}: {result.extra_responses:.1f} "
        f"(expected {result.expected_responses:.1f} vs {result.baseline_responses:.1f}); expected "
        f"cost {result.expected_cost:,.1f} of {result.budget:,.1f}; one more unit of budget buys "
        f"{result.budget_shadow_price:.3g} responses"
    )
    table = result.share_table()
    _say(table.round(3).to_string())
    if out is not None:
        from couponlens.report.html import write_text_atomic

        write_text_atomic(out, result.shares.to_csv(index=False))
        _say(f"wrote {out}")


def demo_uplift(out: Path, seed: int) -> SiteEntry:
    """Generate an experiment, fit and compare uplift learners, target a fresh one; for the demo.

    Writes ``out/data/uplift_experiment.csv`` (training) and ``out/data/uplift_candidates.csv``
    (a second experiment, held out), the model into ``out/uplift/model``, the report into
    ``out/uplift/report.html`` and the targeting list into ``out/uplift/targets.csv``.

    Example:
        >>> import tempfile, pathlib
        >>> entry = demo_uplift(pathlib.Path(tempfile.mkdtemp()), seed=0)  # doctest: +SKIP
        >>> entry.link  # doctest: +SKIP
        'uplift/report.html'
    """
    from couponlens.datasets.experiment_synthetic import COVARIATES, PRE_PERIOD, generate_experiment
    from couponlens.experiments.uplift_job import target_candidates, train_uplift_model
    from couponlens.experiments.uplift_selection import learner_name

    out = Path(out)
    data = out / "data"
    folder = out / "uplift"
    outcome, value, cost = "trans_after", DEMO_VALUE, DEMO_COST
    features = [*COVARIATES, *PRE_PERIOD]
    train = generate_experiment(DEMO_ROWS, seed, strengths=[DEMO_STRENGTH])
    fresh = generate_experiment(DEMO_ROWS // 2, seed + 1, strengths=[DEMO_STRENGTH])
    train_path = train.write(data / "uplift_experiment.csv")
    fresh_path = fresh.write(data / "uplift_candidates.csv")
    job = train_uplift_model(
        train_path,
        treatment="treatment",
        control="control",
        outcome=outcome,
        features=features,
        model_dir=folder / "model",
        report_dir=folder,
        n_folds=3,
        n_bootstrap=100,
        value=value,
        cost=cost,
        random_state=seed,
        n_estimators=50,
        oracle={train.arms[1]: train.cate_column(outcome)},
    )
    validation = job.fit.validation
    best = validation.best().scores
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    oracle = float(results["references"][0]["qini"])
    targeting = target_candidates(
        job.model_dir, fresh_path, value=value, cost=cost, out=folder / "targets.csv"
    )
    policy = targeting.policy.difference("treat_none", "dr")
    versus_all = targeting.policy.difference("treat_all", "dr")
    return SiteEntry(
        title="Uplift model and targeting",
        link="uplift/report.html",
        question="Whom does the coupon move, and whom should we send it to?",
        figures={
            "chosen learner": learner_name(validation.chosen),
            "held-out Qini": f"{best.qini:.4f} [{best.qini_ci_low:.4f}, {best.qini_ci_high:.4f}]",
            "oracle Qini (true CATE)": f"{oracle:.4f}",
            "uplift in top 30%": f"{best.at(0.3).uplift:.3f} vs {best.average_uplift:.3f} average"
            if any(abs(u.fraction - 0.3) < 1e-9 for u in best.uplift_at_k)
            else f"{best.average_uplift:.3f} average",
            "share sent (fresh test)": f"{100 * targeting.n_sent / targeting.n_candidates:.1f}%",
            "net value vs treat-none": f"{policy.net_difference:+.3f} per customer "
            f"[{policy.ci_low:+.3f}, {policy.ci_high:+.3f}]",
            "net value vs treat-all": f"{versus_all.net_difference:+.3f} per customer "
            f"[{versus_all.ci_low:+.3f}, {versus_all.ci_high:+.3f}]",
        },
        notes=[
            f"{DEMO_ROWS:,} generated customers with a known per-customer effect; value "
            f"{value:g} per extra transaction, coupon cost {cost:g}; the policy is valued "
            "(doubly robust) on a second, held-out generated experiment."
        ],
    )


#: Demo settings: rows, coupon strength (effect multiplier), value per transaction, coupon cost.
DEMO_ROWS = 8000
DEMO_STRENGTH = 2.5
DEMO_VALUE = 10.0
DEMO_COST = 3.0
