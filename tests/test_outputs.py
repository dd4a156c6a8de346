"""Outputs are replaced whole or not at all, and only with --force."""

from __future__ import annotations

from pathlib import Path

import pytest

from couponlens.cli import main
from couponlens.datasets.o2o_synthetic import generate_o2o
from couponlens.outputs import OutputExistsError, replacing_file, replacing_folder


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_folder_is_replaced_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "report"
    with replacing_folder(target, force=False) as work:
        (work / "a.txt").write_text("first")
    with (
        pytest.raises(OutputExistsError, match="pass --force"),
        replacing_folder(target, force=False),
    ):
        pass
    with pytest.raises(RuntimeError), replacing_folder(target, force=True) as work:
        (work / "a.txt").write_text("half written")
        raise RuntimeError("the job failed")
    assert (target / "a.txt").read_text() == "first"
    with pytest.raises(KeyboardInterrupt), replacing_folder(target, force=True) as work:
        raise KeyboardInterrupt
    assert (target / "a.txt").read_text() == "first"
    with replacing_folder(target, force=True) as work:
        (work / "b.txt").write_text("second")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert _leftovers(tmp_path) == []


def test_empty_folder_counts_as_free(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with replacing_folder(tmp_path / "out", force=False) as work:
        (work / "x").write_text("x")
    assert (tmp_path / "out" / "x").exists()


def test_file_is_replaced_atomically(tmp_path: Path) -> None:
    target = tmp_path / "scores.csv"
    with replacing_file(target, force=False) as work:
        work.write_text("v1")
    with pytest.raises(ValueError), replacing_file(target, force=True) as work:
        work.write_text("partial")
        raise ValueError
    assert target.read_text() == "v1"
    with pytest.raises(OutputExistsError), replacing_file(target, force=False):
        pass
    assert _leftovers(tmp_path) == []


def test_cli_refuses_to_overwrite_and_keeps_the_old_report_when_a_run_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "o2o.csv"
    generate_o2o(2_000, 3, log)
    out = tmp_path / "report"
    assert main(["o2o", "report", str(log), "--out", str(out)]) == 0
    before = (out / "results.json").read_bytes()
    capsys.readouterr()
    assert main(["o2o", "report", str(log), "--out", str(out)]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err

    import couponlens.cli.o2o as cli_o2o

    def interrupted(*args: object, **kwargs: object) -> None:
        work = Path(str(args[1]))
        (work / "results.json").write_text("{half")
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_o2o, "o2o_report", interrupted)
    assert main(["o2o", "report", str(log), "--out", str(out), "--force"]) == 130
    assert (out / "results.json").read_bytes() == before
    assert _leftovers(tmp_path) == []
    monkeypatch.undo()
    assert main(["o2o", "report", str(log), "--out", str(out), "--force"]) == 0


def test_a_report_folder_may_not_hold_the_model(tmp_path: Path) -> None:
    from couponlens.errors import InputError
    from couponlens.outputs import check_model_and_report

    check_model_and_report(tmp_path / "model", tmp_path / "report", force=False)
    with pytest.raises(InputError, match="folder of its own"):
        check_model_and_report(tmp_path / "out" / "model", tmp_path / "out", force=False)
    with pytest.raises(InputError, match="folder of its own"):
        check_model_and_report(tmp_path / "same", tmp_path / "same", force=False)


def _snapshot(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (or the file itself) and its bytes."""
    if path.is_file():
        return {path.name: path.read_bytes()}
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


def _customer_folder(tmp_path: Path) -> Path:
    from couponlens.datasets.customers_synthetic import generate_customers

    data = generate_customers(tmp_path / "generated", customers=60, seed=1)
    small = tmp_path / "data"
    small.mkdir()
    (small / "customer.csv").write_bytes((data / "customer.csv").read_bytes())
    return small


#: command -> (arguments after the output path is filled in, module, function to interrupt,
#: position of the work path among the function's positional arguments)
JOBS: dict[str, tuple[list[str], str, str, int]] = {
    "customers report": (
        ["customers", "report", "DATA", "--out", "OUT", "--no-clv"],
        "couponlens.cli.customers",
        "customers_report",
        1,
    ),
    "generate customers": (
        ["generate", "customers", "--out", "OUT", "--customers", "20"],
        "couponlens.cli.customers",
        "generate_customers",
        0,
    ),
    "generate amexpert": (
        ["generate", "amexpert", "--out", "OUT", "--customers", "10", "--no-transactions"],
        "couponlens.cli.amexpert",
        "write_amexpert",
        0,
    ),
    "generate o2o": (
        ["generate", "o2o", "--rows", "200", "--out", "OUT.csv"],
        "couponlens.cli.generate_o2o",
        "generate_o2o",
        2,
    ),
    "generate experiment": (
        ["generate", "experiment", "--rows", "50", "--out", "OUT.csv"],
        "pandas",
        "DataFrame.to_csv",
        1,
    ),
}


@pytest.mark.parametrize("job", sorted(JOBS))
def test_report_and_generators_refuse_to_overwrite_and_survive_an_interruption(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    job: str,
) -> None:
    import importlib

    args, module_name, function, position = JOBS[job]
    data = _customer_folder(tmp_path) if job == "customers report" else tmp_path
    argv = [a.replace("DATA", str(data)).replace("OUT", str(tmp_path / "out")) for a in args]
    out = Path(argv[argv.index("--out") + 1])
    assert main(argv) == 0, capsys.readouterr().err
    before = _snapshot(out)
    assert before
    capsys.readouterr()

    # An existing output is refused without --force and left as it was.
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "already exists; pass --force" in err and len(err.splitlines()) == 1, err
    assert _snapshot(out) == before

    # A run interrupted half-way through writing leaves the previous output, and no temporary files.
    def interrupted(*positional: object, **_: object) -> None:
        work = Path(str(positional[position]))
        if work.is_dir():  # the job's temporary folder
            (work / "results.json").write_text("{half")
        else:  # the job's temporary file
            work.write_text("half written")
        raise KeyboardInterrupt

    owner: object = importlib.import_module(module_name)
    *parents, attribute = function.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    monkeypatch.setattr(owner, attribute, interrupted)
    assert main([*argv, "--force"]) == 130
    assert _snapshot(out) == before
    assert _leftovers(tmp_path) == []
    monkeypatch.undo()

    # With --force a complete run replaces it.
    assert main([*argv, "--force"]) == 0, capsys.readouterr().err
    assert _snapshot(out)
    assert _leftovers(tmp_path) == []
