"""The AmExpert, customer and experiment loaders' value parsers under generated input (hypothesis).

Each property writes generated texts into a small file, loads it, and compares with an
independent Python oracle: every value the oracle accepts loads as the oracle's value, and when
the oracle refuses one the load stops with an error naming the first bad line and its column.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from couponlens.datasets.amexpert import load_amexpert
from couponlens.datasets.customers import load_customer_data
from couponlens.datasets.experiment import load_experiment
from couponlens.engine import connect
from couponlens.errors import InputError, ValidationError

SETTINGS = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


# --------------------------------------------------------------------------- AmExpert


def _oracle_plus(text: str) -> int | None | str:
    """``5+`` -> 5, ``3`` -> 3, blank -> None (unknown); "bad" otherwise."""
    t = text.strip()
    if not t:
        return None
    return int(t.rstrip("+")) if re.fullmatch(r"[0-9]{1,3}\+?", t) else "bad"


def _oracle_date(text: str) -> dt.date | None:
    """``dd/mm/yy`` (20yy) or ``yyyy-mm-dd`` (1900-2099); None when not a real calendar date."""
    t = text.strip()
    try:
        if re.fullmatch(r"[0-9]{1,2}/[0-9]{1,2}/[0-9]{2}", t):
            day, month, year = (int(p) for p in t.split("/"))
            return dt.date(2000 + year, month, day)
        if re.fullmatch(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}", t):
            year, month, day = (int(p) for p in t.split("-"))
            return dt.date(year, month, day) if 1900 <= year <= 2099 else None
    except ValueError:
        return None
    return None


def _dmy(day: int, month: int, year: int, pad: bool) -> str:
    return f"{day:02d}/{month:02d}/{year % 100:02d}" if pad else f"{day}/{month}/{year % 100:02d}"


_date_texts = st.one_of(
    st.dates(dt.date(2000, 1, 1), dt.date(2049, 12, 31)).map(lambda d: d.strftime("%d/%m/%y")),
    st.dates(dt.date(2000, 1, 1), dt.date(2049, 12, 31)).map(
        lambda d: f"{d.day}/{d.month}/{d.strftime('%y')}"
    ),
    st.dates(dt.date(2050, 1, 1), dt.date(2099, 12, 31)).map(lambda d: d.isoformat()),
)
#: Texts that are mostly not dates, or impossible ones (30/02/16, month 13, year 0000).
_odd_date_texts = st.one_of(
    st.builds(_dmy, st.integers(0, 32), st.integers(0, 13), st.integers(2000, 2099), st.booleans()),
    st.dates(dt.date(1, 1, 1), dt.date(1999, 12, 31)).map(lambda d: d.isoformat()),
    st.sampled_from(["0000-01-01", "2016-02-30", "30/02/16", "1/13/16", "2016-2-5", " 1/2/16 "]),
    st.text(alphabet="0123456789/- ", min_size=1, max_size=10),
)
_plus_texts = st.one_of(
    st.integers(0, 999).map(str), st.integers(0, 999).map(lambda n: f"{n}+"), st.just("")
)
_odd_plus_texts = st.text(alphabet="0123456789+- ", max_size=5)


def _with_one_odd(
    values: st.SearchStrategy[list[str]], odd: st.SearchStrategy[str]
) -> st.SearchStrategy[list[str]]:
    """Lists of ordinary texts, half of them with one odd text put at a random place."""

    @st.composite
    def build(draw: st.DrawFn) -> list[str]:
        drawn = draw(values)
        if draw(st.booleans()):
            drawn.insert(draw(st.integers(0, len(drawn))), draw(odd))
        return drawn

    return build()


def _amexpert_folder(
    folder: Path, campaigns: list[tuple[str, str]], people: list[tuple[str, str]]
) -> None:
    folder.mkdir()
    (folder / "train.csv").write_text(
        "id,campaign_id,coupon_id,customer_id,redemption_status\n1,1,1,1,0\n2,1,1,2,1\n"
    )
    (folder / "campaign_data.csv").write_text(
        "campaign_id,campaign_type,start_date,end_date\n"
        + "".join(f"{i + 1},X,{s},{e}\n" for i, (s, e) in enumerate(campaigns))
    )
    (folder / "coupon_item_mapping.csv").write_text("coupon_id,item_id\n1,1\n")
    (folder / "item_data.csv").write_text("item_id,brand,brand_type,category\n1,1,Local,Grocery\n")
    (folder / "customer_demographics.csv").write_text(
        "customer_id,age_range,marital_status,rented,family_size,no_of_children,income_bracket\n"
        + "".join(f"{i + 1},26-35,,0,{f},{c},3\n" for i, (f, c) in enumerate(people))
    )


def _first_amexpert_problem(
    campaigns: list[tuple[str, str]], people: list[tuple[str, str]]
) -> tuple[str, int, str] | None:
    """(file, line, column) of the first bad value, tables in the loader's order."""
    for i, (start, end) in enumerate(campaigns):
        s, e = _oracle_date(start), _oracle_date(end)
        if s is None:
            return "campaign_data.csv", i + 2, "start_date"
        if e is None or e < s:
            return "campaign_data.csv", i + 2, "end_date"
    for i, (family, children) in enumerate(people):
        if _oracle_plus(family) == "bad":
            return "customer_demographics.csv", i + 2, "family_size"
        if _oracle_plus(children) == "bad":
            return "customer_demographics.csv", i + 2, "no_of_children"
    return None


