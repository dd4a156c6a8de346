"""A synthetic AmExpert dataset: all seven tables with consistent ids and a planted signal.

The generator draws brands (each with a home category and a brand type), items, coupons (most
cover a few items of one brand, some a slice of a category), customers with favourite brands,
a purchase rate and a latent coupon-proneness, two years of purchases, and campaigns that offer
coupons to some customers. The planted truth: the log-odds that a customer redeems a coupon is

    base + 1.1 * log(1 + purchases of the coupon's brands before the campaign start)
         + 1.2 * [bought one of the coupon's own items before the start]
         + 0.8 * coupon-proneness + 0.4 * [campaign type X]

so the purchase history (dated before the campaign start: point in time) carries most of the
signal, and the customer's earlier redemptions carry the proneness. Redeemed coupons also leave
a purchase with a coupon discount *inside* the campaign: a model that peeks past the start
would find it. Train campaigns all end before the test campaigns start, as in the competition.

Files written (competition names and layouts): ``train.csv``, ``test.csv``,
``campaign_data.csv`` (dates ``dd/mm/yy``), ``coupon_item_mapping.csv``, ``item_data.csv``,
``customer_demographics.csv`` (about 60% of customers; ``5+``/``3+`` and empty fields as in the
real file), ``customer_transaction_data.csv`` (dates ``yyyy-mm-dd``); and
``synthetic_truth.csv``: ``id, redemption_probability, redemption_status`` for every train and
test row (the oracle; the test labels live only here).

Example:
    >>> import tempfile, pathlib
    >>> out = write_amexpert(pathlib.Path(tempfile.mkdtemp()), seed=3, customers=80)
    >>> sorted(p.name for p in out.folder.iterdir())[:3]
    ['campaign_data.csv', 'coupon_item_mapping.csv', 'customer_demographics.csv']
    >>> 0 < out.train_redemption_rate < 0.5
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from couponlens._results import Result

CATEGORIES: tuple[str, ...] = (
    "Grocery",
    "Pharmaceutical",
    "Natural Products",
    "Dairy, Juices & Snacks",
    "Skin & Hair Care",
    "Meat",
    "Packaged Meat",
    "Prepared Food",
    "Bakery",
    "Seafood",
)
AGE_RANGES: tuple[str, ...] = ("18-25", "26-35", "36-45", "46-55", "56-70", "70+")

#: The planted coefficients of the redemption log-odds (see the module docstring).
PLANTED = {
    "base": -5.2,
    "log1p_brand_purchases": 1.1,
    "bought_coupon_item": 1.2,
    "coupon_proneness": 0.8,
    "campaign_type_x": 0.4,
}

HISTORY_START = pd.Timestamp("2012-01-02")
HISTORY_END = pd.Timestamp("2013-07-03")


@dataclass(frozen=True)
class AmExpertTables:
    """The generated tables as pandas frames (file layouts), plus the oracle."""

    train: pd.DataFrame
    test: pd.DataFrame
    campaign_data: pd.DataFrame
    coupon_item_mapping: pd.DataFrame
    item_data: pd.DataFrame
    customer_demographics: pd.DataFrame
    customer_transaction_data: pd.DataFrame
    truth: pd.DataFrame


@dataclass(frozen=True, repr=False)
class GeneratedAmExpert(Result):
    """Where the files went and the headline numbers of the draw."""

    folder: Path
    seed: int
    customers: int
    train_rows: int
    test_rows: int
    transactions: int
    train_redemption_rate: float
    test_redemption_rate: float


def _campaigns(rng: np.random.Generator) -> pd.DataFrame:
    """12 train campaigns (2012-06..2013-05) and 4 test campaigns (from 2013-07-15)."""
    rows = []
    start = pd.Timestamp("2012-06-04")
    for campaign_id in range(1, 13):
        length = int(rng.integers(28, 50))
        rows.append((campaign_id, start, start + pd.Timedelta(days=length)))
        start = start + pd.Timedelta(days=int(rng.integers(21, 35)))
    last_train_end = max(r[2] for r in rows)
    start = max(last_train_end + pd.Timedelta(days=3), pd.Timestamp("2013-07-15"))
    for campaign_id in range(13, 17):
        length = int(rng.integers(28, 45))
        rows.append((campaign_id, start, start + pd.Timedelta(days=length)))
        start = start + pd.Timedelta(days=int(rng.integers(7, 20)))
    frame = pd.DataFrame(rows, columns=["campaign_id", "start", "end"])
    frame["campaign_type"] = np.where(rng.random(len(frame)) < 0.3, "X", "Y")
    return frame


def generate_amexpert(seed: int = 0, customers: int = 1000) -> AmExpertTables:
    """Draw the seven tables and the oracle (see the module docstring).

    Example:
        >>> tables = generate_amexpert(seed=1, customers=50)
        >>> set(tables.train.customer_id) <= set(range(1, 51))
        True
        >>> bool(tables.coupon_item_mapping.item_id.isin(tables.item_data.item_id).all())
        True
    """
    if customers < 10:
        raise ValueError(f"customers must be at least 10, got {customers}")
    rng = np.random.default_rng(seed)

    # Brands, items, coupons.
    n_brands, n_items, n_coupons = 120, 1500, 160
    brand_category = rng.integers(0, len(CATEGORIES), n_brands)
    brand_type = np.where(rng.random(n_brands) < 0.8, "Established", "Local")
    item_brand = np.sort(rng.integers(0, n_brands, n_items))  # items grouped by brand
    item_category = np.where(
        rng.random(n_items) < 0.85,
        brand_category[item_brand],
        rng.integers(0, len(CATEGORIES), n_items),
    )
    item_data = pd.DataFrame(
        {
            "item_id": np.arange(1, n_items + 1),
            "brand": item_brand + 1,
            "brand_type": brand_type[item_brand],
            "category": np.array(CATEGORIES)[item_category],
        }
    )
    items_of_brand = [np.flatnonzero(item_brand == b) for b in range(n_brands)]
    items_of_category = [np.flatnonzero(item_category == c) for c in range(len(CATEGORIES))]
    mapping_rows = []
    for coupon in range(n_coupons):
        if rng.random() < 0.75:
            pool = items_of_brand[int(rng.integers(0, n_brands))]
            if len(pool) == 0:
                pool = items_of_brand[int(np.argmax([len(p) for p in items_of_brand]))]
            size = int(rng.integers(1, min(len(pool), 10) + 1))
        else:
            pool = items_of_category[int(rng.integers(0, len(CATEGORIES)))]
            size = int(rng.integers(5, min(len(pool), 40) + 1))
        for item in rng.choice(pool, size=size, replace=False):
            mapping_rows.append((coupon + 1, int(item) + 1))
    mapping = pd.DataFrame(mapping_rows, columns=["coupon_id", "item_id"])

    # Customers.
    proneness = rng.normal(0.0, 1.0, customers)
    purchase_rate = rng.gamma(2.0, 0.12, customers)  # purchases per day
    n_favourites = rng.integers(2, 6, customers)
    favourites = [rng.choice(n_brands, size=int(k), replace=False) for k in n_favourites]

    # Transactions over the history.
    days = (HISTORY_END - HISTORY_START).days
    counts = rng.poisson(purchase_rate * days)
    owner = np.repeat(np.arange(customers), counts)
    n_tx = len(owner)
    day = rng.integers(0, days, n_tx)
    from_favourite = rng.random(n_tx) < 0.7
    favourite_matrix = np.zeros((customers, int(n_favourites.max())), dtype=np.int64)
    for customer, brands in enumerate(favourites):
        favourite_matrix[customer, : len(brands)] = brands
    slot = (rng.random(n_tx) * n_favourites[owner]).astype(np.int64)
    fav_pick = favourite_matrix[owner, slot]
    brand_pick = np.where(from_favourite, fav_pick, rng.integers(0, n_brands, n_tx))
    brand_sizes = np.array([len(p) for p in items_of_brand])
    brand_pick = np.where(brand_sizes[brand_pick] == 0, int(np.argmax(brand_sizes)), brand_pick)
    offsets = np.concatenate([[0], np.cumsum(brand_sizes)[:-1]])
    item_pick = offsets[brand_pick] + (rng.random(n_tx) * brand_sizes[brand_pick]).astype(np.int64)
    unit_price = np.round(rng.lognormal(4.0, 0.6, n_items), 2)
    quantity = rng.integers(1, 4, n_tx)
    selling_price = np.round(unit_price[item_pick] * quantity, 2)
    other_discount = np.where(rng.random(n_tx) < 0.3, -np.round(selling_price * 0.15, 2), 0.0)
    transactions = pd.DataFrame(
        {
            "date": HISTORY_START + pd.to_timedelta(day, unit="D"),
            "customer_id": owner + 1,
            "item_id": item_pick + 1,
            "quantity": quantity,
            "selling_price": selling_price,
            "other_discount": other_discount,
            "coupon_discount": 0.0,
        }
    )

    # Campaigns and offers.
    campaigns = _campaigns(rng)
    offers = []
    for row in campaigns.itertuples(index=False):
        coupons = rng.choice(n_coupons, size=25, replace=False) + 1
        reached = rng.choice(customers, size=max(3, int(0.3 * customers)), replace=False) + 1
        for customer in reached:
            k = int(rng.integers(1, 7))
            for coupon in rng.choice(coupons, size=k, replace=False):
                offers.append((row.campaign_id, int(coupon), int(customer)))
    offer_frame = pd.DataFrame(offers, columns=["campaign_id", "coupon_id", "customer_id"])
    offer_frame = offer_frame.merge(campaigns, on="campaign_id")
    offer_frame["row"] = np.arange(len(offer_frame))

    # The planted truth, from purchases dated before each campaign's start.
    tx = transactions.merge(item_data[["item_id", "brand"]], on="item_id")
    coupon_brands = mapping.merge(item_data[["item_id", "brand"]], on="item_id")[
        ["coupon_id", "brand"]
    ].drop_duplicates()
    by_brand = offer_frame[["row", "customer_id", "coupon_id", "start"]].merge(
        coupon_brands, on="coupon_id"
    )
    by_brand = by_brand.merge(tx[["customer_id", "brand", "date"]], on=["customer_id", "brand"])
    brand_purchases = (
        by_brand[by_brand.date < by_brand.start]
        .groupby("row")
        .size()
        .reindex(offer_frame.row, fill_value=0)
    )
    by_item = offer_frame[["row", "customer_id", "coupon_id", "start"]].merge(
        mapping, on="coupon_id"
    )
    by_item = by_item.merge(
        transactions[["customer_id", "item_id", "date"]], on=["customer_id", "item_id"]
    )
    item_bought = (
        by_item[by_item.date < by_item.start]
        .groupby("row")
        .size()
        .reindex(offer_frame.row, fill_value=0)
        > 0
    )
    logit = (
        PLANTED["base"]
        + PLANTED["log1p_brand_purchases"] * np.log1p(brand_purchases.to_numpy())
        + PLANTED["bought_coupon_item"] * item_bought.to_numpy()
        + PLANTED["coupon_proneness"] * proneness[offer_frame.customer_id.to_numpy() - 1]
        + PLANTED["campaign_type_x"] * (offer_frame.campaign_type.to_numpy() == "X")
    )
    probability = 1.0 / (1.0 + np.exp(-logit))
    redeemed = (rng.random(len(offer_frame)) < probability).astype(np.int64)
    offer_frame["redemption_probability"] = probability
    offer_frame["redemption_status"] = redeemed

    # Redemptions leave a coupon purchase inside the campaign (after its start).
    used = offer_frame[offer_frame.redemption_status == 1]
    if len(used):
        first_item = mapping.groupby("coupon_id").item_id.first()
        span = (used.end - used.start).dt.days.to_numpy()
        when = used.start + pd.to_timedelta((rng.random(len(used)) * span).astype(int), unit="D")
        item = first_item.loc[used.coupon_id].to_numpy()
        price = np.round(unit_price[item - 1], 2)
        coupon_tx = pd.DataFrame(
            {
                "date": when.to_numpy(),
                "customer_id": used.customer_id.to_numpy(),
                "item_id": item,
                "quantity": 1,
                "selling_price": price,
                "other_discount": 0.0,
                "coupon_discount": -np.round(price * 0.2, 2),
            }
        )
        transactions = pd.concat([transactions, coupon_tx], ignore_index=True)
    transactions = transactions.sort_values(["date", "customer_id"], kind="stable").reset_index(
        drop=True
    )
    transactions["date"] = transactions["date"].dt.strftime("%Y-%m-%d")

    # Ids shuffled across train and test, as in the competition files.
    offer_frame["id"] = rng.permutation(len(offer_frame)) + 1
    offer_frame = offer_frame.sort_values("id").reset_index(drop=True)
    is_train = offer_frame.campaign_id <= 12
    train = offer_frame.loc[
        is_train, ["id", "campaign_id", "coupon_id", "customer_id", "redemption_status"]
    ]
    test = offer_frame.loc[~is_train, ["id", "campaign_id", "coupon_id", "customer_id"]]
    truth = offer_frame[["id", "redemption_probability", "redemption_status"]]

    # Demographics for about 60% of the customers, with the real file's gaps and "+" codes.
    with_demo = np.flatnonzero(rng.random(customers) < 0.6)
    family = rng.choice(
        ["1", "2", "3", "4", "5+"], size=len(with_demo), p=[0.3, 0.4, 0.14, 0.08, 0.08]
    )
    children = np.where(
        np.isin(family, ["3", "4", "5+"]),
        rng.choice(["1", "2", "3+"], size=len(with_demo)),
        "",
    )
    children = np.where((children != "") & (rng.random(len(with_demo)) < 0.2), "", children)
    income = np.clip(
        np.round(5 + 1.5 * proneness[with_demo] + rng.normal(0, 2, len(with_demo))), 1, 12
    )
    demographics = pd.DataFrame(
        {
            "customer_id": with_demo + 1,
            "age_range": rng.choice(AGE_RANGES, size=len(with_demo)),
            "marital_status": np.where(
                rng.random(len(with_demo)) < 0.4,
                "",
                rng.choice(["Married", "Single"], size=len(with_demo), p=[0.7, 0.3]),
            ),
            "rented": (rng.random(len(with_demo)) < 0.06).astype(int),
            "family_size": family,
            "no_of_children": children,
            "income_bracket": income.astype(int),
        }
    )

    campaign_data = pd.DataFrame(
        {
            "campaign_id": campaigns.campaign_id,
            "campaign_type": campaigns.campaign_type,
            "start_date": campaigns.start.dt.strftime("%d/%m/%y"),
            "end_date": campaigns.end.dt.strftime("%d/%m/%y"),
        }
    ).iloc[::-1]
    return AmExpertTables(
        train=train.reset_index(drop=True),
        test=test.reset_index(drop=True),
        campaign_data=campaign_data.reset_index(drop=True),
        coupon_item_mapping=mapping,
        item_data=item_data,
        customer_demographics=demographics,
        customer_transaction_data=transactions,
        truth=truth.reset_index(drop=True),
    )


def write_amexpert(
    folder: str | Path,
    *,
    seed: int = 0,
    customers: int = 1000,
    transactions: bool = True,
) -> GeneratedAmExpert:
    """Generate the tables and write them to ``folder`` under their competition names.

    Args:
        folder: created if missing.
        seed: the random seed (same seed, same files).
        customers: number of customers.
        transactions: write ``customer_transaction_data.csv`` (set False to mimic the shared
            real data, which lacks it).

    Example:
        >>> import tempfile
        >>> out = write_amexpert(tempfile.mkdtemp(), seed=2, customers=40, transactions=False)
        >>> (out.folder / "customer_transaction_data.csv").exists()
        False
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables = generate_amexpert(seed=seed, customers=customers)
    files = {
        "train.csv": tables.train,
        "test.csv": tables.test,
        "campaign_data.csv": tables.campaign_data,
        "coupon_item_mapping.csv": tables.coupon_item_mapping,
        "item_data.csv": tables.item_data,
        "customer_demographics.csv": tables.customer_demographics,
        "synthetic_truth.csv": tables.truth,
    }
    if transactions:
        files["customer_transaction_data.csv"] = tables.customer_transaction_data
    for name, frame in files.items():
        tmp = folder / (name + ".tmp")
        frame.to_csv(tmp, index=False)
        tmp.replace(folder / name)
    truth = tables.truth.set_index("id")
    return GeneratedAmExpert(
        folder=folder,
        seed=seed,
        customers=customers,
        train_rows=len(tables.train),
        test_rows=len(tables.test),
        transactions=len(tables.customer_transaction_data) if transactions else 0,
        train_redemption_rate=float(tables.train.redemption_status.mean()),
        test_redemption_rate=float(truth.loc[tables.test.id, "redemption_status"].mean()),
    )
