"""Race the customer report's analysis stage against the pandas reference on generated tickets.

It generates a synthetic cinema business of about ``--tickets`` ticket rows once (Parquet,
cached under bench/out/), then runs couponlens (load + every analysis but the CLV fit, no
HTML) and the pandas reference (bench/reference_customers_pandas.py) each in a fresh process,
and prints wall time, peak memory and the speed-up. ``--clv`` also times the BG/NBD +
Gamma-Gamma fit (couponlens only; the pandas side would call the same library).

Run: ``python -m bench.customers_report [--tickets 10000000] [--threads 2] [--clv]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
#: Ticket rows per registered customer the generator's defaults give (measured).
TICKETS_PER_CUSTOMER = 2.08


def _ours(folder: str, threads: int, clv: bool) -> None:
    from couponlens.analysis.customers import analyse_customers
    from couponlens.datasets.customers import load_customer_data
    from couponlens.engine import connect

    start = time.perf_counter()
    data = load_customer_data(folder, con=connect(threads=threads))
    loaded = time.perf_counter()
    analysis = analyse_customers(data, clv=clv)
    results = analysis.to_results_json()
    end = time.perf_counter()
    print(
        f"couponlens: {end - start:.2f} s (load {loaded - start:.2f} s, analyses {end - loaded:.2f} s), "
        f"one_day_share={results['customers']['one_day_share']:.5f}, "
        f"promotion_share={results['promotion']['share']:.5f}, clv={results['clv']['status']}"
    )


def _theirs(folder: str) -> None:
    from bench.reference_customers_pandas import analyse

    start = time.perf_counter()
    result = analyse(folder)
    print(
        f"pandas: {time.perf_counter() - start:.2f} s, one_day_share={result['one_day_share']:.5f}, "
        f"promotion_share={result['promotion_share']:.5f}"
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


def _dataset(tickets: int) -> Path:
    from couponlens.datasets.customers_synthetic import generate_customers

    customers = max(10, int(tickets / TICKETS_PER_CUSTOMER))
    folder = OUT / f"customers_{customers}"
    if not (folder / "ticket_history.parquet").exists():
        start = time.perf_counter()
        generate_customers(folder, customers=customers, seed=0, file_format="parquet")
        print(
            f"generated {customers:,} customers in {time.perf_counter() - start:.1f} s -> {folder}"
        )
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tickets", type=int, default=10_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--clv", action="store_true")
    parser.add_argument("--run", nargs=2, metavar=("WHO", "FOLDER"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.run:
        who, folder = options.run
        if who == "ours":
            _ours(folder, options.threads, options.clv)
        else:
            _theirs(folder)
        return
    folder = _dataset(options.tickets)
    base = [sys.executable, "-m", "bench.customers_report", "--threads", str(options.threads)]
    ours = _measure([*base, *(["--clv"] if options.clv else []), "--run", "ours", str(folder)])
    theirs = _measure([*base, "--run", "pandas", str(folder)])
    print(
        "\n| tickets (approx.) | couponlens s | couponlens peak MB | pandas s | pandas peak MB | speed-up |"
    )
    print("|---|---|---|---|---|---|")
    print(
        f"| {options.tickets:,} | {ours[0]:.2f} | {ours[1]:,.0f} | {theirs[0]:.2f} | {theirs[1]:,.0f} | "
        f"{theirs[0] / ours[0]:.1f}x |"
    )


if __name__ == "__main__":
    main()
