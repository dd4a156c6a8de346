"""The fast ``POST /score`` decoder never accepts what pydantic would refuse or read differently.

Generated bodies mix valid candidates with every kind of wrong or unusual field. Whenever
:func:`decode_score_body` accepts a body, pydantic's ``ScoreRequest`` (the app's definition of
a valid request) must accept it too and give the same columns; when the decoder declines, the
app hands the body to pydantic, so declining is always safe. A second test checks the decoder
does accept the usual bodies, so that the first is not passing vacuously.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pydantic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from couponlens.service.app import ScoreRequest
from couponlens.service.wire import CandidateColumns, decode_score_body, encode_scores

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_ids = st.one_of(
    st.integers(0, 2**31 - 1),
    st.integers(-3, 2**31 + 3),
    st.integers(0, 99).map(str),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
_discounts = st.one_of(
    st.sampled_from(["0.9", "150:20", " 0.95 ", "30:5", "1", "20:150", "1.5", "0", "-0.5", "abc"]),
    st.sampled_from(["x" * 33, "150 : 20", "0.9\n", "１:２"]),
    st.text(max_size=8),
    st.integers(0, 3),
)
_distances = st.one_of(st.none(), st.integers(-2, 12), st.sampled_from(["3", 3.0, 2.5, True]))
_dates = st.one_of(
    st.dates(dt.date(2000, 1, 1), dt.date(2030, 12, 31)).map(dt.date.isoformat),
    st.dates(dt.date(2000, 1, 1), dt.date(2030, 12, 31)).map(lambda d: d.strftime("%Y%m%d")),
    st.sampled_from(
        ["20160230", "2016-02-30", "2016-7-1", "2016-07-01T00:00:00", "0000-01-01", "20160701 "]
    ),
    st.sampled_from(
        ["２０１６０７０１", "2016-07-01Z", "", "16-07-01", "0001-01-01", "9999-12-31"]
    ),
    st.text(max_size=10),
    st.integers(0, 20_000_000),
)


_valid = {
    "user_id": st.integers(0, 2**31 - 1),
    "merchant_id": st.integers(0, 2**31 - 1),
    "coupon_id": st.integers(0, 2**31 - 1),
    "discount_rate": st.sampled_from(["0.9", "150:20", "30:5", "1", " 0.8 "]),
    "distance": st.one_of(st.none(), st.integers(0, 10)),
    "date_received": st.dates(dt.date(2015, 1, 1), dt.date(2017, 12, 31)).flatmap(
        lambda d: st.sampled_from([d.isoformat(), d.strftime("%Y%m%d")])
    ),
}
_odd = {
    "user_id": _ids,
    "merchant_id": _ids,
    "coupon_id": _ids,
    "discount_rate": _discounts,
    "distance": _distances,
    "date_received": _dates,
}


@st.composite
def _candidate(draw: st.DrawFn) -> dict[str, Any]:
    """A valid candidate with, most of the time, one field made odd, dropped, or one added."""
    candidate: dict[str, Any] = draw(st.fixed_dictionaries(_valid))
    change = draw(st.sampled_from(["none", "odd", "odd", "odd", "drop", "extra"]))
    field = draw(st.sampled_from(sorted(_valid)))
    if change == "odd":
        candidate[field] = draw(_odd[field])
    elif change == "drop":
        del candidate[field]
    elif change == "extra":
        candidate["extra"] = 1
    return candidate


def _same(fast: CandidateColumns, slow: CandidateColumns) -> None:
    for name in ("user_id", "merchant_id", "coupon_id", "distance", "day"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name))
    assert fast.discount_text == slow.discount_text
    assert fast.date_text == slow.date_text


@SETTINGS
@given(
    st.lists(_candidate(), min_size=0, max_size=3),
    st.sampled_from(["candidates", "candidates", "candidates", "rows"]),
)
def test_whatever_the_decoder_accepts_pydantic_accepts_with_the_same_values(
    candidates: list[dict[str, Any]], key: str
) -> None:
    body = json.dumps({key: candidates}).encode()
    fast = decode_score_body(body)
    if fast is None:
        return
    try:
        slow = ScoreRequest.model_validate_json(body)
    except pydantic.ValidationError as exc:  # pragma: no cover - the failure being tested for
        raise AssertionError(f"decoder accepted what pydantic refuses: {body!r}\n{exc}") from None
    _same(fast, CandidateColumns.of(slow.candidates))


@SETTINGS
@given(st.lists(st.fixed_dictionaries(_valid), min_size=1, max_size=5))
def test_usual_bodies_take_the_fast_path(candidates: list[dict[str, Any]]) -> None:
    body = json.dumps({"candidates": candidates}).encode()
    fast = decode_score_body(body)
    assert fast is not None
    _same(fast, CandidateColumns.of(ScoreRequest.model_validate_json(body).candidates))


def test_encoded_scores_read_back_as_the_response_model() -> None:
    from couponlens.service.app import ScoreResponse

    body = b'{"candidates": [{"user_id": 7, "merchant_id": 1, "coupon_id": 9, '
    body += b'"discount_rate": "0.9", "distance": 2, "date_received": "20160702"}]}'
    columns = decode_score_body(body)
    assert columns is not None
    p = np.array([0.1234567890123456789])
    raw = encode_scores(columns, p, as_of="2016-07-01", model="stack", leakage=False)
    response = ScoreResponse.model_validate_json(raw)
    assert response.scores[0].probability == p[0]  # the float survives exactly
    assert response.scores[0].date_received == dt.date(2016, 7, 2)
    assert json.loads(raw) == json.loads(response.model_dump_json())
