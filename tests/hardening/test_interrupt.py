"""Ctrl-C (SIGINT to a real ``couponlens`` process) during a report or a generator.

The process must exit 130 saying "interrupted", print no traceback, leave the previous output
byte for byte and leave no temporary files beside it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from couponlens.datasets.customers_synthetic import generate_customers


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _as_from_a_terminal() -> None:
    """In the child before exec: SIGINT handled by default and not blocked, as a shell starts a
    command. A child inherits an ignored or blocked SIGINT from the test process, and in a full
    suite run (pytest-xdist, after other tests) the CLI once finished with exit 0 despite the
    signal, which this test is not about."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt_when_working(args: list[str], parent: Path, name: str) -> tuple[int, str]:
    """Start ``couponlens ARGS``, send SIGINT once its work folder ``.NAME.*.partial`` exists
    (the job is then under way), and return its exit code and stderr."""
    process = subprocess.Popen(
        [sys.executable, "-m", "couponlens", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        preexec_fn=_as_from_a_terminal,
    )
    deadline = time.monotonic() + 120
    try:
        while not list(parent.glob(f".{name}.*.partial")):
            if process.poll() is not None:
                raise AssertionError(f"the job ended before it was interrupted: {process.stderr}")
            if time.monotonic() > deadline:
                raise AssertionError("the job did not start its work within 120 s")
            time.sleep(0.05)
        time.sleep(0.3)  # well inside the job (the load, the analyses or the writing)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, err


@pytest.mark.slow
def test_ctrl_c_during_customers_report_keeps_the_previous_report(tmp_path: Path) -> None:
    data = generate_customers(tmp_path / "data", customers=3_000, seed=5)
    out = tmp_path / "report"
    out.mkdir()
    (out / "results.json").write_text('{"previous": true}\n')
    code, err = _interrupt_when_working(
        ["customers", "report", str(data), "--out", str(out), "--no-clv", "--force"],
        tmp_path,
        "report",
    )
    assert code == 130, err
    assert "interrupted" in err and "Traceback" not in err, err
    assert _snapshot(out) == {"results.json": b'{"previous": true}\n'}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.slow
def test_ctrl_c_during_a_generator_leaves_no_partial_folder(tmp_path: Path) -> None:
    out = tmp_path / "business"
    code, err = _interrupt_when_working(
        ["generate", "customers", "--out", str(out), "--customers", "20000"], tmp_path, "business"
    )
    assert code == 130, err
    assert "interrupted" in err and "Traceback" not in err, err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []
