"""Benchmark the O2O model job: speed, memory, feature-build race and quality against a ceiling.

At a scale (1x = the real 1,754,884 rows) it generates a Tianchi-layout history and a month of
test-layout candidates from the same world (cached under bench/out/), then, each in a fresh
process:

- ``job``: the whole couponlens O2O job (load, windows, features, train with validation,
  final fit, load candidates, predict), timed, with its peak memory (max RSS);
- ``features``: the training and prediction feature tables built with couponlens (Ibis on
  DuckDB) and with the pandas implementation of the same features
  (bench/reference_o2o_pandas.py), side by side, with a check that they agree: one cold run of
  each, then ``--race-repeats`` warm runs interleaved (the order alternating), whose medians
  give the ratio; beside them DuckDB executing the already compiled SQL alone ("engine only":
  no Python expression building or compilation, no conversion to pandas), the ceiling of the
  ratio for this plan;
- ``quality``: mean per-coupon AUC on the candidate month for couponlens' default
  (leakage-free) model, the plain pandas + LightGBM recipe, and the generator's true
  probabilities (the ceiling). Outcomes of the candidate month are drawn from the truth
  probabilities (the generator's own label process) with a fixed seed, the same for all three.

Run: ``python -m bench.o2o_model [--scale 1] [--threads 2] [--race-repeats 3]``; results go to
bench/out/o2o_model_<scale>x.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REAL_ROWS = 1_754_884
REAL_TEST_ROWS = 113_640
OUT = Path(__file__).resolve().parent / "out"


def _files(scale: float) -> dict[str, Path]:
    tag = f"{scale:g}x"
    return {
        "history": OUT / f"o2o_model_history_{tag}.csv",
        "candidates": OUT / f"o2o_model_candidates_{tag}.csv",
        "truth": OUT / f"o2o_model_candidates_truth_{tag}.csv",
    }


def _generate(scale: float) -> dict[str, Path]:
    from couponlens.datasets.o2o_synthetic import generate_o2o

    files = _files(scale)
    rows = int(REAL_ROWS * scale)
    OUT.mkdir(parents=True, exist_ok=True)
    if not files["history"].exists():
        generate_o2o(rows, seed=2016, out=files["history"])
    if not files["candidates"].exists():
        generate_o2o(
            max(100, int(REAL_TEST_ROWS * scale)),
            seed=2016,
            out=files["candidates"],
            truth=files["truth"],
            layout="test",
            world_rows=rows,
        )
    return files


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _job(scale: float, threads: int) -> dict[str, object]:
    from couponlens.datasets.o2o import load_o2o
    from couponlens.engine import connect
    from couponlens.models.train import TrainOptions, score_o2o, train_o2o

    files = _files(scale)
    began = time.perf_counter()
    con = connect(threads=threads)
    history = load_o2o(files["history"], con)
    loaded = time.perf_counter()
    result = train_o2o(history.table, TrainOptions(threads=threads))
    trained = time.perf_counter()
    candidates = load_o2o(files["candidates"], con, strict=True)
    scores = score_o2o(result.model, history.table, candidates.table)
    done = time.perf_counter()
    scores.frame[["line_number", "coupon_id", "probability"]].to_parquet(
        OUT / f"o2o_model_scores_{scale:g}x.parquet"
    )
    return {
        "seconds_total": round(done - began, 2),
        "seconds_load": round(loaded - began, 2),
        "seconds_train": round(trained - loaded, 2),
        "train_parts": result.seconds,
        "seconds_predict": round(done - trained, 2),
        "peak_memory_mb": round(_peak_mb(), 1),
        "training_receipts": int(result.model.info["training_receipts"]),
        "validation_mean_coupon_auc": result.validation.mean_coupon_auc,
        "validation_auc": result.validation.auc,
        "chosen": result.chosen,
        "stack": result.stack.reason,
        "best_iterations": [f.best_iteration for f in result.folds],
        "candidates": len(scores.frame),
    }


def _features(scale: float, threads: int, repeats: int = 3) -> dict[str, object]:
    import numpy as np

    from bench.reference_o2o_pandas import pandas_features
    from couponlens.datasets.o2o import load_o2o
    from couponlens.engine import connect
    from couponlens.features.o2o import build_features, feature_names, to_frame
    from couponlens.features.windows import label_rows, plan_for_history
    from couponlens.models.train import WindowPlan

    files = _files(scale)
    con = connect(threads=threads)
    history = load_o2o(files["history"], con)
    candidates = load_o2o(files["candidates"], con, strict=True)
    plan = plan_for_history(history.table)
    predict_pair = WindowPlan([], plan.label_days, plan.feature_days).prediction_pair(
        *[
            d.date()
            for d in candidates.table.aggregate(
                a=candidates.table.date_received.min(), b=candidates.table.date_received.max()
            )
            .execute()
            .iloc[0]
        ]
    )
    jobs = [(p, label_rows(history.table, p, plan.label_days)) for p in plan.pairs]
    jobs.append((predict_pair, candidates.table))
    # materialise the inputs once for both sides (not timed)
    inputs = [
        (
            p,
            con.create_table(
                f"_bench_c{i}", c.drop(*(["label"] if "label" in c.columns else [])), temp=True
            ),
        )
        for i, (p, c) in enumerate(jobs)
    ]
    history_frame = history.table.to_pandas()
    candidate_frames = [c.to_pandas() for _, c in inputs]

    load_before = os.getloadavg()[0]

    def ours() -> list:
        return [to_frame(build_features(history.table, c, p)) for p, c in inputs]

    def reference() -> list:
        return [
            pandas_features(history_frame, cf, p.feature_start, p.feature_end)
            for (p, _), cf in zip(inputs, candidate_frames, strict=True)
        ]

    # The ceiling of the ratio for this plan: DuckDB executing the already compiled SQL of the
    # three windows into Arrow, without building or compiling the expressions in Python and
    # without the conversion to pandas.
    sqls = [str(con.compile(build_features(history.table, c, p))) for p, c in inputs]

    def engine_only() -> list:
        return [con.con.sql(sql).to_arrow_table() for sql in sqls]  # type: ignore[attr-defined]

    sides = {"couponlens": ours, "pandas": reference, "engine_only": engine_only}
    first: dict[str, tuple[float, float]] = {}
    results: dict[str, list] = {}
    for name in ("couponlens", "pandas"):  # the cold first runs, as a one-off job pays them
        start, cpu = time.perf_counter(), time.process_time()
        results[name] = sides[name]()
        first[name] = (time.perf_counter() - start, time.process_time() - cpu)
    engine_only()  # its own warm-up
    walls: dict[str, list[float]] = {name: [] for name in sides}
    cpus: dict[str, list[float]] = {name: [] for name in sides}
    for i in range(repeats):  # interleaved, the order alternating, so that drifts hit all sides
        order = list(sides) if i % 2 == 0 else list(sides)[::-1]
        for name in order:
            start, cpu = time.perf_counter(), time.process_time()
            out = sides[name]()
            walls[name].append(time.perf_counter() - start)
            cpus[name].append(time.process_time() - cpu)
            del out
    names = feature_names()
    worst = 0.0
    for a, b in zip(results["couponlens"], results["pandas"], strict=True):
        assert a["line_number"].tolist() == b["line_number"].tolist()
        x, y = a[names].to_numpy(dtype=float), b[names].to_numpy(dtype=float)
        assert np.array_equal(np.isnan(x), np.isnan(y))
        worst = max(worst, float(np.nanmax(np.abs(x - y))))
    median = {name: statistics.median(w) for name, w in walls.items()}
    return {
        "rows_featurised": int(sum(len(a) for a in results["couponlens"])),
        "features": len(names),
        "repeats": repeats,
        # medians of the interleaved warm runs (wall seconds), and every run
        "couponlens_seconds": round(median["couponlens"], 2),
        "pandas_seconds": round(median["pandas"], 2),
        "engine_only_seconds": round(median["engine_only"], 2),
        "speedup": round(median["pandas"] / median["couponlens"], 2),
        "speedup_ceiling_engine_only": round(median["pandas"] / median["engine_only"], 2),
        "runs": {name: [round(w, 2) for w in ws] for name, ws in walls.items()},
        # CPU seconds of the whole process (all DuckDB threads), medians
        "cpu_seconds": {name: round(statistics.median(c), 2) for name, c in cpus.items()},
        # the cold first run of each side (couponlens first, then pandas)
        "first_run_seconds": {name: round(w, 2) for name, (w, _) in first.items()},
        "first_run_speedup": round(first["pandas"][0] / first["couponlens"][0], 2),
        # the 1-minute load average when the race started: the 2 cores may be shared
        "load_average_1min": load_before,
        "max_abs_difference": worst,
    }


def _quality(scale: float, threads: int) -> dict[str, object]:
    import numpy as np
    import pandas as pd

    from bench.reference_o2o_pandas import reference_recipe
    from couponlens.datasets.o2o import load_o2o
    from couponlens.engine import connect
    from couponlens.features.windows import plan_for_history
    from couponlens.models.metrics import evaluate_scores
    from couponlens.models.train import WindowPlan

    files = _files(scale)
    truth = pd.read_csv(files["truth"])
    ours = pd.read_parquet(OUT / f"o2o_model_scores_{scale:g}x.parquet")
    assert ours["line_number"].tolist() == truth["line_number"].tolist()
    label = (np.random.default_rng(7).random(len(truth)) < truth["probability"].to_numpy()).astype(
        int
    )

    con = connect(threads=threads)
    history = load_o2o(files["history"], con)
    candidates = load_o2o(files["candidates"], con, strict=True)
    plan = plan_for_history(history.table)
    cands = candidates.table.to_pandas()
    first, last = (
        pd.to_datetime(cands["date_received"]).min().date(),
        pd.to_datetime(cands["date_received"]).max().date(),
    )
    predict_pair = WindowPlan([], plan.label_days, plan.feature_days).prediction_pair(first, last)
    start = time.perf_counter()
    reference = reference_recipe(
        history.table.to_pandas(),
        cands,
        [(p.feature_start, p.feature_end, p.label_start, p.label_end) for p in plan.pairs],
        (predict_pair.feature_start, predict_pair.feature_end),
    )
    reference_seconds = time.perf_counter() - start
    coupon = truth["Coupon_id"].to_numpy()
    result = {}
    for name, score in (
        ("couponlens", ours["probability"].to_numpy()),
        ("pandas_reference", reference),
        ("truth_ceiling", truth["probability"].to_numpy()),
    ):
        m = evaluate_scores(coupon, label, score)
        result[name] = {
            "mean_coupon_auc": m.mean_coupon_auc,
            "auc": m.auc,
            "pr_auc": m.pr_auc,
            "log_loss": m.log_loss,
        }
    result["coupons_scored"] = m.coupons_scored
    result["receipts"] = len(label)
    result["positives"] = int(label.sum())
    result["reference_seconds"] = round(reference_seconds, 2)
    return result


def _run_child(stage: str, scale: float, threads: int, repeats: int) -> dict[str, object]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.o2o_model",
            "--stage",
            stage,
            "--scale",
            str(scale),
            "--threads",
            str(threads),
            "--race-repeats",
            str(repeats),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--stage", choices=["job", "features", "quality"], default=None)
    parser.add_argument(
        "--race-repeats", type=int, default=3, help="Interleaved warm runs of the feature race."
    )
    args = parser.parse_args()
    if args.stage is not None:
        stages = {
            "job": _job,
            "features": functools.partial(_features, repeats=args.race_repeats),
            "quality": _quality,
        }
        print(json.dumps(stages[args.stage](args.scale, args.threads), default=str))
        return
    files = _generate(args.scale)
    results: dict[str, object] = {
        "scale": args.scale,
        "rows": int(REAL_ROWS * args.scale),
        "files": {k: str(v) for k, v in files.items()},
    }
    for stage in ("job", "features", "quality"):
        load = os.getloadavg()
        outcome = _run_child(stage, args.scale, args.threads, args.race_repeats)
        outcome["load_average_before"] = [round(x, 2) for x in load]
        results[stage] = outcome
        print(stage, json.dumps(results[stage], indent=1, default=str), flush=True)
    path = OUT / f"o2o_model_{args.scale:g}x.json"
    path.write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
