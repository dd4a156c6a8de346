"""AmExpert features against an independent row-by-row pandas computation, and the point-in-time proof.

The world is small and hand-built (random but seeded): overlapping campaigns, two campaigns that
start on the same day, transactions dated exactly on a campaign's start, an item category
outside the real list, demographics with ``5+`` / ``3+`` and gaps.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from couponlens.datasets.amexpert import AGE_RANGES, AmExpertData, load_amexpert
from couponlens.errors import InputError
from couponlens.features.amexpert import CATEGORIES, KEY_COLUMNS, build_features, feature_names

CAMPAIGNS = pd.DataFrame(
    {
        "campaign_id": [1, 2, 3, 4, 5, 6],
        "campaign_type": ["X", "Y", "Y", "X", "Y", "Y"],
        "start": pd.to_datetime(
            ["2013-01-10", "2013-02-01", "2013-03-05", "2013-03-05", "2013-05-01", "2013-06-10"]
        ),
        "end": pd.to_datetime(
            ["2013-02-20", "2013-03-05", "2013-04-10", "2013-04-01", "2013-06-01", "2013-07-15"]
        ),
    }
)


def build_world(seed: int = 0) -> dict[str, pd.DataFrame]:
    """Tables in their file layouts (dates as the files write them)."""
    rng = np.random.default_rng(seed)
    categories = ["Grocery", "Bakery", "Pharmaceutical", "Seafood"]
    n_items = 30
    items = pd.DataFrame(
        {
            "item_id": np.arange(1, n_items + 1),
            "brand": rng.integers(1, 9, n_items),
            "brand_type": rng.choice(["Established", "Local"], n_items),
            "category": rng.choice(categories, n_items),
        }
    )
    mapping = []
    for coupon in range(1, 9):
        for item in rng.choice(n_items, size=int(rng.integers(1, 6)), replace=False):
            mapping.append((coupon, int(item) + 1))
    coupon_items = pd.DataFrame(mapping, columns=["coupon_id", "item_id"])
    offers = set()
    while len(offers) < 70:
        offers.add((int(rng.integers(1, 7)), int(rng.integers(1, 9)), int(rng.integers(1, 11))))
    o = pd.DataFrame(sorted(offers), columns=["campaign_id", "coupon_id", "customer_id"])
    o = o.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    o["id"] = np.arange(1, len(o) + 1) * 3
    o["redemption_status"] = (rng.random(len(o)) < 0.35).astype(int)
    train = o[o.campaign_id <= 4][
        ["id", "campaign_id", "coupon_id", "customer_id", "redemption_status"]
    ]
    test = o[o.campaign_id > 4][["id", "campaign_id", "coupon_id", "customer_id"]]
    # One offered coupon's items all fall in a category outside the real list.
    odd = coupon_items.item_id[coupon_items.coupon_id == int(train.coupon_id.iloc[0])]
    items.loc[items.item_id.isin(odd), "category"] = "Mystery Goods"
    n_tx = 400
    days = pd.to_datetime("2012-10-01") + pd.to_timedelta(rng.integers(0, 300, n_tx), unit="D")
    tx = pd.DataFrame(
        {
            "date": days,
            "customer_id": rng.integers(1, 12, n_tx),  # customer 11 has purchases, no offers
            "item_id": rng.integers(1, n_items + 1, n_tx),
            "quantity": rng.integers(1, 4, n_tx),
            "selling_price": np.round(rng.uniform(5, 200, n_tx), 2),
            "other_discount": np.where(rng.random(n_tx) < 0.3, -5.0, 0.0),
            "coupon_discount": np.where(rng.random(n_tx) < 0.2, -7.5, 0.0),
        }
    )
    # Purchases on the very day campaigns 2 and 3/4 start.
    on_start = tx.sample(12, random_state=seed).index
    tx.loc[on_start, "date"] = np.where(
        np.arange(12) % 2 == 0, CAMPAIGNS.start[1], CAMPAIGNS.start[2]
    )
    tx = tx.sort_values("date", kind="stable").reset_index(drop=True)
    tx["date"] = tx["date"].dt.strftime("%Y-%m-%d")
    demographics = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 5, 8, 9],
            "age_range": ["70+", "18-25", "36-45", "46-55", "26-35", "56-70"],
            "marital_status": ["Married", "", "Single", "", "Married", "Single"],
            "rented": [0, 1, 0, 0, 0, 1],
            "family_size": ["5+", "1", "3", "2", "4", "2"],
            "no_of_children": ["3+", "", "1", "", "2", ""],
            "income_bracket": [4, 2, 7, 5, 12, 1],
        }
    )
    campaign_data = pd.DataFrame(
        {
            "campaign_id": CAMPAIGNS.campaign_id,
            "campaign_type": CAMPAIGNS.campaign_type,
            "start_date": CAMPAIGNS.start.dt.strftime("%d/%m/%y"),
            "end_date": CAMPAIGNS.end.dt.strftime("%d/%m/%y"),
        }
    )
    return {
        "train": train,
        "test": test,
        "campaign_data": campaign_data,
        "coupon_item_mapping": coupon_items,
        "item_data": items,
        "customer_demographics": demographics,
        "customer_transaction_data": tx,
    }


def write_world(folder: Path, world: dict[str, pd.DataFrame]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in world.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


def reference(world: dict[str, pd.DataFrame], offers: pd.DataFrame) -> pd.DataFrame:
    """Every feature, computed offer by offer with plain pandas/Python."""
    camp = CAMPAIGNS.set_index("campaign_id")
    items = world["item_data"].set_index("item_id")
    mapping = world["coupon_item_mapping"]
    coupon_items = {c: set(g.item_id) for c, g in mapping.groupby("coupon_id")}
    keys = {
        "item": {c: set(s) for c, s in coupon_items.items()},
        "brand": {c: {int(items.brand[i]) for i in s} for c, s in coupon_items.items()},
        "category": {c: {items.category[i] for i in s} for c, s in coupon_items.items()},
    }
    train = world["train"].copy()
    train["end"] = train.campaign_id.map(camp.end)
    known = pd.concat(
        [
            world["train"][["campaign_id", "coupon_id", "customer_id"]],
            world["test"][["campaign_id", "coupon_id", "customer_id"]],
            offers[["campaign_id", "coupon_id", "customer_id"]],
        ]
    ).drop_duplicates()
    known["start"] = known.campaign_id.map(camp.start)
    demo = world["customer_demographics"].set_index("customer_id")
    tx = world["customer_transaction_data"].copy()
    tx["date"] = pd.to_datetime(tx["date"])
    tx["item"] = tx.item_id
    tx["brand"] = tx.item_id.map(items.brand).astype(int)
    tx["category"] = tx.item_id.map(items.category)

    def rate(num: float, den: float) -> float:
        return num / den if den > 0 else np.nan

    rows = []
    for r in offers.itertuples(index=False):
        start, end = camp.start[r.campaign_id], camp.end[r.campaign_id]
        same_campaign = offers[offers.campaign_id == r.campaign_id]
        c_items = sorted(coupon_items[r.coupon_id])
        cats = Counter(items.category[i] for i in c_items)
        top = max(cats.values())
        main = min(k for k, v in cats.items() if v == top)
        f: dict[str, float] = {
            "id": r.id,
            "campaign_type_x": float(camp.campaign_type[r.campaign_id] == "X"),
            "campaign_days": (end - start).days,
            "campaign_offers": len(same_campaign),
            "campaign_customers": same_campaign.customer_id.nunique(),
            "campaign_coupons": same_campaign.coupon_id.nunique(),
            "coupon_campaign_customers": same_campaign[
                same_campaign.coupon_id == r.coupon_id
            ].customer_id.nunique(),
            "coupon_items": len(c_items),
            "coupon_brands": len(keys["brand"][r.coupon_id]),
            "coupon_categories": len(keys["category"][r.coupon_id]),
            "coupon_local_share": float(np.mean([items.brand_type[i] == "Local" for i in c_items])),
            "coupon_main_category": CATEGORIES.index(main) if main in CATEGORIES else np.nan,
            "customer_campaign_offers": int((same_campaign.customer_id == r.customer_id).sum()),
        }
        prior = known[(known.customer_id == r.customer_id) & (known.start < start)]
        f["customer_prior_offers"] = len(prior)
        f["customer_prior_campaigns"] = prior.campaign_id.nunique()
        past = train[train.end < start]
        mine = past[past.customer_id == r.customer_id]
        f["customer_past_offers"] = len(mine)
        f["customer_past_redemptions"] = mine.redemption_status.sum()
        f["customer_past_redemption_rate"] = rate(mine.redemption_status.sum(), len(mine))
        f["customer_past_campaigns"] = mine.campaign_id.nunique()
        same_coupon = past[past.coupon_id == r.coupon_id]
        f["coupon_past_offers"] = len(same_coupon)
        f["coupon_past_redemptions"] = same_coupon.redemption_status.sum()
        f["coupon_past_redemption_rate"] = rate(
            same_coupon.redemption_status.sum(), len(same_coupon)
        )
        brands = keys["brand"][r.coupon_id]
        sharing = past[
            np.array([bool(keys["brand"][c] & brands) for c in past.coupon_id], dtype=bool)
        ]
        f["brand_past_offers"] = len(sharing)
        f["brand_past_redemptions"] = sharing.redemption_status.sum()
        f["brand_past_redemption_rate"] = rate(sharing.redemption_status.sum(), len(sharing))
        redeemed = mine[mine.redemption_status == 1].coupon_id
        for level, name in (
            ("brand", "redeemed_brand_overlap"),
            ("category", "redeemed_category_overlap"),
        ):
            seen = set().union(*[keys[level][c] for c in redeemed]) if len(redeemed) else set()
            f[name] = len(keys[level][r.coupon_id] & seen)
        if r.customer_id in demo.index:
            d = demo.loc[r.customer_id]
            f["has_demographics"] = 1
            f["age_range_code"] = AGE_RANGES.index(d.age_range)
            marital = d.marital_status if isinstance(d.marital_status, str) else ""
            f["married"] = {"Married": 1, "Single": 0}.get(marital, np.nan)
            f["rented"] = d.rented
            f["family_size"] = int(str(d.family_size).rstrip("+"))
            kids = d.no_of_children
            f["no_of_children"] = (
                int(str(kids).rstrip("+")) if isinstance(kids, str) and kids else np.nan
            )
            f["income_bracket"] = d.income_bracket
        else:
            f["has_demographics"] = 0
            for name in (
                "age_range_code",
                "married",
                "rented",
                "family_size",
                "no_of_children",
                "income_bracket",
            ):
                f[name] = np.nan
        before = tx[(tx.customer_id == r.customer_id) & (tx.date < start)]
        f["customer_purchases"] = len(before)
        f["customer_spend"] = before.selling_price.sum()
        f["customer_purchase_days"] = before.date.nunique()
        f["customer_coupon_purchases"] = int((before.coupon_discount < 0).sum())
        f["customer_days_since_purchase"] = (
            (start - before.date.max()).days if len(before) else np.nan
        )
        for level in ("item", "brand", "category"):
            coupon_set = keys[level][r.coupon_id]
            bought = set(before[level])
            hits = before[before[level].isin(coupon_set)]
            overlap = len(coupon_set & bought)
            f[f"{level}_purchases"] = len(hits)
            f[f"{level}_spend"] = hits.selling_price.sum()
            f[f"{level}_overlap"] = overlap
            f[f"{level}_overlap_share"] = overlap / len(coupon_set)
            f[f"{level}_jaccard"] = overlap / len(coupon_set | bought)
            f[f"{level}_days_since_purchase"] = (
                (start - hits.date.max()).days if len(hits) else np.nan
            )
        rows.append(f)
    return pd.DataFrame(rows).set_index("id").sort_index()


def computed(folder: Path | AmExpertData, which: str = "train", **kw: object) -> pd.DataFrame:
    data = load_amexpert(folder) if isinstance(folder, Path) else folder
    offers = data.train if which == "train" else data.test
    assert offers is not None
    return build_features(data, offers, **kw).execute().set_index("id").sort_index()  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def world() -> dict[str, pd.DataFrame]:
    return build_world(seed=0)


@pytest.fixture(scope="module")
def folder(world: dict[str, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_world(tmp_path_factory.mktemp("amx_world"), world)


@pytest.fixture(scope="module")
def loaded(folder: Path) -> AmExpertData:
    return load_amexpert(folder)


@pytest.fixture(scope="module")
def features(loaded: AmExpertData) -> dict[str, pd.DataFrame]:
    return {which: computed(loaded, which) for which in ("train", "test")}


@pytest.mark.parametrize("which", ["train", "test"])
def test_every_feature_matches_pandas(
    world: dict[str, pd.DataFrame], features: dict[str, pd.DataFrame], which: str
) -> None:
    got = features[which]
    offers = world[which]
    want = reference(world, offers)
    names = feature_names(True)
    assert list(got.columns) == [c for c in KEY_COLUMNS if c != "id"] + names
    assert got.index.tolist() == want.index.tolist() == sorted(offers.id)
    for name in names:
        np.testing.assert_allclose(
            got[name].astype(float).to_numpy(),
            want[name].astype(float).to_numpy(),
            rtol=1e-9,
            atol=1e-9,
            err_msg=name,
        )
    # The world is not degenerate: the features take several values.
    varied = (
        "customer_past_offers",
        "item_overlap",
        "brand_jaccard",
        "brand_past_offers",
        "customer_prior_offers",
        "customer_days_since_purchase",
    )
    for name in varied:
        assert got[name].nunique() > 1, name


def test_the_world_covers_the_edge_cases(features: dict[str, pd.DataFrame]) -> None:
    train = features["train"]
    assert train["coupon_main_category"].isna().any()  # a category outside the real list
    assert train["has_demographics"].eq(0).any() and train["married"].isna().any()
    assert train["customer_past_redemption_rate"].isna().any()  # no past offers: NULL rate
    assert (train["redeemed_brand_overlap"] > 0).any()


def test_features_without_transactions(
    loaded: AmExpertData, features: dict[str, pd.DataFrame]
) -> None:
    got = computed(loaded, use_transactions=False)
    assert list(got.columns)[3:] == feature_names(False)
    pd.testing.assert_frame_equal(got, features["train"][got.columns])


def test_transaction_features_need_the_table(
    tmp_path: Path, world: dict[str, pd.DataFrame]
) -> None:
    no_tx = {k: v for k, v in world.items() if k != "customer_transaction_data"}
    data = load_amexpert(write_world(tmp_path / "w", no_tx))
    with pytest.raises(InputError, match="customer_transaction_data.csv"):
        build_features(data, data.train, use_transactions=True)


def perturb_after(
    world: dict[str, pd.DataFrame], start: pd.Timestamp, seed: int
) -> dict[str, pd.DataFrame]:
    """Change everything a campaign starting at ``start`` must not see."""
    rng = np.random.default_rng(seed)
    out = {k: v.copy() for k, v in world.items()}
    tx = out["customer_transaction_data"]
    late = pd.to_datetime(tx.date) >= start
    tx.loc[late, "selling_price"] = np.round(rng.uniform(1000, 2000, late.sum()), 2)
    tx.loc[late, "item_id"] = rng.integers(1, 31, late.sum())
    tx.loc[late, "coupon_discount"] = -99.0
    extra = tx[late].head(30).copy()
    extra["customer_id"] = rng.integers(1, 11, len(extra))
    extra["date"] = start.strftime("%Y-%m-%d")  # on the start day itself
    out["customer_transaction_data"] = pd.concat([tx, extra], ignore_index=True)
    # New offers in campaigns that start later (offer lists not yet drawn up at the start).
    starts = CAMPAIGNS.set_index("campaign_id").start
    later = [c for c in CAMPAIGNS.campaign_id if starts[c] > start and c > 4]
    if later:
        extra_offers = pd.DataFrame(
            {
                "id": np.arange(1001, 1011),
                "campaign_id": later[0],
                "coupon_id": 1,
                "customer_id": np.arange(1, 11),
            }
        )
        out["test"] = pd.concat([out["test"], extra_offers], ignore_index=True).drop_duplicates(
            ["campaign_id", "coupon_id", "customer_id"]
        )
    train = out["train"]
    ends = train.campaign_id.map(CAMPAIGNS.set_index("campaign_id").end)
    unknown = ends >= start  # outcomes not known at the start
    train.loc[unknown, "redemption_status"] = 1 - train.loc[unknown, "redemption_status"]
    return out


@pytest.mark.parametrize("campaign", [3])
def test_nothing_on_or_after_the_start_reaches_the_features(
    world: dict[str, pd.DataFrame],
    features: dict[str, pd.DataFrame],
    tmp_path: Path,
    campaign: int,
) -> None:
    """Purchases on/after the start changed or added, outcomes not yet known flipped: no effect."""
    starts = CAMPAIGNS.set_index("campaign_id").start
    start = starts[campaign]
    changed = load_amexpert(write_world(tmp_path / "w", perturb_after(world, start, seed=campaign)))
    checked = changed_later = 0
    for which in ("train", "test"):
        before = features[which]
        after = computed(changed, which)
        offers = world[which].set_index("id")
        blind = offers.index[offers.campaign_id.map(starts) <= start]  # incl. same-day starts
        pd.testing.assert_frame_equal(before.loc[blind], after.loc[blind])
        checked += len(blind)
        later = offers.index[offers.campaign_id.map(starts) > start]
        # ... while campaigns that start later do see the changes (the test is not vacuous).
        if len(later):
            assert not before.loc[later].equals(after.loc[later])
            changed_later += 1
    assert checked > 0 and changed_later > 0
    if campaign == 3:  # campaign 4 starts the same day as 3
        assert (world["train"].campaign_id == 4).any()


def test_history_before_the_start_does_reach_the_features(
    world: dict[str, pd.DataFrame], features: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    start = CAMPAIGNS.set_index("campaign_id").start[3]
    changed = {k: v.copy() for k, v in world.items()}
    tx = changed["customer_transaction_data"]
    day_before = (start - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    offered = world["train"][world["train"].campaign_id == 3].iloc[0]
    item = int(
        world["coupon_item_mapping"].query("coupon_id == @offered.coupon_id").item_id.iloc[0]
    )
    tx.loc[len(tx)] = [day_before, offered.customer_id, item, 1, 50.0, 0.0, 0.0]
    after = computed(write_world(tmp_path / "c", changed))
    before = features["train"]
    assert after.loc[offered.id, "item_purchases"] == before.loc[offered.id, "item_purchases"] + 1
    assert after.loc[offered.id, "item_days_since_purchase"] == 1
