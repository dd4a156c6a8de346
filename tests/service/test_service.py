"""The scoring service through a real uvicorn process on loopback, plus the snapshot's parity.

The service must give exactly the probabilities of the batch scorer (``score_o2o``) for
candidates received on its ``as_of`` day; validation, auth and size errors must be the right
4xx with no stack trace; and the process must keep serving after every bad request.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from couponlens.datasets.o2o import load_o2o
from couponlens.datasets.o2o_synthetic import generate_o2o
from couponlens.engine import connect
from couponlens.errors import InputError
from couponlens.features.o2o import build_features, to_frame
from couponlens.models.artifact import LogisticParams, load_model, save_model
from couponlens.models.train import TrainOptions, score_o2o, train_o2o
from couponlens.service.app import create_app
from couponlens.service.scorer import LocalScorer
from couponlens.service.snapshot import FeatureSnapshot
from couponlens.service.wire import candidates_from_csv

from .conftest import running_server

TOKEN = "s3cret-token"
ROWS = 40_000


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("service")
    train, test = folder / "train.csv", folder / "test.csv"
    generate_o2o(ROWS, 21, train)
    generate_o2o(3_000, 21, test, layout="test", world_rows=ROWS)
    history = load_o2o(train, connect(threads=1)).table
    result = train_o2o(history, TrainOptions(n_estimators=60, threads=1))
    save_model(result.model, folder / "model")
    return {"train": train, "test": test, "model": folder / "model", "folder": folder}


def _candidates(test: Path, n: int | None = None) -> list[dict[str, object]]:
    rows = candidates_from_csv(test)
    return rows if n is None else rows[:n]


@pytest.fixture(scope="module")
def server(trained: dict[str, Path]) -> Iterator[str]:
    first = pd.read_csv(trained["test"], dtype=str).Date_received.min()
    with running_server(
        [
            str(trained["model"]),
            "--history",
            str(trained["train"]),
            "--as-of",
            f"{first[:4]}-{first[4:6]}-{first[6:]}",
            "--max-body-bytes",
            "200000",
        ],  # fmt: skip
        trained["folder"] / "server.log",
        {"COUPONLENS_API_TOKEN": TOKEN, "COUPONLENS_CACHE_DIR": str(trained["folder"] / "cache")},
    ) as (url, _):
        yield url


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def _no_trace(response: httpx.Response) -> None:
    assert "Traceback" not in response.text and 'File "' not in response.text


def test_scores_equal_the_batch_scorer_in_input_order(
    server: str, trained: dict[str, Path]
) -> None:
    candidates = _candidates(trained["test"])
    first_day = min(str(c["date_received"]) for c in candidates)
    on_first_day = [c for c in candidates if c["date_received"] == first_day][:300]
    response = httpx.post(
        server + "/score", json={"candidates": on_first_day}, headers=_auth(), timeout=30
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["leakage_features"] is False
    got = [s["probability"] for s in body["scores"]]
    assert [s["user_id"] for s in body["scores"]] == [c["user_id"] for c in on_first_day]

    con = connect(threads=1)
    history = load_o2o(trained["train"], con).table
    table = load_o2o(trained["test"], con).table
    expected = score_o2o(load_model(trained["model"]), history, table).frame
    expected = expected[expected["date_received"] == pd.Timestamp(first_day)].head(300)
    np.testing.assert_allclose(got, expected["probability"].to_numpy(), rtol=1e-12, atol=1e-15)


def test_target_respects_the_budget_and_the_user_cap(server: str, trained: dict[str, Path]) -> None:
    candidates = _candidates(trained["test"], 500)
    body = {"candidates": candidates, "budget": 40, "per_user_cap": 1}
    response = httpx.post(server + "/target", json=body, headers=_auth(), timeout=30)
    assert response.status_code == 200, response.text
    result = response.json()
    chosen = result["chosen"]
    users = {c["user_id"] for c in candidates}
    assert len(chosen) == result["sent"] == min(40, len(users))
    assert len({c["user_id"] for c in chosen}) == len(chosen)
    assert result["expected_redemptions"] == pytest.approx(sum(c["probability"] for c in chosen))
    assert result["expected_redemptions"] >= result["random_expected_redemptions"]
    scores = httpx.post(
        server + "/score", json={"candidates": candidates}, headers=_auth(), timeout=30
    ).json()["scores"]
    # Greedy with a one-per-user cap: the chosen are the best receipt of the best users.
    best_per_user: dict[int, float] = {}
    for s in scores:
        best_per_user[s["user_id"]] = max(best_per_user.get(s["user_id"], 0.0), s["probability"])
    top = sorted(best_per_user.values(), reverse=True)[: len(chosen)]
    assert sorted(c["probability"] for c in chosen) == pytest.approx(sorted(top))


def test_target_with_values_chooses_by_expected_value(
    server: str, trained: dict[str, Path]
) -> None:
    candidates = _candidates(trained["test"], 300)
    # worth nothing at even-numbered merchants, more the higher the merchant id otherwise
    values = [0.0 if c["merchant_id"] % 2 == 0 else 1.0 + c["merchant_id"] % 5 for c in candidates]
    body = {"candidates": candidates, "budget": 25, "values": values}
    response = httpx.post(server + "/target", json=body, headers=_auth(), timeout=30)
    assert response.status_code == 200, response.text
    result = response.json()
    scores = httpx.post(
        server + "/score", json={"candidates": candidates}, headers=_auth(), timeout=30
    ).json()["scores"]
    worth = [s["probability"] * v for s, v in zip(scores, values, strict=True)]
    best = sorted(range(len(worth)), key=lambda i: -worth[i])[:25]
    assert sorted(c["index"] for c in result["chosen"]) == sorted(best)
    assert all(values[c["index"]] > 0 for c in result["chosen"])
    assert result["expected_value"] == pytest.approx(sum(worth[i] for i in best))
    assert result["expected_value"] > result["random_expected_value"]
    assert result["value_lift_over_random"] == pytest.approx(
        result["expected_value"] / result["random_expected_value"]
    )
    short = {"candidates": candidates, "budget": 5, "values": values[:-1]}
    refused = httpx.post(server + "/target", json=short, headers=_auth(), timeout=30)
    assert refused.status_code == 422 and "one per candidate" in refused.text


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer wrong"}, 401), ({"Authorization": TOKEN}, 401)],
)
def test_token_required(
    server: str, trained: dict[str, Path], headers: dict[str, str], status: int
) -> None:
    body = {"candidates": _candidates(trained["test"], 2)}
    response = httpx.post(server + "/score", json=body, headers=headers, timeout=10)
    assert response.status_code == status
    assert response.headers.get("www-authenticate") == "Bearer"
    # every route, the health probe and the spec included
    for path in ("/model", "/health", "/openapi.json"):
        refused = httpx.get(server + path, headers=headers, timeout=10)
        assert refused.status_code == 401, path
        assert refused.headers.get("www-authenticate") == "Bearer", path
    assert httpx.get(server + "/health", headers=_auth(), timeout=10).status_code == 200


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda c: c.update(discount_rate="20:150"), "discount_rate"),
        (lambda c: c.update(discount_rate="1.5"), "discount_rate"),
        (lambda c: c.update(user_id="abc"), "user_id"),
        (lambda c: c.update(distance=11), "distance"),
        (lambda c: c.update(date_received="20160230"), "date_received"),
        (lambda c: c.pop("coupon_id"), "coupon_id"),
        (lambda c: c.update(extra_field=1), "extra_field"),
    ],
)
def test_bad_candidates_get_422_naming_the_field(
    server: str, trained: dict[str, Path], mutate: object, field: str
) -> None:
    candidates = _candidates(trained["test"], 3)
    mutate(candidates[1])  # type: ignore[operator]
    response = httpx.post(
        server + "/score", json={"candidates": candidates}, headers=_auth(), timeout=10
    )
    assert response.status_code == 422
    _no_trace(response)
    locations = [e["loc"] for e in response.json()["detail"]]
    assert any(loc[:3] == ["body", "candidates", 1] and field in loc for loc in locations), (
        locations
    )


def test_malformed_bodies_and_limits(server: str, trained: dict[str, Path]) -> None:
    headers = {**_auth(), "Content-Type": "application/json"}
    for body in (b"{not json", b"[]", b'{"candidates": []}', b'{"candidates": "x"}'):
        response = httpx.post(server + "/score", content=body, headers=headers, timeout=10)
        assert response.status_code == 422, body
        _no_trace(response)
    target = {"candidates": _candidates(trained["test"], 3)}  # no budget, no max_cost
    response = httpx.post(server + "/target", json=target, headers=_auth(), timeout=10)
    assert response.status_code == 422 and "budget" in response.text
    # a basket so large that costs overflow the solver: refused by the field, not the solver
    huge = {**target, "budget": 2, "max_cost": 1e-200, "rate_basket": 2.6e307}
    response = httpx.post(server + "/target", json=huge, headers=_auth(), timeout=10)
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "rate_basket"]]
    big = json.dumps({"candidates": _candidates(trained["test"], 3000)}).encode()
    assert len(big) > 200_000
    response = httpx.post(server + "/score", content=big, headers=headers, timeout=10)
    assert response.status_code == 413
    # The same body streamed without a Content-Length is cut off at the limit too.
    chunks = (big[i : i + 65536] for i in range(0, len(big), 65536))
    response = httpx.post(server + "/score", content=chunks, headers=headers, timeout=10)
    assert response.status_code == 413
    assert httpx.get(server + "/health", headers=_auth(), timeout=10).json()["status"] == "ok"


def test_model_and_openapi(server: str, trained: dict[str, Path]) -> None:
    info = httpx.get(server + "/model", headers=_auth(), timeout=10).json()
    manifest = json.loads((trained["model"] / "manifest.json").read_text())
    assert info["manifest"]["manifest_sha256"] == manifest["manifest_sha256"]
    assert info["snapshot"]["feature_window"]["name"] == "predict"
    assert info["predictor"] == "compiled"  # the trees run as native code (gcc is on the machine)
    assert list((trained["folder"] / "cache" / "forests").glob("forest-*.so"))
    spec = httpx.get(server + "/openapi.json", headers=_auth(), timeout=10).json()
    assert {"/score", "/target", "/health", "/model"} <= set(spec["paths"])
    assert httpx.get(server + "/docs", timeout=10).status_code == 404  # no CDN pages


def test_in_process_app_without_token_and_leakage_refusal(trained: dict[str, Path]) -> None:
    con = connect(threads=1)
    history = load_o2o(trained["train"], con).table
    model = load_model(trained["model"])
    snapshot = FeatureSnapshot.build(model, history)
    assert snapshot.as_of == dt.date(2016, 7, 1)
    client = TestClient(create_app(LocalScorer(model, snapshot)))
    response = client.post("/score", json={"candidates": _candidates(trained["test"], 5)})
    assert response.status_code == 200
    assert all(0 < s["probability"] < 1 for s in response.json()["scores"])
    # The same candidates with ids written 1439408.0 (a whole JSON number the fast decoder
    # leaves to pydantic): pydantic's route, not the fast path; both must answer alike. (An id
    # sent as text is refused: the spec says integer.)
    candidates = _candidates(trained["test"], 40)
    fast = client.post("/score", json={"candidates": candidates})
    as_float = [{**c, "user_id": float(c["user_id"])} for c in candidates]  # type: ignore[arg-type]
    slow = client.post("/score", json={"candidates": as_float})
    assert fast.status_code == slow.status_code == 200
    assert fast.json() == slow.json()
    # The logistic inputs kept per entity equal LogisticParams.inputs of the matrix, bit for bit
    # (a shuffled subset of the features, so the column mapping is exercised too).
    rng = np.random.default_rng(3)
    names = list(rng.permutation(model.features)[:40])
    k = len(names)
    logistic = LogisticParams(
        names, list(rng.normal(size=k)), list(rng.normal(size=k)), list(rng.uniform(0.5, 2, k)),
        list(rng.normal(size=k)), 0.1,
    )  # fmt: skip
    frame = pd.read_csv(trained["test"], dtype=str, keep_default_na=False).head(500)
    matrix, inputs = snapshot.matrices(
        user_id=frame.User_id.to_numpy(np.int64),
        merchant_id=frame.Merchant_id.to_numpy(np.int64),
        coupon_id=frame.Coupon_id.to_numpy(np.int64),
        discount_text=list(frame.Discount_rate),
        distance=pd.to_numeric(frame.Distance, errors="coerce").to_numpy(np.float64),
        date_received=pd.to_datetime(frame.Date_received).to_numpy().astype("datetime64[D]"),
        columns=model.features,
        logistic=logistic,
    )
    assert inputs is not None
    at = [model.features.index(f) for f in names]
    np.testing.assert_array_equal(inputs, logistic.inputs(matrix[:, at]))
    model.info["leakage_features"] = True
    with pytest.raises(InputError, match="point-in-time"):
        FeatureSnapshot.build(model, history)


def test_published_openapi_spec_is_current() -> None:
    from couponlens.service.openapi import openapi_spec

    published = json.loads((Path(__file__).parents[2] / "docs" / "openapi.json").read_text())
    assert published == json.loads(json.dumps(openapi_spec())), (
        "docs/openapi.json is stale: python -m couponlens.service.openapi > docs/openapi.json"
    )


def test_concurrent_requests_get_their_own_scores(server: str, trained: dict[str, Path]) -> None:
    import asyncio

    candidates = _candidates(trained["test"], 400)
    bodies = [{"candidates": candidates[i : i + 20 + i % 7]} for i in range(0, 380, 19)]
    alone = [
        httpx.post(server + "/score", json=b, headers=_auth(), timeout=30).json()["scores"]
        for b in bodies
    ]

    async def together() -> list[list[dict[str, object]]]:
        async with httpx.AsyncClient(timeout=30, headers=_auth()) as client:
            responses = await asyncio.gather(
                *(client.post(server + "/score", json=b) for b in bodies)
            )
        return [r.json()["scores"] for r in responses]

    batched = asyncio.run(together())
    for got, expected in zip(batched, alone, strict=True):
        assert [s["user_id"] for s in got] == [s["user_id"] for s in expected]
        # Same numbers up to BLAS rounding (a batch's matrix product may take another kernel).
        np.testing.assert_allclose(
            [s["probability"] for s in got], [s["probability"] for s in expected], rtol=1e-12
        )


def test_batcher_errors_reach_every_waiting_request_and_it_keeps_serving() -> None:
    import asyncio

    from couponlens.service.app import _Batcher
    from couponlens.service.wire import decode_score_body

    body = b'{"candidates": [{"user_id": 1, "merchant_id": 2, "coupon_id": 3,'
    body += b' "discount_rate": "0.9", "date_received": "2016-07-01"}]}'
    one = decode_score_body(body)
    assert one is not None
    calls: list[int] = []

    def compute(candidates: object) -> np.ndarray:
        calls.append(len(candidates))  # type: ignore[arg-type]
        if len(calls) == 1:
            raise RuntimeError("model failed")
        return np.arange(len(candidates), dtype=float)  # type: ignore[arg-type]

    batcher = _Batcher(compute)

    async def run() -> tuple[list[object], list[np.ndarray]]:
        failed = await asyncio.gather(
            *(batcher.score(one) for _ in range(3)), return_exceptions=True
        )
        served = await asyncio.gather(*(batcher.score(one) for _ in range(4)))
        return failed, served

    failed, served = asyncio.run(run())
    assert all(isinstance(f, RuntimeError) for f in failed)
    assert calls[0] == 3  # the three requests of one loop turn went in one call
    assert [s.tolist() for s in served] == [[0.0], [1.0], [2.0], [3.0]]  # own slice each


def test_batcher_keeps_two_batches_in_flight_for_a_model_process() -> None:
    import asyncio

    from couponlens.service.app import _Batcher
    from couponlens.service.wire import decode_score_body

    body = b'{"candidates": [{"user_id": 1, "merchant_id": 2, "coupon_id": 3,'
    body += b' "discount_rate": "0.9", "date_received": "2016-07-01"}]}'
    one = decode_score_body(body)
    assert one is not None
    calls: list[int] = []
    release: list[asyncio.Event] = []
    in_flight = [0, 0]  # now, most

    async def compute_async(candidates: object) -> np.ndarray:
        n = len(candidates)  # type: ignore[arg-type]
        calls.append(n)
        number = len(calls)
        in_flight[0] += 1
        in_flight[1] = max(in_flight)
        gate = asyncio.Event()
        release.append(gate)
        await gate.wait()
        in_flight[0] -= 1
        if n == 4:
            raise RuntimeError("model process failed")
        return np.arange(n, dtype=float) + 10 * number

    def never(candidates: object) -> np.ndarray:
        raise AssertionError("the thread path must not be used")

    batcher = _Batcher(never, compute_async)

    async def run() -> list[object]:
        first = [asyncio.ensure_future(batcher.score(one)) for _ in range(2)]
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # batch 1 (2 requests) sent
        second = [asyncio.ensure_future(batcher.score(one)) for _ in range(3)]
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # batch 2 (3 requests) sent while batch 1 is scored
        third = [asyncio.ensure_future(batcher.score(one)) for _ in range(4)]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert calls == [2, 3]  # the third waits: two in flight at most
        for i in range(3):
            while len(release) <= i:
                await asyncio.sleep(0)
            release[i].set()
        done = await asyncio.gather(*first, *second, *third, return_exceptions=True)
        return list(done)

    done = asyncio.run(run())
    assert calls == [2, 3, 4] and in_flight[1] == 2
    assert [d.tolist() for d in done[:2]] == [[10.0], [11.0]]  # type: ignore[union-attr]
    assert [d.tolist() for d in done[2:5]] == [[20.0], [21.0], [22.0]]  # type: ignore[union-attr]
    assert all(isinstance(d, RuntimeError) for d in done[5:])
    assert batcher.in_flight == 0 and not batcher.pending


def test_snapshot_features_equal_batch_features_for_unseen_and_missing_distances(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    # A history without any receipt at distance 7: a candidate at distance 7 has no distance
    # history in the batch features (zero counts), while a missing distance has the history
    # of the receipts with missing distances. The snapshot must give both the same values.
    frame = pd.read_csv(trained["train"], dtype=str, keep_default_na=False)
    assert (frame.Distance == "7").any() and (frame.Distance == "null").any()
    frame[frame.Distance != "7"].to_csv(tmp_path / "history.csv", index=False)
    con = connect(threads=1)
    history = load_o2o(tmp_path / "history.csv", con).table
    model = load_model(trained["model"])
    snapshot = FeatureSnapshot.build(model, history)
    test = pd.read_csv(trained["test"], dtype=str, keep_default_na=False)
    test = test[test.Date_received == test.Date_received.min()].head(400).copy()
    test.loc[test.index[:50], "Distance"] = "7"
    test.loc[test.index[50:100], "Distance"] = "null"
    test.to_csv(tmp_path / "candidates.csv", index=False)
    candidates = load_o2o(tmp_path / "candidates.csv", con).table
    batch = to_frame(
        build_features(
            history,
            candidates,
            snapshot.window,
            label_days=int(model.info["label_rule"]["label_days"]),
        )
    )
    served = snapshot.matrix(
        user_id=test.User_id.to_numpy(np.int64),
        merchant_id=test.Merchant_id.to_numpy(np.int64),
        coupon_id=test.Coupon_id.to_numpy(np.int64),
        discount_text=list(test.Discount_rate),
        distance=pd.to_numeric(test.Distance, errors="coerce").to_numpy(np.float64),
        date_received=pd.to_datetime(test.Date_received).to_numpy().astype("datetime64[D]"),
        columns=model.features,
    )
    expected = batch[model.features].to_numpy(dtype=np.float64, na_value=np.nan)
    dist = [j for j, f in enumerate(model.features) if f.startswith("dist_")]
    assert dist and expected[:50, dist[0]].tolist() == [0.0] * 50  # no receipt at distance 7
    assert (expected[50:100, dist[0]] > 0).all()  # the receipts with a missing distance
    np.testing.assert_allclose(served, expected, rtol=1e-12, atol=1e-15, equal_nan=True)


def test_scorer_errors_become_422_in_the_spec_form_or_503() -> None:
    from couponlens.service.model_process import ModelProcessError

    class Failing:
        model_name, leakage_features, predictor = "lightgbm", False, "compiled"
        as_of = dt.date(2016, 7, 1)
        error: Exception = InputError("no such coupon kind")

        def probabilities(self, candidates: object) -> np.ndarray:
            raise self.error

        def describe(self) -> dict[str, object]:
            return {}

        def healthy(self) -> bool:
            return not isinstance(self.error, ModelProcessError)

        def close(self) -> None:
            pass

    scorer = Failing()
    client = TestClient(create_app(scorer))  # type: ignore[arg-type]
    one = {
        "user_id": 1,
        "merchant_id": 2,
        "coupon_id": 3,
        "discount_rate": "0.9",
        "date_received": "2016-07-01",
    }
    fast = {"candidates": [one]}  # the fast path's form
    slow = {"candidates": [{**one, "user_id": 1.0}]}  # pydantic's route
    for body in (fast, slow):
        response = client.post("/score", json=body)
        assert response.status_code == 422
        assert response.json() == {
            "detail": [{"loc": ["body"], "msg": "no such coupon kind", "type": "value_error"}]
        }
    scorer.error = ModelProcessError("the model process stopped: EOF")
    for body in (fast, slow):
        response = client.post("/score", json=body)
        assert response.status_code == 503
        assert response.json() == {"detail": "the model process stopped: EOF"}
    assert client.get("/health").status_code == 503
