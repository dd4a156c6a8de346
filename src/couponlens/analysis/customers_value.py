"""Customer lifetime value: BG/NBD for repeat visits and Gamma-Gamma for spend (pymc-marketing).

The per-customer summary is built on the engine from successful tickets, one *transaction* per
active day (several tickets on one day are one visit), in days:

- ``frequency``: active days - 1 (repeat visits);
- ``recency``: days from the first to the last active day;
- ``T``: days from the first active day to the analysis date;
- ``monetary_value``: mean final price paid per repeat active day (0 without repeats).

The BG/NBD model (Fader, Hardie & Lee 2005) and the Gamma-Gamma spend model (Fader, Hardie &
Lee 2005, with the independence of spend and frequency it assumes) are fitted by maximum a
posteriori with flat priors on ``r, alpha, a, b`` and ``p, q, v`` (so the estimates are the
maximum-likelihood ones) using ``pymc_marketing.clv`` (see docs/customers.md for the choice).
CLV over ``horizon_days`` = the library's expected visits in the horizon x its expected spend
per visit (undiscounted; Gamma-Gamma's conditional mean, which for one-time customers is the
population mean).

Example:
    >>> import pandas as pd
    >>> from couponlens.datasets.customers import customer_data_from_frames
    >>> t = pd.DataFrame({"ticket_id": ["a", "b", "c"], "customer_id": [1, 1, 2],
    ...     "time": ["2019-01-03 19:00:00", "2019-01-10 20:00:00", "2019-02-06 20:00:00"],
    ...     "status_id": [1, 1, 1], "campaign_id": [0, 0, 0], "final_price": [50, 70, 60]})
    >>> clv_summary(customer_data_from_frames(tickets=t)).sort_values("customer_id").to_dict("list")
    {'customer_id': [1, 2], 'frequency': [1, 0], 'recency': [7, 0], 'T': [34, 0], 'monetary_value': [70.0, 0.0]}
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import ibis
import numpy as np
import pandas as pd

from couponlens._results import Result
from couponlens.analysis.customers_common import OK, as_of_date, literal_date, successful
from couponlens.datasets.customers import CustomerData

#: Fewer buyers or repeat buyers than these and the models are not fitted.
MIN_CUSTOMERS = 20
MIN_REPEATERS = 10


def clv_summary(data: CustomerData, as_of: dt.date | None = None) -> pd.DataFrame:
    """``customer_id, frequency, recency, T, monetary_value`` per buyer (see the module docstring)."""
    day = as_of_date(data, as_of)
    s = successful(data)
    days = s.group_by(["customer_id", "date"]).aggregate(spend=s.final_price.sum())
    first = days.group_by("customer_id").aggregate(first=days.date.min())
    j = days.join(first, "customer_id")
    j = j.mutate(repeat=j.date > j.first)
    g = j.group_by("customer_id").aggregate(
        frequency=j.repeat.sum().cast("int64"),
        first=j.first.min(),
        last=j.date.max(),
        repeat_spend=ibis.ifelse(j.repeat, j.spend, ibis.null("float64")).sum(),
    )
    out = g.select(
        "customer_id",
        "frequency",
        recency=g.last.delta(g.first, unit="day"),
        T=literal_date(day).delta(g.first, unit="day"),
        monetary_value=ibis.ifelse(g.frequency > 0, g.repeat_spend.fill_null(0) / g.frequency, 0.0),
    ).execute()
    out = out.sort_values("customer_id", ignore_index=True)  # the engine's row order varies
    for column in ("frequency", "recency", "T"):
        out[column] = out[column].astype("int64")
    out["monetary_value"] = out["monetary_value"].astype(float)
    return out


@dataclass(frozen=True, repr=False)
class CLV(Result):
    """Fitted BG/NBD and Gamma-Gamma parameters and the predicted value of the customers.

    ``by_segment``: RFM segment -> customers, mean P(alive), expected visits and CLV (mean and
    total); ``top``: the 20 customers of highest CLV; ``deciles``: CLV deciles.
    ``status`` says why nothing was fitted (too few customers, no repeats, a fit failure).
    """

    as_of: dt.date
    horizon_days: int
    customers: int
    repeaters: int
    bgnbd: dict[str, float]
    gamma_gamma: dict[str, float]
    mean_probability_alive: float | None
    expected_visits: float | None
    mean_spend: float | None
    total_clv: float | None
    mean_clv: float | None
    by_segment: pd.DataFrame
    top: pd.DataFrame
    deciles: pd.DataFrame
    library: str = ""
    status: str = OK
    notes: list[str] = field(default_factory=list)


def _quiet() -> None:
    for name in ("pymc", "pytensor", "pymc_marketing", "pymc_extras"):
        logging.getLogger(name).setLevel(logging.ERROR)


def fit_bgnbd(summary: pd.DataFrame) -> tuple[Any, dict[str, float]]:
    """Fit BG/NBD (flat priors, MAP = maximum likelihood) and return the model and ``r, alpha, a, b``."""
    _quiet()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pymc_extras.prior import Prior
        from pymc_marketing.clv import BetaGeoModel

        config = {name: Prior("HalfFlat") for name in ("r", "alpha", "a", "b")}
        frame = summary[["customer_id", "frequency", "recency", "T"]].astype(
            {"frequency": float, "recency": float, "T": float}
        )
        model = BetaGeoModel(data=frame, model_config=config)
        model.fit(method="map", progressbar=False)
        values = model.fit_summary()
    params = {k: float(values[k]) for k in ("r", "alpha", "a", "b")}
    return model, params


def fit_gamma_gamma(summary: pd.DataFrame) -> tuple[Any, dict[str, float]]:
    """Fit Gamma-Gamma on repeat buyers (flat priors, MAP) and return the model and ``p, q, v``."""
    _quiet()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pymc_marketing.clv import GammaGammaModel

        frame = summary[["customer_id", "frequency", "monetary_value"]].astype(
            {"frequency": float, "monetary_value": float}
        )
        model = GammaGammaModel(data=frame)
        model.fit(method="map", progressbar=False)
        values = model.fit_summary()
    params = {k: float(values[k]) for k in ("p", "q", "v")}
    return model, params


def _per_customer(values: Any) -> np.ndarray:
    """A library prediction (an xarray over chain, draw, customer) as one value per customer."""
    array = values.mean(dim=[d for d in values.dims if d in ("chain", "draw")])
    return np.asarray(array.values, dtype=float).reshape(-1)


def customer_value(
    data: CustomerData,
    as_of: dt.date | None = None,
    horizon_days: int = 365,
    segments: pd.DataFrame | None = None,
) -> CLV:
    """Fit BG/NBD + Gamma-Gamma and predict each buyer's visits and value over ``horizon_days``.

    ``segments`` (``customer_id, segment``), e.g. the RFM segments, groups the predictions.
    """
    day = as_of_date(data, as_of)
    summary = clv_summary(data, day)
    n = len(summary)
    repeaters = int((summary.frequency > 0).sum())
    empty = pd.DataFrame()

    def not_fitted(reason: str) -> CLV:
        return CLV(day, horizon_days, n, repeaters, {}, {}, None, None, None, None, None,
                   empty, empty, empty, status=reason)  # fmt: skip

    if n < MIN_CUSTOMERS or repeaters < MIN_REPEATERS:
        return not_fitted(
            f"not estimable: {n:,} buyers and {repeaters:,} repeat buyers "
            f"(at least {MIN_CUSTOMERS} and {MIN_REPEATERS} needed)"
        )
    from importlib.metadata import version

    library = f"pymc-marketing {version('pymc-marketing')}"
    try:
        bg_model, bg = fit_bgnbd(summary)
        rep = summary[(summary.frequency > 0) & (summary.monetary_value > 0)]
        gg_model, gg = fit_gamma_gamma(rep)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = summary.astype({"frequency": float, "recency": float, "T": float})
            visits = _per_customer(
                bg_model.expected_purchases(data=frame, future_t=float(horizon_days))
            )
            alive = _per_customer(bg_model.expected_probability_alive(data=frame))
            spend = _per_customer(gg_model.expected_customer_spend(data=frame))
    except Exception as exc:  # a numerical failure of the optimiser must not end the report
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return not_fitted(f"not estimable: the model fit failed ({first})")
    notes = []
    if abs(bg["a"] - 1) < 1e-3:
        notes.append("BG/NBD a is close to 1, where the expected-visits formula is singular")
    out = summary.assign(probability_alive=alive, expected_visits=visits, expected_spend=spend)
    out["clv"] = out.expected_visits * out.expected_spend
    if segments is not None and not segments.empty:
        out = out.merge(segments[["customer_id", "segment"]], on="customer_id", how="left")
        out["segment"] = out.segment.fillna("unknown")
        by = (
            out.groupby("segment")
            .agg(
                customers=("customer_id", "size"),
                probability_alive=("probability_alive", "mean"),
                expected_visits=("expected_visits", "mean"),
                mean_clv=("clv", "mean"),
                total_clv=("clv", "sum"),
            )
            .reset_index()
            .sort_values("mean_clv", ascending=False)
            .reset_index(drop=True)
        )
    else:
        by = empty
    top = out.sort_values(["clv", "customer_id"], ascending=[False, True]).head(20)
    qs = np.linspace(0.1, 1.0, 10)
    deciles = pd.DataFrame({"quantile": qs, "clv": np.quantile(out.clv.to_numpy(), qs)})
    return CLV(
        as_of=day,
        horizon_days=horizon_days,
        customers=n,
        repeaters=repeaters,
        bgnbd=bg,
        gamma_gamma=gg,
        mean_probability_alive=float(out.probability_alive.mean()),
        expected_visits=float(out.expected_visits.sum()),
        mean_spend=float(gg["p"] * gg["v"] / (gg["q"] - 1)) if gg["q"] > 1 else None,
        total_clv=float(out.clv.sum()),
        mean_clv=float(out.clv.mean()),
        by_segment=by,
        top=top.reset_index(drop=True),
        deciles=deciles,
        library=library,
        notes=notes,
    )
