"""Race the O2O analysis stage (load + every analysis, no HTML) against the pandas reference.

For each scale (0.1x, 1x, 5x the real 1,754,884 rows) it generates a Tianchi-layout file under bench/out/
(timed: the generator must write 1.75 M rows in under 30 s), then runs couponlens and the pandas reference
(bench/reference_o2o_analysis_pandas.py) each in a fresh process, in one run, and prints the
wall time, peak memory (max RSS of that process) and the speed-up ratio.

Run: ``make bench`` or ``python -m bench.o2o_analysis [--scales 0.1,1,5] [--threads 2]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REAL_ROWS = 1_754_884
OUT = Path(__file__).resolve().parent / "out"


def _ours(path: str, threads: int) -> None:
    from couponlens.analysis.o2o import analyse_o2o
    from couponlens.datasets.o2o import load_o2o
    from couponlens.engine import connect

    start = time.perf_counter()
    data = load_o2o(path, connect(threads=threads))
    results = analyse_o2o(data).to_results_json()
    print(
        f"couponlens: {time.perf_counter() - start:.2f} s, usage_rate={results['usage_rate']:.5f}"
    )


def _measure(args: list[str]) -> tuple[float, float]:
    """Run a child process; return (wall seconds, peak RSS in MB) of that child alone."""
    start = time.perf_counter()
    proc = subprocess.Popen(args)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark child failed: {' '.join(args)}")
    return wall, usage.ru_maxrss / 1024


def _dataset(scale: float) -> tuple[Path, float]:
    """Generate the input (timed: the generator's own target is 1.75 M rows in under 30 s)."""
    from couponlens.datasets.o2o_synthetic import generate_o2o

    rows = int(REAL_ROWS * scale)
    path = OUT / f"o2o_{rows}.csv"
    OUT.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    generate_o2o(rows, 2016, path, OUT / f"o2o_{rows}_truth.csv")
    seconds = time.perf_counter() - start
    print(f"generated {rows:,} rows (and the truth file) in {seconds:.1f} s -> {path}")
    return path, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="0.1,1,5")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--run", nargs=2, metavar=("WHO", "FILE"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.run:
        who, file = options.run
        if who == "ours":
            _ours(file, options.threads)
        else:
            from bench.reference_o2o_analysis_pandas import analyse

            start = time.perf_counter()
            result = analyse(file)
            print(
                f"pandas: {time.perf_counter() - start:.2f} s, usage_rate={result['usage_rate']:.5f}"
            )
        return

    rows_out = []
    for scale in (float(s) for s in options.scales.split(",")):
        path, generate_s = _dataset(scale)
        base = [
            sys.executable,
            "-m",
            "bench.o2o_analysis",
            "--threads",
            str(options.threads),
            "--run",
        ]
        ours = _measure([*base, "ours", str(path)])
        pandas = _measure([*base, "pandas", str(path)])
        rows_out.append((scale, int(REAL_ROWS * scale), generate_s, ours, pandas))

    print(
        "\n| scale | rows | generate s | couponlens s | couponlens peak MB | pandas s "
        "| pandas peak MB | speed-up |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for scale, rows, generate_s, (ours_s, ours_mb), (pd_s, pd_mb) in rows_out:
        print(
            f"| {scale:g}x | {rows:,} | {generate_s:.1f} | {ours_s:.2f} | {ours_mb:,.0f} "
            f"| {pd_s:.2f} | {pd_mb:,.0f} | "
            f"{pd_s / ours_s:.1f}x |"
        )


if __name__ == "__main__":
    main()
