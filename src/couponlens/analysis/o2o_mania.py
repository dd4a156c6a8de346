"""``shopping_mania``: the users who only ever buy with a coupon (seed definition, and a strict one).

Seed definition: for each merchant, the users who bought there with a coupon and never
without one; ``users`` is the union of those users over all merchants, and ``records`` counts
all their coupon purchases (at any merchant). They are compared with all coupon purchases on
mean converted discount, mean distance (nulls skipped) and mean days from receipt to use; the
means are plain means (the seed floored the days; this does not).

Strict variant: users who bought with a coupon and made no normal purchase anywhere.

Everything comes from one grouped pass: per (user, merchant), then per user, then a total.

Example:
    >>> from couponlens.engine import connect
    >>> import pandas as pd, datetime as dt
    >>> d = dt.date(2016, 1, 1)
    >>> t = connect().create_table("s", pd.DataFrame({
    ...     "user_id": [1, 1, 2, 2], "merchant_id": [7, 8, 7, 7], "coupon_id": [3, None, 3, None],
    ...     "discount_rate": [0.9, None, 0.8, None], "distance": [1, None, 2, None],
    ...     "date_received": [d, None, d, None], "purchase_date": [d, d, d, d]}))
    >>> m = shopping_mania(t)
    >>> (m.users, m.records, m.strict_users)
    (1, 1, 0)
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

from couponlens._results import Result
from couponlens.analysis.o2o_common import NO_DATE_COLUMN, OK, days_to_use, purchases, resolve
from couponlens.datasets.o2o import O2OData


@dataclass(frozen=True, repr=False)
class PurchaseProfile(Result):
    """Plain means over a set of coupon purchases (None when the set is empty)."""

    records: int | None
    mean_discount: float | None
    mean_distance: float | None
    mean_days_to_use: float | None


@dataclass(frozen=True, repr=False)
class ShoppingMania(Result):
    """The coupon-reliant users and how their coupon purchases compare with all coupon purchases.

    ``users``/``records``: the seed's per-merchant definition; ``strict_users``/``strict``:
    no normal purchase anywhere; ``coupon_users``: every user with a coupon purchase.
    """

    users: int | None
    records: int | None
    strict_users: int | None
    coupon_users: int | None
    mania: PurchaseProfile
    strict: PurchaseProfile
    all_coupon_purchases: PurchaseProfile
    status: str = OK

    def to_frame(self) -> pd.DataFrame:
        """The comparison table: one row per group of purchases."""
        rows = [
            {"group": "shopping_mania", **self.mania.to_dict()},
            {"group": "strict (no normal purchase anywhere)", **self.strict.to_dict()},
            {"group": "all coupon purchases", **self.all_coupon_purchases.to_dict()},
        ]
        return pd.DataFrame(rows)


_EMPTY_PROFILE = PurchaseProfile(None, None, None, None)


def _ratio(total: object, count: object) -> float | None:
    if count is None or pd.isna(count) or int(count) == 0:  # type: ignore[call-overload,arg-type]
        return None
    return float(total) / float(count)  # type: ignore[arg-type]


def shopping_mania(
    data: ir.Table | O2OData, *, has_purchase_dates: bool | None = None
) -> ShoppingMania:
    """Find the ``shopping_mania`` users (seed and strict definitions) and compare their purchases.

    Args:
        data: the canonical O2O table, or the :class:`O2OData` a load returned.
        has_purchase_dates: whether the file has a ``Date`` column (``None``: take it from
            ``data``).
    """
    t, dated = resolve(data, has_purchase_dates)
    if not dated:
        return ShoppingMania(
            None, None, None, None, _EMPTY_PROFILE, _EMPTY_PROFILE, _EMPTY_PROFILE, NO_DATE_COLUMN
        )
    bought = purchases(t)
    with_coupon = bought.coupon_id.notnull()

    def over_coupon(value: ir.NumericValue) -> ir.NumericValue:
        return ibis.ifelse(with_coupon, value, ibis.null(value.type()))

    days = days_to_use(bought)
    pairs = bought.group_by(["user_id", "merchant_id"]).aggregate(
        coupon_n=with_coupon.sum(),
        normal_n=(~with_coupon).sum(),
        discount_sum=over_coupon(bought.discount_rate).sum(),
        discount_n=over_coupon(bought.discount_rate).count(),
        distance_sum=over_coupon(bought.distance).sum(),
        distance_n=over_coupon(bought.distance).count(),
        days_sum=over_coupon(days).sum(),
        days_n=over_coupon(days).count(),
    )
    sums = ["coupon_n", "normal_n", "discount_sum", "discount_n", "distance_sum", "distance_n"]
    sums += ["days_sum", "days_n"]
    users = pairs.group_by("user_id").aggregate(
        mania=((pairs.coupon_n > 0) & (pairs.normal_n == 0)).any(),
        **{name: pairs[name].sum() for name in sums},
    )
    users = users.mutate(strict=(users.coupon_n > 0) & (users.normal_n == 0))
    totals: dict[str, ir.Value] = {"coupon_users": (users.coupon_n > 0).sum()}
    for group in ("mania", "strict", "all"):
        flag = users[group] if group != "all" else ibis.literal(True)
        totals[f"{group}_users"] = (flag & (users.coupon_n > 0)).sum()
        for name in ("coupon_n", "discount_sum", "discount_n", "distance_sum", "distance_n"):
            totals[f"{group}_{name}"] = ibis.ifelse(flag, users[name], 0).sum()
        for name in ("days_sum", "days_n"):
            totals[f"{group}_{name}"] = ibis.ifelse(flag, users[name], 0).sum()
    row = users.aggregate(**totals).execute().iloc[0]

    def count(name: str) -> int:
        value = row[name]
        return 0 if pd.isna(value) else int(value)

    def profile(group: str) -> PurchaseProfile:
        return PurchaseProfile(
            records=count(f"{group}_coupon_n"),
            mean_discount=_ratio(row[f"{group}_discount_sum"], row[f"{group}_discount_n"]),
            mean_distance=_ratio(row[f"{group}_distance_sum"], row[f"{group}_distance_n"]),
            mean_days_to_use=_ratio(row[f"{group}_days_sum"], row[f"{group}_days_n"]),
        )

    mania = profile("mania")
    return ShoppingMania(
        users=count("mania_users"),
        records=mania.records,
        strict_users=count("strict_users"),
        coupon_users=count("coupon_users"),
        mania=mania,
        strict=profile("strict"),
        all_coupon_purchases=profile("all"),
        status=OK if count("coupon_users") else "not estimable: no purchase was made with a coupon",
    )
