"""Property-based tests of the parsers: discount texts, dates, segment rules, service discounts.

Each property compares the parser with an independent Python oracle on generated inputs; any
input either parses to the oracle's value or is refused with a clear, typed error (never another
exception).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from couponlens.datasets.o2o import load_o2o, parse_discount, seed_discount_rate
from couponlens.engine import connect
from couponlens.errors import InputError
from couponlens.experiments.segments import SegmentRuleError, parse_segment_rule

HEADER = "User_id,Merchant_id,Coupon_id,Discount_rate,Distance,Date_received,Date"
SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

_NUMBER = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_SPEND_SAVE = re.compile(r"^([0-9]+(\.[0-9]+)?):([0-9]+(\.[0-9]+)?)$")


def _oracle_discount(text: str) -> float | None:
    """The converted rate the loader must give, or None when the row must be quarantined."""
    t = text.strip()
    if _NUMBER.match(t):
        rate = float(t)
        return rate if 0 < rate <= 1 else None
    found = _SPEND_SAVE.match(t)
    if found:
        x, y = float(found.group(1)), float(found.group(3))
        return seed_discount_rate(x, y) if 0 < y < x else None
    return None


_discount_texts = st.one_of(
    st.builds(lambda x, y: f"{x}:{y}", st.integers(0, 500), st.integers(0, 500)),
    st.floats(0, 2, allow_nan=False).map(lambda f: f"{f:.2f}"),
    st.text(alphabet="0123456789.:-e ", min_size=1, max_size=8),
).filter(
    lambda t: (
        "," not in t
        and "\n" not in t
        and "\r" not in t
        and t.strip().lower() != "null"
        and t.strip() != ""
    )
)


@SETTINGS
@given(texts=st.lists(_discount_texts, min_size=1, max_size=30))
def test_discount_texts_match_the_oracle(tmp_path: Path, texts: list[str]) -> None:
    lines = [f"{i + 1},7,{100 + i},{t},1,20160105,null" for i, t in enumerate(texts)]
    path = tmp_path / "d.csv"
    path.write_text(HEADER + "\n" + "\n".join(lines) + "\n")
    data = load_o2o(path, connect(threads=1))
    kept = data.table.execute().set_index("line_number")
    assert (
        data.report.rows_read == len(texts) == data.report.rows_kept + data.report.rows_quarantined
    )
    for i, text in enumerate(texts):
        expected = _oracle_discount(text)
        if expected is None:
            assert i + 2 not in kept.index, text
        else:
            assert kept.loc[i + 2, "discount_rate"] == pytest.approx(expected), text
        # The service's parser agrees with the loader on every text.
        try:
            service_rate: float | None = parse_discount(text)[1]
        except InputError:
            service_rate = None
        assert (service_rate is None) == (expected is None), text
        if expected is not None:
            assert service_rate == pytest.approx(expected)


_date_texts = st.one_of(
    st.dates(dt.date(2000, 1, 1), dt.date(2030, 12, 31)).map(lambda d: d.strftime("%Y%m%d")),
    st.text(alphabet="0123456789", min_size=8, max_size=8),
    st.text(alphabet="0123456789-/", min_size=1, max_size=10),
)


def _oracle_date(text: str) -> dt.date | None:
    if not re.fullmatch(r"[0-9]{8}", text):
        return None
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None


@SETTINGS
@given(texts=st.lists(_date_texts, min_size=1, max_size=30))
def test_dates_match_the_oracle(tmp_path: Path, texts: list[str]) -> None:
    lines = [f"{i + 1},7,null,null,1,null,{t}" for i, t in enumerate(texts)]
    path = tmp_path / "dates.csv"
    path.write_text(HEADER + "\n" + "\n".join(lines) + "\n")
    data = load_o2o(path, connect(threads=1))
    kept = data.table.execute().set_index("line_number")
    for i, text in enumerate(texts):
        expected = _oracle_date(text)
        if expected is None:
            assert i + 2 not in kept.index, text
        else:
            assert pd.Timestamp(kept.loc[i + 2, "purchase_date"]).date() == expected, text


# Segment rules: generated valid rules select the same rows as pandas.query; random text is
# either a valid rule or a SegmentRuleError with a caret, never any other exception.
_columns = st.sampled_from(["a", "b", "c"])
_numbers = st.integers(-3, 6)
_comparisons = st.builds(
    lambda col, op, n: f"{col} {op} {n}",
    _columns,
    st.sampled_from(["==", "!=", "<", "<=", ">", ">="]),
    _numbers,
) | st.builds(
    lambda col, values: f"{col} in [{', '.join(map(str, values))}]",
    _columns,
    st.lists(_numbers, min_size=1, max_size=3),
)


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(
        lambda left, op, right: f"({left}) {op} ({right})",
        children,
        st.sampled_from(["&", "|"]),
        children,
    ) | children.map(lambda e: f"~({e})")


_expressions = st.recursive(_comparisons, _combine, max_leaves=6)
_FRAME = pd.DataFrame(
    {
        "a": np.arange(-3, 7).repeat(3),
        "b": np.tile([0, 2, 5], 10),
        "c": np.tile([1.0, np.nan, 4.0], 10),
    }
)


@settings(max_examples=60, deadline=None)
@given(expression=_expressions)
def test_segment_rules_select_what_pandas_query_selects(expression: str) -> None:
    import ibis

    rule = parse_segment_rule(f"S={expression}")
    table = ibis.memtable(_FRAME.assign(row=np.arange(len(_FRAME))))
    ours = sorted(table.filter(rule.to_ibis(table)).row.execute().tolist())
    theirs = _FRAME.query(expression).index.tolist()
    assert ours == theirs, expression


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet="abc012 =!<>&|~()[],'\"-.in", max_size=30))
def test_any_text_is_a_rule_or_a_pointed_error(text: str) -> None:
    try:
        parse_segment_rule(f"S={text}")
    except SegmentRuleError as exc:
        assert "^" in str(exc)
