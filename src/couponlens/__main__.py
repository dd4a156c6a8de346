"""``python -m couponlens``: the same CLI as the ``couponlens`` command."""

from couponlens.cli import _entry

_entry()
