"""Outputs that are replaced whole or not at all, and never overwritten by accident.

A job writes its folder (a report, a model) or file (scores, recipients) under a temporary name
beside the final one and renames it into place only when everything was written. A failed or
interrupted job leaves the previous output exactly as it was, and an existing output is
replaced only when the user asked for it (``--force``).

Example:
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> with replacing_folder(root / "report", force=False) as work:
    ...     _ = (work / "report.html").write_text("<html></html>")
    >>> sorted(p.name for p in (root / "report").iterdir())
    ['report.html']
    >>> with replacing_folder(root / "report", force=False) as work:
    ...     pass
    Traceback (most recent call last):
    couponlens.outputs.OutputExistsError: ...report already exists; pass --force to replace it
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from couponlens.errors import InputError


class OutputExistsError(InputError):
    """The output is already there and ``force`` was not given."""


def check_writable(path: str | Path, *, force: bool) -> None:
    """Refuse an existing output (an empty folder does not count) unless ``force``."""
    target = Path(path)
    if force or not target.exists():
        return
    if target.is_dir() and not any(target.iterdir()):
        return
    raise OutputExistsError(f"{target} already exists; pass --force to replace it")


def check_model_and_report(model: Path, report: Path | None, *, force: bool) -> None:
    """Check a training job's two folders: both writable, and the report not holding the model
    (replacing the report folder would delete the model just saved inside it)."""
    check_writable(model, force=force)
    if report is None:
        return
    check_writable(report, force=force)
    if report.resolve() == model.resolve() or report.resolve() in model.resolve().parents:
        raise InputError("--report must be a folder of its own, not one holding --model")


def _check_not_holding_the_current_folder(target: Path) -> None:
    """Refuse to replace a folder that holds the current folder (``--out .`` or ``--out ..``):
    replacing it would delete where the user stands."""
    resolved = target.resolve()
    here = Path.cwd().resolve()
    if resolved == here or resolved in here.parents:
        raise InputError(f"{target} holds the current folder; give the output a folder of its own")


@contextmanager
def replacing_folder(final: str | Path, *, force: bool) -> Iterator[Path]:
    """Yield an empty work folder beside ``final``; on success it becomes ``final``.

    On any exception (including Ctrl-C) the work folder is removed and ``final`` is untouched.
    """
    target = Path(final)
    check_writable(target, force=force)
    if target.exists() and not target.is_dir():
        raise InputError(f"{target} is a file; expected a folder")
    _check_not_holding_the_current_folder(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        yield work
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    if target.exists():
        old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
        target.rename(old)
        work.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        work.rename(target)


@contextmanager
def replacing_file(final: str | Path, *, force: bool) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; on success it atomically replaces ``final``."""
    target = Path(final)
    check_writable(target, force=force)
    if target.is_dir():
        raise InputError(f"{target} is a folder; expected a file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    # The work file keeps the final suffix: writers that pick a format by suffix (Parquet) see it.
    work = target.with_name(f".{target.stem}.{uuid.uuid4().hex[:8]}.partial{target.suffix}")
    try:
        yield work
    except BaseException:
        work.unlink(missing_ok=True)
        raise
    os.replace(work, target)
