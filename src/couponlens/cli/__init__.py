"""The ``couponlens`` command line: a thin layer over the public Python functions.

Each job lives in its own sub-app module (``cli/o2o.py``, ``cli/generate.py``, ...). Errors a
user can act on (:class:`~couponlens.errors.CouponlensError`) print one line and exit 2; any
other exception prints one line naming it and exits 1. No traceback reaches the user unless
``COUPONLENS_DEBUG=1`` is set.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys

import typer

from couponlens.cli._app import app, console_err
from couponlens.cli._resources import forget_job, out_of_memory_message
from couponlens.errors import CouponlensError


def _register_commands() -> None:
    """Import every public module of this package: each registers its commands on import.

    A new job only adds ``cli/<job>.py``; nothing here changes.
    """
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name[0] != "_"):
        importlib.import_module(f"{__name__}.{module}")


_register_commands()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (never raises for a user error)."""
    forget_job()
    try:
        # Outside standalone mode Typer returns an Exit's code (Ctrl-C becomes Exit(130)).
        returned = app(args=argv, standalone_mode=False)
        if isinstance(returned, int) and not isinstance(returned, bool):
            if returned == 130:
                console_err.print("interrupted")
            return returned
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        console_err.print("aborted")
        return 130
    except KeyboardInterrupt:
        console_err.print("interrupted")
        return 130
    except CouponlensError as exc:
        if _caused_by_ctrl_c(exc):  # a loader wrapped DuckDB's "Query interrupted"
            console_err.print("interrupted")
            return 130
        message = out_of_memory_message(exc) or str(exc)  # a loader wrapped DuckDB's error
        console_err.print(
            f"error: {_one_line(message)}", highlight=False, markup=False, soft_wrap=True
        )
        return 2
    except Exception as exc:  # click's own usage errors, and anything unexpected
        if _caused_by_ctrl_c(exc):  # DuckDB turns Ctrl-C into "Query interrupted"
            console_err.print("interrupted")
            return 130
        if _is_usage_error(exc):
            exc.show()  # type: ignore[attr-defined]
            return int(exc.exit_code)  # type: ignore[attr-defined]
        out_of_memory = out_of_memory_message(exc)
        if out_of_memory is not None:
            console_err.print(
                f"error: {out_of_memory}", highlight=False, markup=False, soft_wrap=True
            )
            return 2
        if os.environ.get("COUPONLENS_DEBUG"):
            raise
        first = _one_line(str(exc).splitlines()[0]) if str(exc) else ""
        console_err.print(
            f"error: unexpected {type(exc).__name__}: {first} (set COUPONLENS_DEBUG=1 for details)",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        return 1
    return 0


def _one_line(text: str) -> str:
    r"""The message on one line: line breaks and other control characters (from a garbled file's
    header, say) are shown escaped, as Python writes them.

    Example:
        >>> print(_one_line("wrong header 'a\nb\x00'"))
        wrong header 'a\nb\x00'
    """
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _caused_by_ctrl_c(exc: BaseException) -> bool:
    """True when a KeyboardInterrupt is in the exception's chain of causes."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _is_usage_error(exc: Exception) -> bool:
    """True for click's own errors (bad option, missing argument), whichever click Typer ships.

    Typer >= 0.20 vendors click as ``typer._click``; older releases depend on ``click``.
    """
    for module_name in ("click", "typer._click"):
        try:
            module = __import__(module_name, fromlist=["ClickException"])
        except ImportError:
            continue
        if isinstance(exc, module.ClickException):
            return True
    return False


def _entry() -> None:
    sys.exit(main())


__all__ = ["app", "main"]
