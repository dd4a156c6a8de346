"""Benchmark: the experiment statistics on a generated 10 M-row test vs row-level pandas + statsmodels.

Both sides compute the same numbers for 2 arms, 3 outcomes and 5 segments (plus "all"): Welch
difference, CI, p and relative lift with its delta CI; the Lin ANCOVA with HC1 errors on two
pre-period columns; treatment x segment interactions (HC2); balance (SMD, Welch/chi-square),
composition, and the bootstrap + Mann-Whitney for the amount outcome on bounded samples.
couponlens reads the Parquet file onto DuckDB and works from one group-by; the reference reads it
with pandas and works row by row (masks, scipy, statsmodels OLS). Prints both times and the ratio.

Run: ``.venv/bin/python -m bench.experiment_report [--rows 10000000] [--threads 2]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from couponlens.datasets.experiment import load_experiment
from couponlens.datasets.experiment_synthetic import EXTRA_SEGMENTS, SEGMENTS, generate_experiment
from couponlens.engine import connect
from couponlens.experiments.analysis import analyze_experiment

OUTCOMES = ["trans_after", "revenue_after", "converted"]
COVARIATES = ["gender", "income", "weeks_since_visit", "cart"]
PRE_PERIOD = ["trans_before", "revenue_before"]
RULES = [*SEGMENTS, *EXTRA_SEGMENTS]


def couponlens_run(path: Path, threads: int) -> tuple[float, int]:
    start = time.perf_counter()
    con = connect(threads=threads)
    data = load_experiment(
        path,
        treatment="treatment",
        control="control",
        outcomes=OUTCOMES,
        covariates=COVARIATES,
        pre_period=PRE_PERIOD,
        con=con,
    )
    analysis = analyze_experiment(data, RULES)
    return time.perf_counter() - start, len(analysis.effects)


def _lin_hc1(y: np.ndarray, treated: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    xc = x - x.mean(axis=0)
    design = np.column_stack([np.ones(len(y)), treated, xc, treated[:, None] * xc])
    fit = sm.OLS(y, design).fit(cov_type="HC1")
    return float(fit.params[1]), float(fit.bse[1])


def pandas_run(path: Path) -> tuple[float, int]:
    start = time.perf_counter()
    frame = pd.read_parquet(
        path,
        columns=[
            "treatment",
            *OUTCOMES,
            *COVARIATES,
            *PRE_PERIOD,
            "channel_acq",
            "num_past_purch",
            "browsing_minutes",
        ],
    )
    masks = {"all": np.ones(len(frame), bool)}
    masks.update({r.split("=", 1)[0]: frame.eval(r.split("=", 1)[1]).to_numpy(bool) for r in RULES})
    treated_all = (frame["treatment"] == "coupon").to_numpy()
    rng = np.random.default_rng(0)
    results = []
    for outcome in OUTCOMES:
        y_all = frame[outcome].to_numpy(float)
        for name, mask in masks.items():
            y, treated = y_all[mask], treated_all[mask]
            t, c = y[treated], y[~treated]
            test = stats.ttest_ind(t, c, equal_var=False)
            ci = test.confidence_interval()
            rel = t.mean() / c.mean() - 1
            rel_se = np.sqrt(
                t.var(ddof=1) / len(t) / c.mean() ** 2
                + t.mean() ** 2 * c.var(ddof=1) / len(c) / c.mean() ** 4
            )
            lin = _lin_hc1(y, treated.astype(float), frame.loc[mask, PRE_PERIOD].to_numpy(float))
            row = [
                outcome,
                name,
                t.mean() - c.mean(),
                ci.low,
                ci.high,
                test.pvalue,
                rel,
                rel_se,
                *lin,
            ]
            if outcome == "revenue_after":
                ts = rng.choice(t, size=min(len(t), 10_000), replace=False)
                cs = rng.choice(c, size=min(len(c), 10_000), replace=False)
                boot = [
                    rng.choice(ts, len(ts)).mean() - rng.choice(cs, len(cs)).mean()
                    for _ in range(1000)
                ]
                row += [*np.quantile(boot, [0.025, 0.975]), stats.mannwhitneyu(ts, cs).pvalue]
            if name != "all":
                inside = mask.astype(float)
                tr = treated_all.astype(float)
                design = np.column_stack([np.ones(len(frame)), tr, inside, tr * inside])
                fit = sm.OLS(y_all, design).fit(cov_type="HC2")
                row += [fit.params[3], fit.pvalues[3]]
            results.append(row)
    for column in COVARIATES + PRE_PERIOD:
        t_rows, c_rows = frame.loc[treated_all, column], frame.loc[~treated_all, column]
        if column == "gender":
            stats.chi2_contingency(pd.crosstab(frame["treatment"], frame[column]).to_numpy())
        else:
            stats.ttest_ind(t_rows.dropna(), c_rows.dropna(), equal_var=False)
        for mask in list(masks.values())[1:]:
            if column == "gender":
                stats.chi2_contingency(pd.crosstab(mask, frame[column]).to_numpy())
            else:
                stats.ttest_ind(
                    frame.loc[mask, column].dropna(),
                    frame.loc[~mask, column].dropna(),
                    equal_var=False,
                )
    return time.perf_counter() - start, len(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-pandas", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "experiment.parquet"
        t0 = time.perf_counter()
        generate_experiment(args.rows, seed=1).write(path)
        print(f"generated {args.rows:,} rows in {time.perf_counter() - t0:.1f} s (not timed below)")
        seconds, effects = couponlens_run(path, args.threads)
        print(
            f"couponlens (DuckDB, {args.threads} threads, one group-by): {seconds:.1f} s, {effects} effect rows"
        )
        if args.skip_pandas:
            return
        reference, rows = pandas_run(path)
        print(f"pandas + scipy + statsmodels, row level: {reference:.1f} s, {rows} effect rows")
        print(f"ratio: couponlens is {reference / seconds:.1f}x faster")


if __name__ == "__main__":
    main()
