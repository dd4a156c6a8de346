"""The customer report on Spark equals DuckDB's, and so does the per-customer summary the
lifetime-value models are fitted on (the fit itself runs in Python on that summary)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ibis.backends import BaseBackend

from couponlens.analysis.customers_value import clv_summary
from couponlens.datasets.customers import load_customer_data
from couponlens.datasets.customers_synthetic import generate_customers
from couponlens.report.customers import customers_report

from .parity import differences, frame_differences


@pytest.fixture(scope="module")
def business(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_customers(tmp_path_factory.mktemp("customers"), customers=300, seed=3)


def test_customers_report_matches(spark: BaseBackend, business: Path, tmp_path: Path) -> None:
    duck = customers_report(business, tmp_path / "duckdb", clv=False)
    on_spark = customers_report(business, tmp_path / "spark", clv=False, con=spark)
    left, right = (json.loads(json.dumps(o.results, default=str)) for o in (duck, on_spark))
    assert right["engine"]["engine"] == "spark"
    assert differences(left, right, skip=frozenset({"engine"})) == []
    # teeth: the data fills the ticket analyses, cohorts and RFM
    assert right["promotion"]["share"] > 0 and right["cohorts"]["status"] == "ok"
    assert right["dataset"]["tables"]["tickets"]["rows_kept"] > 500


def test_clv_summary_matches(spark: BaseBackend, business: Path) -> None:
    left = clv_summary(load_customer_data(business))
    right = clv_summary(load_customer_data(business, con=spark))
    assert len(left) > 100 and left["frequency"].max() > 0
    assert frame_differences(left, right) == []
