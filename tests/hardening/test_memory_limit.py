"""``--memory-limit``: a job under a tiny limit completes (DuckDB spills) or stops with one line.

Never a traceback and never a partial output. An invalid limit is a usage error before any work.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from couponlens.cli import main
from couponlens.datasets.customers_synthetic import generate_customers
from couponlens.datasets.experiment_synthetic import write_experiment
from couponlens.datasets.o2o_synthetic import generate_o2o


def _arguments(job: str, tmp_path: Path) -> list[str]:
    out = str(tmp_path / "out")
    if job == "o2o report":
        generate_o2o(20_000, 3, tmp_path / "o2o.csv")
        return ["o2o", "report", str(tmp_path / "o2o.csv"), "--out", out]
    if job == "customers report":
        data = generate_customers(tmp_path / "data", customers=100, seed=3)
        return ["customers", "report", str(data), "--out", out, "--no-clv"]
    write_experiment(tmp_path / "exp.csv", 20_000, seed=3)
    return ["experiment", "report", str(tmp_path / "exp.csv"), "--treatment", "treatment",
            "--control", "control", "--outcome", "converted", "--bootstrap", "0", "--out", out]  # fmt: skip


@pytest.mark.parametrize("job", ["o2o report", "customers report", "experiment report"])
def test_a_tiny_limit_completes_or_stops_with_one_clear_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    job: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # DuckDB spills into .tmp under the current folder
    argv = _arguments(job, tmp_path)
    code = main([*argv, "--memory-limit", "20MB"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    if code == 0:
        assert (tmp_path / "out" / "results.json").is_file()
    else:
        assert code == 2, captured.err
        assert captured.err.strip() == (
            f"error: out of memory under the 20MB limit while running {job}; "
            "raise --memory-limit, or free memory and run it again"
        )
        assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []
    # The same job with room to work completes: the limit, not the input, stopped it.
    assert main([*argv, "--memory-limit", "2GB", "--force"]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("text", ["lots", "80%", "0GB", "-1GB", "4", "4 parsecs"])
def test_an_invalid_limit_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    code = main(["o2o", "report", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o"),
                 "--memory-limit", text])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "Invalid value for '--memory-limit'" in err and "expected a size such as 4GB" in err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_python_running_out_of_memory_is_one_line_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import couponlens.cli.o2o as cli_o2o

    def exhausted(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(cli_o2o, "o2o_report", exhausted)
    argv = ["o2o", "report", str(tmp_path / "log.csv"), "--out", str(tmp_path / "out")]
    assert main([*argv, "--memory-limit", "4GB"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: out of memory under the 4GB limit while running o2o report; "
        "raise --memory-limit, or free memory and run it again"
    )
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: out of memory while running o2o report (no --memory-limit")
    assert len(err.splitlines()) == 1
