"""couponlens: coupon and promotion analytics on your own logs.

Example:
    >>> import couponlens
    >>> couponlens.__version__
    '0.1.0'
"""

from __future__ import annotations

from couponlens.datasets.o2o import LoadReport, O2OData, load_o2o
from couponlens.engine import connect

__version__ = "0.1.0"

__all__ = ["LoadReport", "O2OData", "__version__", "connect", "load_o2o"]
