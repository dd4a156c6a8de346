"""Candidates as columns, and ``POST /score`` bodies read and written without per-candidate objects.

The scoring service spends most of a 100-candidate request on Python objects unless it is
careful: a pydantic model per candidate, a dict per score. Here a body in the usual form --
every candidate with integer ids, a discount text, a distance that is an integer 0..10, null or
absent, and a date written ``YYYY-MM-DD`` or ``YYYYMMDD`` -- is decoded by msgspec (in C, with
the same bounds as the pydantic models) straight into :class:`CandidateColumns`, and the answer
is encoded in one call.

Validation keeps one definition, pydantic's (:mod:`couponlens.service.app`): whenever this
module is not sure pydantic would accept a body with exactly these values -- a missing field,
an id sent as a string, a bad discount, an unknown field, an impossible date -- it returns
``None`` and the app validates the body with pydantic, which accepts it or answers 422 naming
the field and the candidate's index. The test suite checks on generated bodies that whatever
is accepted here is accepted by pydantic with the same values.

Example:
    >>> body = b'{"candidates": [{"user_id": 1, "merchant_id": 2, "coupon_id": 3,'
    >>> body += b' "discount_rate": "150:20", "distance": null, "date_received": "20160701"}]}'
    >>> columns = decode_score_body(body)
    >>> columns.user_id.tolist(), columns.distance.tolist(), columns.date_text
    ([1], [nan], ['2016-07-01'])
    >>> decode_score_body(body.replace(b'"150:20"', b'"20:150"')) is None  # pydantic says why
    True
    >>> encode_scores(columns, np.array([0.25]), as_of="2016-07-01", model="stack", leakage=False)
    b'{"scores":[{"user_id":1,"coupon_id":3,"date_received":"2016-07-01","probability":0.25}],"as_of":"2016-07-01","model":"stack","leakage_features":false}'
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Protocol

import msgspec
import numpy as np
import pandas as pd

from couponlens.errors import CouponlensError
from couponlens.service.snapshot import parse_discount_cached

#: Most candidates in one request.
MAX_CANDIDATES = 10_000
#: Ids are below this bound (two of them pack into one int64 key of the snapshot).
ID_LIMIT = 2**31

_Id = Annotated[int, msgspec.Meta(ge=0, lt=ID_LIMIT)]


class _Candidate(msgspec.Struct, forbid_unknown_fields=True):
    user_id: _Id
    merchant_id: _Id
    coupon_id: _Id
    discount_rate: Annotated[str, msgspec.Meta(max_length=32)]
    date_received: str
    distance: Annotated[int, msgspec.Meta(ge=0, le=10)] | None = None


class _ScoreBody(msgspec.Struct, forbid_unknown_fields=True):
    candidates: Annotated[list[_Candidate], msgspec.Meta(min_length=1, max_length=MAX_CANDIDATES)]


_decoder = msgspec.json.Decoder(_ScoreBody)
_encoder = msgspec.json.Encoder()
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
#: Date texts seen, with their ISO form, or None when pydantic must judge them.
_days: dict[str, tuple[str, int] | None] = {}
_EPOCH = dt.date(1970, 1, 1).toordinal()


class CandidateLike(Protocol):
    """A validated candidate (the pydantic ``Candidate`` of the app)."""

    user_id: int
    merchant_id: int
    coupon_id: int
    discount_rate: str
    distance: int | None
    date_received: dt.date


@dataclass(frozen=True)
class CandidateColumns:
    """Validated candidates as arrays: what the snapshot and the model read.

    ``discount_text`` holds the stripped discount texts, ``distance`` is float with NaN for
    unknown, ``date_text`` the ISO dates (``YYYY-MM-DD``) that answers repeat and ``day`` the
    same dates as days since 1970-01-01.
    """

    user_id: np.ndarray
    merchant_id: np.ndarray
    coupon_id: np.ndarray
    discount_text: list[str]
    distance: np.ndarray
    date_text: list[str]
    day: np.ndarray

    def __len__(self) -> int:
        return len(self.user_id)

    @property
    def date_received(self) -> np.ndarray:
        """The dates as ``datetime64[D]``."""
        return self.day.astype("datetime64[D]")

    @classmethod
    def of(cls, candidates: Sequence[CandidateLike]) -> CandidateColumns:
        """Columns of pydantic-validated candidates.

        Example:
            >>> from types import SimpleNamespace as C
            >>> c = C(user_id=1, merchant_id=2, coupon_id=3, discount_rate="0.9", distance=None,
            ...       date_received=dt.date(2016, 7, 1))
            >>> CandidateColumns.of([c]).date_text
            ['2016-07-01']
        """
        n = len(candidates)
        return cls(
            user_id=np.fromiter((c.user_id for c in candidates), np.int64, n),
            merchant_id=np.fromiter((c.merchant_id for c in candidates), np.int64, n),
            coupon_id=np.fromiter((c.coupon_id for c in candidates), np.int64, n),
            discount_text=[c.discount_rate for c in candidates],
            distance=np.fromiter(
                (np.nan if c.distance is None else c.distance for c in candidates), np.float64, n
            ),
            date_text=[c.date_received.isoformat() for c in candidates],
            day=np.fromiter(
                (c.date_received.toordinal() - _EPOCH for c in candidates), np.int64, n
            ),
        )

    @classmethod
    def concat(cls, parts: Sequence[CandidateColumns]) -> CandidateColumns:
        """The candidates of several requests, one after the other.

        Example:
            >>> one = decode_score_body(b'{"candidates": [{"user_id": 1, "merchant_id": 2,'
            ...     b' "coupon_id": 3, "discount_rate": "0.9", "date_received": "2016-07-01"}]}')
            >>> len(CandidateColumns.concat([one, one]))
            2
        """
        if len(parts) == 1:
            return parts[0]
        return cls(
            user_id=np.concatenate([p.user_id for p in parts]),
            merchant_id=np.concatenate([p.merchant_id for p in parts]),
            coupon_id=np.concatenate([p.coupon_id for p in parts]),
            discount_text=[t for p in parts for t in p.discount_text],
            distance=np.concatenate([p.distance for p in parts]),
            date_text=[t for p in parts for t in p.date_text],
            day=np.concatenate([p.day for p in parts]),
        )


def _iso_day(text: str) -> tuple[str, int] | None:
    """The ISO form and day number of a date text that pydantic reads as that day, else None."""
    if text in _days:
        return _days[text]
    iso = text
    if len(text) == 8 and text.isascii() and text.isdigit():  # the app's YYYYMMDD rule
        iso = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    found: tuple[str, int] | None = None
    if _ISO_DAY.fullmatch(iso):
        try:
            day = dt.date.fromisoformat(iso)
        except ValueError:
            pass
        else:
            found = (day.isoformat(), day.toordinal() - _EPOCH)
    if len(_days) > 4096:  # a request with many odd dates must not grow the cache forever
        _days.clear()
    _days[text] = found
    return found


def decode_score_body(body: bytes) -> CandidateColumns | None:
    """The candidates of a ``POST /score`` body, or None when pydantic must judge the body."""
    try:
        candidates = _decoder.decode(body).candidates
    except msgspec.DecodeError:  # includes msgspec.ValidationError
        return None
    texts = [c.discount_rate for c in candidates]
    for text in set(texts):
        try:
            parse_discount_cached(text)
        except CouponlensError:
            return None
    days = [_iso_day(c.date_received) for c in candidates]
    if None in days:
        return None
    n = len(candidates)
    return CandidateColumns(
        user_id=np.fromiter((c.user_id for c in candidates), np.int64, n),
        merchant_id=np.fromiter((c.merchant_id for c in candidates), np.int64, n),
        coupon_id=np.fromiter((c.coupon_id for c in candidates), np.int64, n),
        discount_text=[t.strip() for t in texts],
        distance=np.array([c.distance for c in candidates], dtype=np.float64),
        date_text=[d[0] for d in days],  # type: ignore[index]  # no None left
        day=np.fromiter((d[1] for d in days), np.int64, n),  # type: ignore[index]
    )


def candidates_from_csv(path: str | Path) -> list[dict[str, object]]:
    r"""The rows of a Tianchi test-layout CSV as ``POST /score`` candidates, in file order.

    Example:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "test.csv"
        >>> _ = f.write_text("User_id,Merchant_id,Coupon_id,Discount_rate,Distance,Date_received\n"
        ...                  "4,5,6,150:20,null,20160701\n")
        >>> candidates_from_csv(f)
        [{'user_id': 4, 'merchant_id': 5, 'coupon_id': 6, 'discount_rate': '150:20', 'distance': None, 'date_received': '20160701'}]
    """
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return [
        {
            "user_id": int(r.User_id),
            "merchant_id": int(r.Merchant_id),
            "coupon_id": int(r.Coupon_id),
            "discount_rate": r.Discount_rate,
            "distance": None if r.Distance == "null" else int(r.Distance),
            "date_received": r.Date_received,
        }
        for r in frame.itertuples()
    ]


def encode_scores(
    columns: CandidateColumns, probabilities: np.ndarray, *, as_of: str, model: str, leakage: bool
) -> bytes:
    """The ``POST /score`` answer (the app's ``ScoreResponse``) as JSON bytes."""
    scores = [
        {"user_id": u, "coupon_id": c, "date_received": d, "probability": p}
        for u, c, d, p in zip(
            columns.user_id.tolist(),
            columns.coupon_id.tolist(),
            columns.date_text,
            np.asarray(probabilities, dtype=np.float64).tolist(),
            strict=True,
        )
    ]
    return _encoder.encode(
        {"scores": scores, "as_of": as_of, "model": model, "leakage_features": leakage}
    )
