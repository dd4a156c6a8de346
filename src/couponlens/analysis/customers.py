"""The customer-behaviour analyses in one call (DOMAIN §4 and beyond).

:func:`analyse_customers` runs every analysis the loaded tables allow and returns a
:class:`CustomerAnalysis` holding each typed result, its ``results.json`` layout
(:meth:`CustomerAnalysis.to_results_json`) and its findings (:meth:`CustomerAnalysis.findings`).
Without a ticket table (the 2019 release) the ticket-based parts carry the state
:data:`~couponlens.analysis.customers_common.NO_TICKETS`; demographics, platform and OS still
come from the customers and device tables.

The analyses, each a public function returning a typed result:
:func:`~couponlens.analysis.customers_profile.demographics`,
:func:`~couponlens.analysis.customers_activity.time_patterns`,
:func:`~couponlens.analysis.customers_activity.spikes`,
:func:`~couponlens.analysis.customers_activity.platform_shares`,
:func:`~couponlens.analysis.customers_activity.os_shares`,
:func:`~couponlens.analysis.customers_activity.payment_mix`,
:func:`~couponlens.analysis.customers_activity.promotion_use`,
:func:`~couponlens.analysis.customers_behaviour.customer_summary`,
:func:`~couponlens.analysis.customers_activity.failures`,
:func:`~couponlens.analysis.customers_behaviour.cohorts`,
:func:`~couponlens.analysis.customers_behaviour.acquisition`,
:func:`~couponlens.analysis.customers_behaviour.rfm`,
:func:`~couponlens.analysis.customers_value.customer_value`,
:func:`~couponlens.analysis.customers_behaviour.promotion_responsiveness`.

Example:
    >>> import pandas as pd
    >>> from couponlens.datasets.customers import customer_data_from_frames
    >>> t = pd.DataFrame({"ticket_id": ["a", "b", "c"], "customer_id": [1, 1, 2],
    ...     "time": ["2019-01-03 19:00:00", "2019-01-10 20:00:00", "2019-02-06 20:00:00"],
    ...     "status_id": [1, 1, 1], "campaign_id": [5, 0, 0], "final_price": [50, 70, 60]})
    >>> a = analyse_customers(customer_data_from_frames(tickets=t), clv=False)
    >>> r = a.to_results_json()
    >>> r["promotion"]["share"], r["customers"]["one_day_share"], r["clv"]["status"]
    (0.3333333333333333, 0.5, 'not computed: turned off')
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from couponlens._results import Result, jsonable
from couponlens.analysis.customers_activity import (
    Failures,
    OSShares,
    PaymentMix,
    PlatformShares,
    PromotionUse,
    Spikes,
    TimePatterns,
    failures,
    os_shares,
    payment_mix,
    platform_shares,
    promotion_use,
    spikes,
    time_patterns,
)
from couponlens.analysis.customers_behaviour import (
    RFM,
    Acquisition,
    Cohorts,
    CustomerSummary,
    acquisition,
    cohorts,
    customer_summary,
    promotion_responsiveness,
    rfm,
    rfm_table,
    segment_tables,
)
from couponlens.analysis.customers_common import NO_TICKETS, as_of_date
from couponlens.analysis.customers_profile import Demographics, demographics
from couponlens.analysis.customers_value import CLV, customer_value
from couponlens.datasets.customers import CustomerData

#: The steps :func:`analyse_customers` runs, in order (the names its progress callback gets).
ANALYSIS_STEPS: tuple[str, ...] = (
    "demographics",
    "time patterns",
    "spikes",
    "platform",
    "operating systems",
    "payment",
    "promotion",
    "customers",
    "failures",
    "cohorts",
    "acquisition",
    "rfm",
    "responsiveness",
    "clv",
)


@dataclass(frozen=True, repr=False)
class Unavailable(Result):
    """A result that could not be computed; ``status`` says why."""

    status: str


@dataclass(frozen=True, repr=False)
class CustomerAnalysis(Result):
    """Every customer analysis of one load (see :func:`analyse_customers`)."""

    as_of: dt.date
    demographics: Demographics | Unavailable
    time: TimePatterns | Unavailable
    spikes: Spikes | Unavailable
    platform: PlatformShares | Unavailable
    os: OSShares | Unavailable
    payment: PaymentMix | Unavailable
    promotion: PromotionUse | Unavailable
    customers: CustomerSummary | Unavailable
    failures: Failures | Unavailable
    cohorts: Cohorts | Unavailable
    acquisition: Acquisition | Unavailable
    rfm: RFM | Unavailable
    clv: CLV | Unavailable

    def to_results_json(self) -> dict[str, Any]:
        """The ``results.json`` content: one key per analysis (``demographics, time, platform,
        os, payment, promotion, customers, failures, cohorts, acquisition, rfm, clv``), spikes
        under ``time.spikes`` and responsiveness under ``promotion.responsiveness``."""
        out: dict[str, Any] = {"as_of": self.as_of}
        for f in dataclasses.fields(self):
            if f.name in ("as_of", "spikes"):
                continue
            out[f.name] = getattr(self, f.name).to_dict()
        out["time"]["spikes"] = self.spikes.to_dict()
        return jsonable(out)  # type: ignore[no-any-return]

    def findings(self) -> list[str]:
        """Sentences generated from the numbers (see :func:`customer_findings`)."""
        from couponlens.analysis.customers_findings import customer_findings

        return customer_findings(self)


def analyse_customers(
    data: CustomerData,
    *,
    as_of: dt.date | None = None,
    clv: bool = True,
    horizon_days: int = 365,
    progress: Callable[[str], object] | None = None,
) -> CustomerAnalysis:
    """Run every customer analysis the loaded tables allow.

    Args:
        data: the canonical tables from :func:`~couponlens.datasets.customers.load_customer_data`.
        as_of: the analysis date (ages, recency, CLV); the last ticket's day by default.
        clv: fit the BG/NBD + Gamma-Gamma models (a few seconds; off for quick looks).
        horizon_days: the CLV horizon.
        progress: called with each of :data:`ANALYSIS_STEPS` as it finishes.
    """
    done = progress if progress is not None else (lambda _step: None)
    day = as_of_date(data, as_of)
    has_tickets = data.tickets is not None
    no_customers = Unavailable("not available: the data has no customers table")
    no_tickets = Unavailable(NO_TICKETS)
    results: dict[str, Any] = {}

    def ticket_step(name: str, run: Callable[[], Any]) -> Any:
        return run() if has_tickets else no_tickets

    results["demographics"] = (
        demographics(data, day) if data.customers is not None else no_customers
    )
    done("demographics")
    results["time"] = ticket_step("time", lambda: time_patterns(data))
    done("time patterns")
    results["spikes"] = ticket_step("spikes", lambda: spikes(data))
    done("spikes")
    results["platform"] = (
        platform_shares(data)
        if has_tickets or data.devices is not None
        else Unavailable("not available: the data has neither tickets nor devices")
    )
    done("platform")
    results["os"] = (
        os_shares(data)
        if has_tickets or data.devices is not None
        else Unavailable("not available: the data has neither tickets nor devices")
    )
    done("operating systems")
    results["payment"] = ticket_step("payment", lambda: payment_mix(data))
    done("payment")
    results["promotion"] = ticket_step("promotion", lambda: promotion_use(data))
    done("promotion")
    results["customers"] = ticket_step("customers", lambda: customer_summary(data))
    done("customers")
    results["failures"] = ticket_step("failures", lambda: failures(data))
    done("failures")
    results["cohorts"] = ticket_step("cohorts", lambda: cohorts(data))
    done("cohorts")
    results["acquisition"] = ticket_step("acquisition", lambda: acquisition(data))
    done("acquisition")
    results["rfm"] = ticket_step("rfm", lambda: rfm(data, day))
    done("rfm")
    if has_tickets:
        responsiveness = promotion_responsiveness(data, segment_tables(data, day))
        results["promotion"] = dataclasses.replace(
            results["promotion"], responsiveness=responsiveness
        )
    done("responsiveness")
    if not has_tickets:
        results["clv"] = no_tickets
    elif not clv:
        results["clv"] = Unavailable("not computed: turned off")
    else:
        segments: pd.DataFrame = rfm_table(data, day).select("customer_id", "segment").execute()
        results["clv"] = customer_value(data, day, horizon_days, segments)
    done("clv")
    return CustomerAnalysis(as_of=day, **results)


__all__ = ["ANALYSIS_STEPS", "CustomerAnalysis", "Unavailable", "analyse_customers"]