@SETTINGS
@given(
    starts=_with_one_odd(st.lists(_date_texts, min_size=1, max_size=6), _odd_date_texts),
    lengths=st.lists(st.integers(-3, 90), min_size=7, max_size=7),
    families=_with_one_odd(st.lists(_plus_texts, min_size=1, max_size=8), _odd_plus_texts),
    children=st.lists(_plus_texts, min_size=9, max_size=9),
)
def test_amexpert_plus_counts_and_dates_match_the_oracle(
    tmp_path_factory: pytest.TempPathFactory,
    starts: list[str],
    lengths: list[int],
    families: list[str],
    children: list[str],
) -> None:
    campaigns = []
    for start, days in zip(starts, lengths, strict=False):  # end: a few days before or after
        begun = _oracle_date(start)
        end = start if begun is None else (begun + dt.timedelta(days=days)).strftime("%d/%m/%y")
        campaigns.append((start, end))
    people = list(zip(families, children, strict=False))
    folder = tmp_path_factory.mktemp("amx") / "data"
    _amexpert_folder(folder, campaigns, people)
    problem = _first_amexpert_problem(campaigns, people)
    event("refused" if problem else "loaded")
    if problem is not None:
        name, line, column = problem
        with pytest.raises(ValidationError) as raised:
            load_amexpert(folder, connect(threads=1))
        error = raised.value
        assert (Path(error.path).name, error.line, error.column) == (name, line, column)
        return
    data = load_amexpert(folder, connect(threads=1))
    loaded = data.campaigns.order_by("line_number").execute()
    assert [d.date() for d in pd.to_datetime(loaded["start_date"])] == [
        _oracle_date(s) for s, _ in campaigns
    ]
    assert [d.date() for d in pd.to_datetime(loaded["end_date"])] == [
        _oracle_date(e) for _, e in campaigns
    ]
    demo = data.demographics.order_by("line_number").execute()
    for column, index in (("family_size", 0), ("no_of_children", 1)):
        got = [None if pd.isna(v) else int(v) for v in demo[column]]
        assert got == [_oracle_plus(p[index]) for p in people], column


# --------------------------------------------------------------------------- customers


def _oracle_whole(text: str) -> int | None | str:
    """A whole number (``12``, ``12.0``, ``+5``), blank -> None; "bad" for fractions, exponents,
    infinities and numbers beyond 64 bits."""
    t = text.strip()
    if not t:
        return None
    try:
        number = float(t)
    except ValueError:
        return "bad"
    if "e" in t.lower() or not math.isfinite(number) or number % 1 or abs(number) >= 9.2e18:
        return "bad"
    try:
        return int(Decimal(t))
    except InvalidOperation:
        return "bad"


def _oracle_amount(text: str) -> float | None | str:
    t = text.strip()
    if not t:
        return None
    try:
        number = float(t)
    except ValueError:
        return "bad"
    return number if math.isfinite(number) else "bad"


