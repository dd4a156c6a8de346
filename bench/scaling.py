"""Scaling curve: the O2O report, the O2O feature build and the experiment report at several
sizes, on DuckDB and on Spark (local), in one run.

Sizes are multiples of the real Tianchi train file (1x = 1,754,884 rows); the experiment uses
the same row counts (1x = 1,754,884 customers) so the three jobs are read off one axis. Inputs
are generated once (Parquet, cached under ``bench/out/scaling/``) and not timed. Each job runs
as the user would run it, ``couponlens ...`` in a fresh process, and its wall time and peak
memory (the sampled sum over the process tree, the Spark JVM included) are recorded.
DuckDB runs take ``--memory-limit`` (default 4GB: the out-of-core setting).

Prints one table, the time per million rows relative to 1x, and whether it stays within 1.5x
from 1x to the largest size; writes ``bench/out/scaling.json`` and, with ``--plot``, an
interactive ``bench/out/scaling.html`` and a ``docs/images/scaling.png`` rendered by Chromium.

Run: ``python -m bench.scaling [--scales 0.1,1,5,10] [--engines duckdb,spark] [--jobs ...]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "scaling"
#: Rows of the real Tianchi train file: the 1x of every size here.
BASE_ROWS = 1_754_884
JOBS = ("o2o_report", "o2o_features", "experiment_report")
EXPERIMENT_OPTIONS = [
    "--treatment",
    "treatment",
    "--control",
    "control",
    "--outcome",
    "trans_after",
    "--outcome",
    "revenue_after",
    "--outcome",
    "converted",
    "--covariate",
    "income",
    "--covariate",
    "cart",
    "--pre-period",
    "trans_before",
    "--pre-period",
    "revenue_before",
    "--segment",
    "A=channel_acq == 3 & num_past_purch <= 2",
    "--segment",
    "loyal=num_past_purch >= 5",
]


@dataclass(frozen=True)
class Run:
    """One job at one size on one engine."""

    job: str
    engine: str
    scale: float
    rows: int
    seconds: float | None
    peak_mb: float | None
    error: str | None = None

    @property
    def seconds_per_million(self) -> float | None:
        return None if self.seconds is None else self.seconds / (self.rows / 1e6)


def _couponlens(*args: str) -> list[str]:
    return [sys.executable, "-m", "couponlens", *args]


def _tree_rss(proc: psutil.Process) -> int:
    """Resident bytes of ``proc`` and all its descendants (the Spark JVM included)."""
    total = 0
    for member in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += member.memory_info().rss
    return total


def _measure(command: list[str], log: Path, timeout: float) -> tuple[float, float, int]:
    """Run ``command``; wall seconds, peak RSS (MB) of its whole process tree, exit code.

    The tree (the CLI process, and for Spark the JVM it starts) is sampled every 0.1 s and the
    largest sum of resident memory is kept, so the peak counts the JVM and Python together.
    A run still going after ``timeout`` seconds is killed (exit code -9).
    """
    start = time.perf_counter()
    peak = 0
    with log.open("w") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        proc = psutil.Process(child.pid)
        while child.poll() is None:
            if time.perf_counter() - start > timeout:
                for member in [*proc.children(recursive=True), proc]:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        member.kill()
            try:
                peak = max(peak, _tree_rss(proc))
            except psutil.NoSuchProcess:
                break
            time.sleep(0.1)
        code = child.wait()
    wall = time.perf_counter() - start
    return wall, peak / 2**20, code


def _inputs(scale: float) -> dict[str, Path]:
    """Generate (once) the O2O log and the experiment file of this size, as Parquet."""
    rows = int(BASE_ROWS * scale)
    folder = OUT / f"{rows}"
    folder.mkdir(parents=True, exist_ok=True)
    o2o_csv, o2o = folder / "o2o.csv", folder / "o2o.parquet"
    experiment = folder / "experiment.parquet"
    if not o2o.exists():
        subprocess.run(
            _couponlens("generate", "o2o", "--rows", str(rows), "--out", str(o2o_csv)),
            check=True,
            cwd=ROOT,
        )
        import duckdb

        duckdb.sql(
            f"COPY (SELECT * FROM read_csv('{o2o_csv}', all_varchar=true)) TO '{o2o}' "
            "(FORMAT parquet)"
        )
        o2o_csv.unlink()
    if not experiment.exists():
        subprocess.run(
            _couponlens("generate", "experiment", "--rows", str(rows), "--out", str(experiment)),
            check=True,
            cwd=ROOT,
        )
    return {"o2o": o2o, "experiment": experiment}


def _command(job: str, engine: str, files: dict[str, Path], out: Path, limit: str) -> list[str]:
    engine_options = ["--engine", engine]
    if engine == "duckdb" and limit:
        engine_options += ["--memory-limit", limit]
    if job == "o2o_report":
        return _couponlens("o2o", "report", str(files["o2o"]), "--out", str(out), *engine_options)
    if job == "o2o_features":
        return _couponlens(
            "o2o",
            "features",
            str(files["o2o"]),
            "--out",
            str(out / "features.parquet"),
            *engine_options,
        )
    return _couponlens(
        "experiment",
        "report",
        str(files["experiment"]),
        "--out",
        str(out),
        *EXPERIMENT_OPTIONS,
        *engine_options,
    )


def run(
    scales: list[float], engines: list[str], jobs: list[str], limit: str, timeout: float
) -> list[Run]:
    runs: list[Run] = []
    for scale in scales:
        files = _inputs(scale)
        rows = int(BASE_ROWS * scale)
        for job in jobs:
            for engine in engines:
                out = OUT / "runs" / f"{job}_{engine}_{rows}"
                shutil.rmtree(out, ignore_errors=True)
                out.parent.mkdir(parents=True, exist_ok=True)
                if job == "o2o_features":
                    out.mkdir()
                log = OUT / "runs" / f"{job}_{engine}_{rows}.log"
                seconds, peak, code = _measure(
                    _command(job, engine, files, out, limit), log, timeout
                )
                error = None
                if code == -9:
                    error = f"killed after the {timeout:g} s timeout"
                elif code != 0:
                    error = log.read_text().strip().splitlines()[-1:] or ["failed"]
                    error = f"exit {code}: {error[0][:200]}"
                runs.append(Run(job, engine, scale, rows, None if error else seconds, peak, error))
                shown = "failed: " + error if error else f"{seconds:8.1f} s"
                print(
                    f"{job:18} {engine:7} {scale:5g}x {rows:>11,} rows  {shown}  "
                    f"peak {peak:8,.0f} MB  load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    return runs


def summary(runs: list[Run]) -> list[dict[str, object]]:
    """Per job and engine: time per million rows at each size relative to 1x, and the check."""
    rows: list[dict[str, object]] = []
    for job in dict.fromkeys(r.job for r in runs):
        for engine in dict.fromkeys(r.engine for r in runs):
            mine = {r.scale: r for r in runs if r.job == job and r.engine == engine}
            base = mine.get(1.0)
            if base is None or base.seconds_per_million is None:
                continue
            biggest = max(s for s in mine if s >= 1.0)
            ratios = {
                s: (r.seconds_per_million / base.seconds_per_million)
                if r.seconds_per_million is not None
                else None
                for s, r in sorted(mine.items())
            }
            worst = max((v for s, v in ratios.items() if s >= 1.0 and v is not None), default=None)
            rows.append(
                {
                    "job": job,
                    "engine": engine,
                    "per_row_vs_1x": {f"{s:g}x": v for s, v in ratios.items()},
                    "largest": f"{biggest:g}x",
                    "within_1.5x": worst is not None
                    and worst <= 1.5
                    and mine[biggest].seconds is not None,
                }
            )
    return rows


def plot(runs: list[Run], html: Path, png: Path | None) -> None:
    """Seconds per million rows against rows, one line per job and engine (Plotly)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for job in dict.fromkeys(r.job for r in runs):
        for engine in dict.fromkeys(r.engine for r in runs):
            points = [
                r for r in runs if r.job == job and r.engine == engine and r.seconds is not None
            ]
            if points:
                fig.add_trace(
                    go.Scatter(
                        x=[r.rows for r in points],
                        y=[r.seconds_per_million for r in points],
                        mode="lines+markers",
                        name=f"{job} ({engine})",
                        line={"dash": "solid" if engine == "duckdb" else "dash"},
                    )
                )
    fig.update_layout(
        title="Seconds per million rows, whole command (flat = linear; start-up dominates small sizes)",
        xaxis={"title": "rows", "type": "log"},
        yaxis={"title": "seconds per million rows (log scale)", "type": "log"},
        width=900,
        height=500,
        template="plotly_white",
    )
    html.write_text(fig.to_html(include_plotlyjs=True, full_html=True))
    if png is None:
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 940, "height": 540})
        page.goto(html.as_uri())
        page.wait_for_selector(".main-svg")
        page.screenshot(path=str(png), full_page=True)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="0.1,1,5,10")
    parser.add_argument("--engines", default="duckdb,spark")
    parser.add_argument("--jobs", default=",".join(JOBS))
    parser.add_argument("--memory-limit", default="4GB", help="DuckDB runs; '' for none")
    parser.add_argument("--plot", action="store_true", help="write the HTML and PNG plot")
    parser.add_argument(
        "--replot", action="store_true", help="only redraw the plot from bench/out/scaling.json"
    )
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds before a run is killed"
    )
    args = parser.parse_args()
    scales = [float(s) for s in args.scales.split(",")]
    engines = args.engines.split(",")
    jobs = args.jobs.split(",")
    for job in jobs:
        if job not in JOBS:
            raise SystemExit(f"unknown job {job!r}: expected one of {', '.join(JOBS)}")
    if args.replot:  # the plot again from the last run's JSON, nothing rerun
        saved = json.loads((ROOT / "bench" / "out" / "scaling.json").read_text())["runs"]
        fields = set(Run.__dataclass_fields__)
        plot(
            [Run(**{k: v for k, v in r.items() if k in fields}) for r in saved],
            ROOT / "bench" / "out" / "scaling.html",
            ROOT / "docs" / "images" / "scaling.png",
        )
        return
    runs = run(scales, engines, jobs, args.memory_limit, args.timeout)
    checks = summary(runs)
    for check in checks:
        ratios = ", ".join(
            f"{k} {v:.2f}" if v is not None else f"{k} failed"
            for k, v in check["per_row_vs_1x"].items()  # type: ignore[attr-defined]
        )
        verdict = "yes" if check["within_1.5x"] else "NO"
        print(
            f"{check['job']:18} {check['engine']:7} per-row time vs 1x: {ratios}; "
            f"within 1.5x up to {check['largest']}: {verdict}"
        )
    OUT.mkdir(parents=True, exist_ok=True)
    result = {
        "runs": [asdict(r) | {"seconds_per_million": r.seconds_per_million} for r in runs],
        "checks": checks,
        "memory_limit": args.memory_limit,
        "cores": os.cpu_count(),
    }
    (ROOT / "bench" / "out" / "scaling.json").write_text(json.dumps(result, indent=2))
    if args.plot:
        plot(
            runs, ROOT / "bench" / "out" / "scaling.html", ROOT / "docs" / "images" / "scaling.png"
        )


if __name__ == "__main__":
    main()
