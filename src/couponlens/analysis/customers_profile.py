"""Who the customers are: gender, age buckets and generations (DOMAIN §4).

Ages are whole years on the analysis date (the last ticket's day by default). Birth dates the
loader marked unknown (the 1970-01-01 placeholder of not-verified accounts) and birth dates
after the analysis date count as *unknown*, never as an age.

Generations by birth year: Silent (to 1945), Baby Boomers (1946-1964), Gen X (1965-1980),
Gen Y (1981-1996), Gen Z (1997-2012), Gen Alpha (from 2013).

Example:
    >>> import datetime as dt, pandas as pd
    >>> from couponlens.datasets.customers import customer_data_from_frames
    >>> people = pd.DataFrame({"user_id": [1, 2, 3], "usergender": [1, 2, 0],
    ...                        "dob": ["1990-05-01", "2000-01-01", "1970-01-01"]})
    >>> d = demographics(customer_data_from_frames(customers=people), as_of=dt.date(2022, 12, 31))
    >>> d.gen_y_z_share, d.unknown_birth_dates
    (1.0, 1)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

from couponlens._results import Result
from couponlens.analysis.customers_common import OK, as_of_date, none_if_nan, shares_frame
from couponlens.datasets.customers import CustomerData

#: Age buckets (label, lowest age, highest age) in report order.
AGE_BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("under 18", 0, 17),
    ("18-24", 18, 24),
    ("25-34", 25, 34),
    ("35-44", 35, 44),
    ("45-54", 45, 54),
    ("55+", 55, 200),
)
#: Generations (label, first birth year, last birth year) in report order.
GENERATIONS: tuple[tuple[str, int, int], ...] = (
    ("Silent", 1900, 1945),
    ("Baby Boomers", 1946, 1964),
    ("Gen X", 1965, 1980),
    ("Gen Y", 1981, 1996),
    ("Gen Z", 1997, 2012),
    ("Gen Alpha", 2013, 2100),
)
UNKNOWN = "unknown"
GENDER_ORDER: tuple[str, ...] = ("male", "female", "not verified", "unknown")


def age_on(birth: ir.DateValue, as_of: dt.date) -> ir.IntegerValue:
    """Whole years from ``birth`` to ``as_of`` (null for a null birth date)."""
    before_birthday = (birth.month() * 100 + birth.day()) > (as_of.month * 100 + as_of.day)
    return (as_of.year - birth.year() - before_birthday.cast("int64")).cast("int64")


def age_bucket(age: ir.IntegerValue) -> ir.StringValue:
    """The :data:`AGE_BUCKETS` label of an age; ``unknown`` for null or negative ages."""
    cases = [((age >= lo) & (age <= hi), ibis.literal(label)) for label, lo, hi in AGE_BUCKETS]
    return ibis.cases(*cases, else_=ibis.literal(UNKNOWN))


def generation(birth: ir.DateValue, as_of: dt.date | None = None) -> ir.StringValue:
    """The :data:`GENERATIONS` label of a birth date; ``unknown`` for null (or future) dates."""
    year = birth.year()
    known = birth.notnull()
    if as_of is not None:
        known = known & (birth <= ibis.literal(as_of, type="date"))
    cases = [(known & (year >= lo) & (year <= hi), ibis.literal(g)) for g, lo, hi in GENERATIONS]
    return ibis.cases(*cases, else_=ibis.literal(UNKNOWN))


def customer_profiles(data: CustomerData, as_of: dt.date) -> ir.Table:
    """``customer_id, gender, age, age_bucket, generation`` for every customer (materialised)."""
    return data.cached(f"customer_profiles {as_of}", lambda: _customer_profiles(data, as_of))


def _customer_profiles(data: CustomerData, as_of: dt.date) -> ir.Table:
    c = data.require("customers")
    birth = ibis.ifelse(
        c.birth_date <= ibis.literal(as_of, type="date"), c.birth_date, ibis.null("date")
    )
    age = age_on(birth, as_of)
    return c.select(
        "customer_id",
        gender=c.gender.fill_null(UNKNOWN),
        age=age,
        age_bucket=age_bucket(age),
        generation=generation(birth),
    )


@dataclass(frozen=True, repr=False)
class Demographics(Result):
    """Gender, age-bucket and generation counts with shares of all customers.

    ``gen_y_z_share`` is Gen Y + Gen Z over customers with a known birth date;
    ``age_p25``/``age_p75`` bound the middle half of the known ages.
    """

    customers: int
    as_of: dt.date
    gender: pd.DataFrame
    age_buckets: pd.DataFrame
    generations: pd.DataFrame
    unknown_birth_dates: int
    placeholder_birth_dates: int
    gen_y_z_share: float | None
    median_age: float | None
    age_p25: float | None
    age_p75: float | None
    status: str = OK


def _counts(t: ir.Table, column: str, order: tuple[str, ...]) -> pd.DataFrame:
    frame = t.group_by(column).aggregate(customers=t.count()).execute()
    frame = frame.set_index(column).reindex(list(order)).fillna(0).reset_index()
    frame["customers"] = frame["customers"].astype("int64")
    return shares_frame(frame, "customers")


def demographics(data: CustomerData, as_of: dt.date | None = None) -> Demographics:
    """Gender, age buckets and generations of the customers table.

    Args:
        data: the loaded tables (the customers table is needed).
        as_of: the date ages are taken on; the last ticket's day by default.

    Example:
        >>> import pandas as pd
        >>> from couponlens.datasets.customers import customer_data_from_frames
        >>> people = pd.DataFrame({"customer_id": [1], "usergender": ["Female"], "dob": ["1999-02-03"]})
        >>> demographics(customer_data_from_frames(customers=people)).gender["customers"].tolist()
        [0, 1, 0, 0]
    """
    day = as_of_date(data, as_of)
    profiles = customer_profiles(data, day)
    gender = _counts(profiles, "gender", GENDER_ORDER)
    ages = _counts(profiles, "age_bucket", (*[b[0] for b in AGE_BUCKETS], UNKNOWN))
    ages = ages.rename(columns={"age_bucket": "age"})
    gens = _counts(profiles, "generation", (*[g[0] for g in GENERATIONS], UNKNOWN))
    known = profiles.filter(profiles.generation != UNKNOWN)
    stats = known.aggregate(
        n=known.count(),
        yz=known.generation.isin(["Gen Y", "Gen Z"]).sum(),
        median=known.age.median(),
        p25=known.age.quantile(0.25),
        p75=known.age.quantile(0.75),
    ).execute()
    n_known = int(stats["n"].iloc[0])
    total = int(gender["customers"].sum())
    return Demographics(
        customers=total,
        as_of=day,
        gender=gender,
        age_buckets=ages,
        generations=gens,
        unknown_birth_dates=total - n_known,
        placeholder_birth_dates=data.report.placeholder_birth_dates,
        gen_y_z_share=float(stats["yz"].iloc[0]) / n_known if n_known else None,
        median_age=none_if_nan(stats["median"].iloc[0]),
        age_p25=none_if_nan(stats["p25"].iloc[0]),
        age_p75=none_if_nan(stats["p75"].iloc[0]),
    )
