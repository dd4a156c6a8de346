"""The synthetic AmExpert generator: seven consistent tables, the loader accepts them, planted truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from couponlens.cli import main
from couponlens.datasets.amexpert import load_amexpert
from couponlens.datasets.amexpert_synthetic import PLANTED, generate_amexpert, write_amexpert


def test_tables_have_consistent_ids() -> None:
    t = generate_amexpert(seed=3, customers=120)
    assert set(t.train.columns) == {
        "id",
        "campaign_id",
        "coupon_id",
        "customer_id",
        "redemption_status",
    }
    offers = pd.concat([t.train, t.test])
    assert offers.id.is_unique and set(t.truth.id) == set(offers.id)
    campaigns = pd.to_datetime(t.campaign_data.start_date, format="%d/%m/%y")
    assert len(campaigns) == t.campaign_data.campaign_id.nunique()
    assert offers.campaign_id.isin(t.campaign_data.campaign_id).all()
    assert offers.coupon_id.isin(t.coupon_item_mapping.coupon_id).all()
    assert t.coupon_item_mapping.item_id.isin(t.item_data.item_id).all()
    assert t.customer_transaction_data.item_id.isin(t.item_data.item_id).all()
    assert t.customer_transaction_data.customer_id.between(1, 120).all()
    assert t.customer_demographics.customer_id.is_unique
    # Test campaigns start after every train campaign ended, as in the competition.
    c = t.campaign_data.assign(
        start=campaigns, end=pd.to_datetime(t.campaign_data.end_date, format="%d/%m/%y")
    )
    train_c = c[c.campaign_id.isin(t.train.campaign_id)]
    test_c = c[c.campaign_id.isin(t.test.campaign_id)]
    assert train_c.end.max() < test_c.start.min()
    # The real file's quirks appear.
    assert (t.customer_demographics.family_size == "5+").any()
    assert (t.customer_demographics.no_of_children == "3+").any()


def test_same_seed_same_files(tmp_path: Path) -> None:
    a = write_amexpert(tmp_path / "a", seed=5, customers=40)
    b = write_amexpert(tmp_path / "b", seed=5, customers=40)
    for path in sorted(a.folder.iterdir()):
        assert path.read_bytes() == (b.folder / path.name).read_bytes(), path.name
    assert len(list(a.folder.iterdir())) == 8  # seven tables and the truth


def test_the_loader_accepts_the_files(tmp_path: Path) -> None:
    out = write_amexpert(tmp_path, seed=2, customers=80)
    data = load_amexpert(out.folder)
    assert data.has_transactions
    assert data.report.rows["train"] == out.train_rows
    assert data.report.rows["transactions"] == out.transactions


def test_planted_truth_drives_the_labels() -> None:
    t = generate_amexpert(seed=1, customers=400)
    truth = t.truth
    assert roc_auc_score(truth.redemption_status, truth.redemption_probability) > 0.8
    assert 0.005 < truth.redemption_status.mean() < 0.2
    assert PLANTED["log1p_brand_purchases"] > 0 and PLANTED["bought_coupon_item"] > 0
    # Redemptions leave a coupon-discounted purchase inside their campaign.
    assert (t.customer_transaction_data.coupon_discount < 0).sum() == truth.redemption_status.sum()
    assert np.isfinite(truth.redemption_probability).all()


def test_generate_command(tmp_path: Path) -> None:
    code = main(
        ["generate", "amexpert", "--out", str(tmp_path / "d"), "--seed", "4", "--customers", "30"]
    )
    assert code == 0
    names = {p.name for p in (tmp_path / "d").iterdir()}
    assert {
        "train.csv",
        "test.csv",
        "campaign_data.csv",
        "coupon_item_mapping.csv",
        "item_data.csv",
        "customer_demographics.csv",
        "customer_transaction_data.csv",
    } <= names