def _oracle_time(text: str) -> dt.datetime | None | str:
    t = text.strip()
    if not t:
        return None
    try:
        return dt.datetime.strptime(t, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return "bad"


_id_texts = st.one_of(
    st.integers(-(2**62), 2**62).map(str), st.integers(0, 10**6).map(lambda n: f"{n}.0")
)
_odd_id_texts = st.text(alphabet="0123456789.+-eE_ inf", max_size=8) | st.sampled_from(
    ["1e6", "1e30", "inf", "nan", "12.5", "9223372036854775807", "12345678901234567", " 7 "]
)
_amount_texts = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(0, 1e6, allow_nan=False).map(lambda f: f"{f:.2f}"),
)
_odd_amount_texts = st.text(alphabet="0123456789.+-eE_ ifna", max_size=8) | st.sampled_from(
    ["inf", "-Infinity", "nan", "1e400", "1_000", "0x1F", ".5", "5.", "+3"]
)
_valid_times = st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2030, 12, 31)).map(
    lambda d: d.strftime("%Y-%m-%d %H:%M:%S")
)
_odd_times = st.builds(
    lambda y, mo, d, h, mi, s: f"{y}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d}",
    st.integers(1990, 2030),
    st.integers(0, 13),
    st.integers(0, 32),
    st.integers(0, 25),
    st.integers(0, 61),
    st.integers(0, 61),
)


@SETTINGS
@given(
    ids=_with_one_odd(st.lists(_id_texts, min_size=1, max_size=12), _odd_id_texts),
    amounts=_with_one_odd(st.lists(_amount_texts, min_size=13, max_size=13), _odd_amount_texts),
    times=_with_one_odd(st.lists(_valid_times, min_size=14, max_size=14), _odd_times),
)
def test_customer_ids_amounts_and_times_match_the_oracle(
    tmp_path_factory: pytest.TempPathFactory, ids: list[str], amounts: list[str], times: list[str]
) -> None:
    rows = list(zip(ids, amounts, times, strict=False))
    folder = tmp_path_factory.mktemp("tickets")
    lines = [f"T{i},{c},{t},{p}" for i, (c, p, t) in enumerate(rows)]
    (folder / "ticket_history.csv").write_text(
        "ticket_id,customer_id,time,original_price\n" + "\n".join(lines) + "\n"
    )
    expected = {
        "customer_id": [_oracle_whole(c) for c, _, _ in rows],
        "original_price": [_oracle_amount(p) for _, p, _ in rows],
        "time": [_oracle_time(t) for _, _, t in rows],
    }
    event("refused" if any("bad" in v for v in expected.values()) else "loaded")
    for column, values in expected.items():  # the loader checks columns in schema order
        if "bad" in values:
            line = values.index("bad") + 2
            with pytest.raises(InputError, match=rf", line {line}, column {column}: "):
                load_customer_data(folder, con=connect(threads=1))
            return
    tickets = load_customer_data(folder, con=connect(threads=1)).require("tickets")
    # Ids as text: pandas would turn a column with a NULL into floats and round 17-digit ids.
    tickets = tickets.mutate(customer_id=tickets.customer_id.cast("string"))
    frame = tickets.execute().sort_values("ticket_id", key=lambda s: s.str[1:].astype(int))
    assert [None if pd.isna(v) else int(v) for v in frame["customer_id"]] == expected["customer_id"]
    prices = [None if pd.isna(v) else float(v) for v in frame["original_price"]]
    assert [p is None for p in prices] == [e is None for e in expected["original_price"]]
    assert [p for p in prices if p is not None] == pytest.approx(
        [e for e in expected["original_price"] if e is not None], rel=1e-15
    )
    assert [None if pd.isna(v) else pd.Timestamp(v).to_pydatetime() for v in frame["time"]] == (
        expected["time"]
    )


# --------------------------------------------------------------------------- experiments


@SETTINGS
@given(values=_with_one_odd(st.lists(_amount_texts, min_size=2, max_size=20), _odd_amount_texts))
def test_experiment_outcomes_match_the_oracle(
    tmp_path_factory: pytest.TempPathFactory, values: list[str]
) -> None:
    path = tmp_path_factory.mktemp("experiment") / "test.csv"
    arms = ["control" if i % 2 else "coupon" for i in range(len(values))]
    path.write_text(
        "arm,spend\n" + "".join(f"{a},{v}\n" for a, v in zip(arms, values, strict=True))
    )
    expected = [_oracle_amount(v) for v in values]
    event("refused" if None in expected or "bad" in expected else "loaded")
    if None in expected or "bad" in expected:
        first = next(i for i, v in enumerate(expected) if v is None or v == "bad")
        with pytest.raises(InputError, match=rf"test.csv, line {first + 2}, column spend: "):
            load_experiment(path, treatment="arm", control="control", outcomes=["spend"])
        return
    data = load_experiment(path, treatment="arm", control="control", outcomes=["spend"])
    loaded = data.table.execute()["spend"].astype(float).tolist()
    assert loaded == pytest.approx(expected, rel=1e-15)
