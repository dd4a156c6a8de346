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
