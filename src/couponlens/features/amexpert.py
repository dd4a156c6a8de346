"""Point-in-time features for AmExpert coupon offers, as Ibis expressions on the engine.

Every offer (a row of ``train.csv``/``test.csv``: a coupon offered to a customer in a campaign)
gets features that use only what was known at its **campaign's start date**:

* purchase history (``customer_transaction_data.csv``, when present): only purchases dated
  strictly before the start. For the coupon's items, brands and categories: purchases, spend,
  the number of the coupon's items/brands/categories the customer had bought (overlap), the share
  of the coupon they cover and the Jaccard index between the coupon's set and the customer's set,
  and the days since the last such purchase; plus the customer's overall purchases, spend, active
  days, coupon-discounted purchases and days since the last purchase;
* past coupon redemption: ``train.csv`` labels of campaigns that **ended** before the start, by
  customer (offers, redemptions, rate, campaigns), by coupon (offers, redemptions, rate), by the
  coupon's brands (earlier offers of any coupon sharing a brand, their redemptions and rate), and
  the overlap between this coupon's brands/categories and those of coupons the customer redeemed;
* earlier offers: offers (train or test, labelled or not) the customer received in campaigns that
  **started** before this one (an offer list is known when its campaign starts);
* demographics (NULL where the partial table has no row: ``has_demographics`` says which);
* campaign and coupon attributes (type, length, offers, customers and coupons of the campaign,
  customers offered this coupon in it, the coupon's items/brands/categories, share of local
  brands, main category as an index of :data:`CATEGORIES`), and how many offers the customer got
  in the same campaign.

Campaign-level counts are taken over the offers passed to :func:`build_features`, so pass a
campaign's whole offer list. Intermediate tables are materialised as temporary tables on the
engine (compiling one nested expression took seconds).

Counts are 0 when there is no history; rates are NULL when their denominator is 0 (LightGBM
treats NULL as missing).

Example:
    >>> import tempfile, pathlib
    >>> from couponlens.datasets.amexpert import load_amexpert
    >>> from couponlens.datasets.amexpert_synthetic import write_amexpert
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = write_amexpert(folder, seed=1, customers=60)
    >>> data = load_amexpert(folder)
    >>> table = build_features(data, data.train)
    >>> set(feature_names(True)) <= set(table.columns)
    True
    >>> table.count().execute() == data.train.count().execute()
    True
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from couponlens.datasets.amexpert import AGE_RANGES, AmExpertData
from couponlens.errors import InputError
from couponlens.handoff import materialise

KEY_COLUMNS: tuple[str, ...] = ("id", "campaign_id", "coupon_id", "customer_id")

#: The item categories of the real ``item_data.csv`` (``coupon_main_category`` is an index here).
CATEGORIES: tuple[str, ...] = (
    "Alcohol",
    "Bakery",
    "Dairy, Juices & Snacks",
    "Flowers & Plants",
    "Fuel",
    "Garden",
    "Grocery",
    "Meat",
    "Miscellaneous",
    "Natural Products",
    "Packaged Meat",
    "Pharmaceutical",
    "Prepared Food",
    "Restauarant",
    "Salads",
    "Seafood",
    "Skin & Hair Care",
    "Travel",
    "Vegetables (cut)",
)

CAMPAIGN_FEATURES: tuple[str, ...] = (
    "campaign_type_x",
    "campaign_days",
    "campaign_offers",
    "campaign_customers",
    "campaign_coupons",
    "coupon_campaign_customers",
)
COUPON_FEATURES: tuple[str, ...] = (
    "coupon_items",
    "coupon_brands",
    "coupon_categories",
    "coupon_local_share",
    "coupon_main_category",
)
REDEMPTION_FEATURES: tuple[str, ...] = (
    "customer_campaign_offers",
    "customer_prior_offers",
    "customer_prior_campaigns",
    "customer_past_offers",
    "customer_past_redemptions",
    "customer_past_redemption_rate",
    "customer_past_campaigns",
    "coupon_past_offers",
    "coupon_past_redemptions",
    "coupon_past_redemption_rate",
    "brand_past_offers",
    "brand_past_redemptions",
    "brand_past_redemption_rate",
    "redeemed_brand_overlap",
    "redeemed_category_overlap",
)
DEMOGRAPHIC_FEATURES: tuple[str, ...] = (
    "has_demographics",
    "age_range_code",
    "married",
    "rented",
    "family_size",
    "no_of_children",
    "income_bracket",
)
_LEVELS = {"item_id": "item", "brand": "brand", "category": "category"}
TRANSACTION_FEATURES: tuple[str, ...] = (
    "customer_purchases",
    "customer_spend",
    "customer_purchase_days",
    "customer_coupon_purchases",
    "customer_days_since_purchase",
    *(
        f"{level}_{what}"
        for level in _LEVELS.values()
        for what in (
            "purchases",
            "spend",
            "overlap",
            "overlap_share",
            "jaccard",
            "days_since_purchase",
        )
    ),
)


def feature_names(with_transactions: bool) -> list[str]:
    """The model's feature columns, in order.

    Example:
        >>> len(feature_names(False)) < len(feature_names(True))
        True
    """
    names = [*CAMPAIGN_FEATURES, *COUPON_FEATURES, *REDEMPTION_FEATURES, *DEMOGRAPHIC_FEATURES]
    if with_transactions:
        names += TRANSACTION_FEATURES
    return names


def _keep(data: AmExpertData, expr: ir.Table) -> ir.Table:
    """Materialise ``expr`` (a temporary table, a cached view on Spark): later expressions stay
    small to compile."""
    return materialise(data.con, expr)


def _coupon_keys(data: AmExpertData, level: str) -> ir.Table:
    """Distinct (coupon_id, key) for level ``item_id``, ``brand`` or ``category``."""
    mapped = data.coupon_items.select("coupon_id", "item_id")
    if level == "item_id":
        return mapped.select("coupon_id", key=mapped.item_id.cast("string")).distinct()
    items = data.items.select("item_id", key=data.items[level].cast("string"))
    return mapped.join(items, "item_id").select("coupon_id", "key").distinct()


def _offers_with_dates(data: AmExpertData, offers: ir.Table) -> ir.Table:
    missing = [c for c in KEY_COLUMNS if c not in offers.columns]
    if missing:
        raise InputError(
            f"offers table lacks column(s) {', '.join(missing)}; expected {', '.join(KEY_COLUMNS)}"
        )
    campaigns = data.campaigns.select("campaign_id", "campaign_type", "start_date", "end_date")
    return offers.select(*KEY_COLUMNS).join(campaigns, "campaign_id")


def _campaign_features(o: ir.Table) -> ir.Table:
    per_campaign = o.group_by("campaign_id").aggregate(
        campaign_offers=o.count(),
        campaign_customers=o.customer_id.nunique(),
        campaign_coupons=o.coupon_id.nunique(),
    )
    per_customer = o.group_by(["campaign_id", "customer_id"]).aggregate(
        customer_campaign_offers=o.count()
    )
    per_coupon = o.group_by(["campaign_id", "coupon_id"]).aggregate(
        coupon_campaign_customers=o.customer_id.nunique()
    )
    t = (
        o.join(per_campaign, "campaign_id")
        .join(per_customer, ["campaign_id", "customer_id"])
        .join(per_coupon, ["campaign_id", "coupon_id"])
    )
    return t.select(
        "id",
        campaign_type_x=(t.campaign_type == "X").cast("int64"),
        campaign_days=t.end_date.delta(t.start_date, unit="day").cast("int64"),
        campaign_offers=t.campaign_offers.cast("int64"),
        campaign_customers=t.campaign_customers.cast("int64"),
        campaign_coupons=t.campaign_coupons.cast("int64"),
        customer_campaign_offers=t.customer_campaign_offers.cast("int64"),
        coupon_campaign_customers=t.coupon_campaign_customers.cast("int64"),
    )


def _coupon_features(data: AmExpertData) -> ir.Table:
    m = data.coupon_items.select("coupon_id", "item_id").distinct()
    items = data.items.select("item_id", "brand", "brand_type", "category")
    t = m.join(items, "item_id")
    sizes = t.group_by("coupon_id").aggregate(
        coupon_items=t.item_id.nunique().cast("int64"),
        coupon_brands=t.brand.nunique().cast("int64"),
        coupon_categories=t.category.nunique().cast("int64"),
        coupon_local_share=(t.brand_type == "Local").cast("float64").mean(),
    )
    # The most frequent category of the coupon's items (ties: the first name in order).
    per_category = t.group_by(["coupon_id", "category"]).aggregate(n=t.count())
    ranked = per_category.mutate(
        _rank=ibis.row_number().over(
            group_by="coupon_id", order_by=[ibis.desc("n"), per_category.category]
        )
    )
    main = ranked.filter(ranked._rank == 0)
    code = ibis.cases(
        *[(main.category == c, i) for i, c in enumerate(CATEGORIES)], else_=ibis.null("int64")
    )
    main = main.select(_coupon_id="coupon_id", coupon_main_category=code.cast("int64"))
    joined = sizes.left_join(main, sizes.coupon_id == main._coupon_id)
    return joined.select(*sizes.columns, "coupon_main_category")


def _known_offers(data: AmExpertData, offers: ir.Table) -> ir.Table:
    """Every offer known to exist (train, test and the scored rows), with its campaign start."""
    keys = ["campaign_id", "coupon_id", "customer_id"]
    parts = [data.train.select(*keys), offers.select(*keys)]
    if data.test is not None:
        parts.append(data.test.select(*keys))
    known = ibis.union(*parts, distinct=True)
    starts = data.campaigns.select("campaign_id", "start_date")
    return known.join(starts, "campaign_id").select(
        prior_campaign_id="campaign_id",
        prior_customer_id="customer_id",
        prior_start="start_date",
    )


def _prior_offer_features(data: AmExpertData, o: ir.Table, offers: ir.Table) -> ir.Table:
    """Offers the customer received in campaigns that started before this one's start.

    Offers are known when a campaign starts (its offer list is drawn up in advance), so
    train and test offers of earlier campaigns count, labelled or not.
    """
    known = _known_offers(data, offers)
    pairs = o.select("customer_id", "campaign_id", "start_date").distinct()
    h = pairs.join(
        known,
        [pairs.customer_id == known.prior_customer_id, known.prior_start < pairs.start_date],
    )
    per_pair = h.group_by(["customer_id", "campaign_id"]).aggregate(
        customer_prior_offers=h.count(),
        customer_prior_campaigns=h.prior_campaign_id.nunique(),
    )
    t = o.select("id", "customer_id", "campaign_id").left_join(
        per_pair, ["customer_id", "campaign_id"]
    )
    return t.select(
        "id",
        customer_prior_offers=t.customer_prior_offers.fill_null(0).cast("int64"),
        customer_prior_campaigns=t.customer_prior_campaigns.fill_null(0).cast("int64"),
    )


def _past_labels(data: AmExpertData) -> ir.Table:
    """Train labels with their campaign's end date, renamed so joins do not collide."""
    campaigns = data.campaigns.select(past_campaign_id="campaign_id", past_end="end_date")
    labels = data.train.select(
        past_campaign_id="campaign_id",
        past_customer_id="customer_id",
        past_coupon_id="coupon_id",
        past_status="redemption_status",
    )
    return labels.join(campaigns, "past_campaign_id")


def _redemption_features(data: AmExpertData, o: ir.Table) -> ir.Table:
    labels = _past_labels(data)
    pairs = o.select("customer_id", "campaign_id", "start_date").distinct()
    h = pairs.join(
        labels,
        [pairs.customer_id == labels.past_customer_id, labels.past_end < pairs.start_date],
    )
    by_customer = h.group_by(["customer_id", "campaign_id"]).aggregate(
        customer_past_offers=h.count(),
        customer_past_redemptions=h.past_status.sum(),
        customer_past_campaigns=h.past_campaign_id.nunique(),
    )
    coupon_pairs = o.select("coupon_id", "campaign_id", "start_date").distinct()
    hc = coupon_pairs.join(
        labels,
        [
            coupon_pairs.coupon_id == labels.past_coupon_id,
            labels.past_end < coupon_pairs.start_date,
        ],
    )
    by_coupon = hc.group_by(["coupon_id", "campaign_id"]).aggregate(
        coupon_past_offers=hc.count(),
        coupon_past_redemptions=hc.past_status.sum(),
    )
    t = o.select("id", "customer_id", "campaign_id", "coupon_id")
    t = t.left_join(by_customer, ["customer_id", "campaign_id"]).select(
        "id", "customer_id", "campaign_id", "coupon_id", *by_customer.columns[2:]
    )
    t = t.left_join(by_coupon, ["coupon_id", "campaign_id"]).select(
        *t.columns, *by_coupon.columns[2:]
    )
    out = t.select(
        "id",
        customer_past_offers=t.customer_past_offers.fill_null(0).cast("int64"),
        customer_past_redemptions=t.customer_past_redemptions.fill_null(0).cast("int64"),
        customer_past_campaigns=t.customer_past_campaigns.fill_null(0).cast("int64"),
        coupon_past_offers=t.coupon_past_offers.fill_null(0).cast("int64"),
        coupon_past_redemptions=t.coupon_past_redemptions.fill_null(0).cast("int64"),
    )
    return out.mutate(
        customer_past_redemption_rate=ibis.ifelse(
            out.customer_past_offers > 0,
            out.customer_past_redemptions / out.customer_past_offers,
            ibis.null("float64"),
        ),
        coupon_past_redemption_rate=ibis.ifelse(
            out.coupon_past_offers > 0,
            out.coupon_past_redemptions / out.coupon_past_offers,
            ibis.null("float64"),
        ),
    )


def _brand_history(data: AmExpertData, o: ir.Table) -> ir.Table:
    """Earlier offers (any customer) of coupons sharing a brand with this coupon, and their outcome.

    Only ``train.csv`` offers of campaigns that ended before this campaign's start count; a
    past offer counts once however many brands it shares.
    """
    keys = _coupon_keys(data, "brand")
    labels = data.train.select(
        past_id="id", past_campaign_id="campaign_id", past_coupon_id="coupon_id",
        past_status="redemption_status",
    )  # fmt: skip
    ends = data.campaigns.select(past_campaign_id="campaign_id", past_end="end_date")
    past_keys = keys.rename(past_coupon_id="coupon_id", past_key="key")
    past = labels.join(ends, "past_campaign_id").join(past_keys, "past_coupon_id")
    past = past.select("past_id", "past_end", "past_status", "past_key")
    pairs = o.select("coupon_id", "campaign_id", "start_date").distinct()
    pair_keys = pairs.join(keys, "coupon_id")
    h = pair_keys.join(past, [pair_keys.key == past.past_key, past.past_end < pair_keys.start_date])
    per_pair = h.group_by(["coupon_id", "campaign_id"]).aggregate(
        brand_past_offers=h.past_id.nunique(),
        brand_past_redemptions=h.past_id.nunique(where=h.past_status == 1),
    )
    t = o.select("id", "coupon_id", "campaign_id").left_join(per_pair, ["coupon_id", "campaign_id"])
    n = t.brand_past_offers.fill_null(0).cast("int64")
    r = t.brand_past_redemptions.fill_null(0).cast("int64")
    return t.select(
        "id",
        brand_past_offers=n,
        brand_past_redemptions=r,
        brand_past_redemption_rate=ibis.ifelse(n > 0, r / n, ibis.null("float64")),
    )


def _redeemed_overlap(data: AmExpertData, o: ir.Table, level: str, name: str) -> ir.Table:
    """How many of the coupon's brands (categories) were in coupons the customer redeemed before."""
    labels = _past_labels(data)
    redeemed = labels.filter(labels.past_status == 1)
    keys = _coupon_keys(data, level).rename(past_coupon_id="coupon_id", past_key="key")
    redeemed_keys = redeemed.join(keys, "past_coupon_id").select(
        "past_customer_id", "past_end", "past_key"
    )
    pairs = o.select("customer_id", "campaign_id", "start_date").distinct()
    known = pairs.join(
        redeemed_keys,
        [
            pairs.customer_id == redeemed_keys.past_customer_id,
            redeemed_keys.past_end < pairs.start_date,
        ],
    ).select("customer_id", "campaign_id", key="past_key")
    known = known.distinct()
    offer_keys = o.select("id", "customer_id", "campaign_id", "coupon_id").join(
        _coupon_keys(data, level), "coupon_id"
    )
    hits = offer_keys.join(known, ["customer_id", "campaign_id", "key"])
    counted = hits.group_by("id").aggregate(n=hits.count())
    t = o.select("id").left_join(counted, "id")
    return t.select(t.id, **{name: t.n.fill_null(0).cast("int64")})


def _demographic_features(data: AmExpertData, o: ir.Table) -> ir.Table:
    d = data.demographics
    age_code = ibis.cases(
        *[(d.age_range == a, i) for i, a in enumerate(AGE_RANGES)], else_=ibis.null("int64")
    )
    demo = d.select(
        demo_customer_id="customer_id",
        has_demographics=ibis.literal(1, "int64"),
        age_range_code=age_code.cast("int64"),
        married=ibis.cases(
            (d.marital_status == "Married", 1),
            (d.marital_status == "Single", 0),
            else_=ibis.null("int64"),
        ).cast("int64"),
        rented=d.rented.cast("int64"),
        family_size=d.family_size.cast("int64"),
        no_of_children=d.no_of_children.cast("int64"),
        income_bracket=d.income_bracket.cast("int64"),
    )
    left = o.select("id", "customer_id")
    t = left.left_join(demo, left.customer_id == demo.demo_customer_id)
    return t.select(
        "id",
        has_demographics=t.has_demographics.fill_null(0).cast("int64"),
        **{c: t[c] for c in DEMOGRAPHIC_FEATURES[1:]},
    )


def _transaction_features(data: AmExpertData, o: ir.Table) -> ir.Table:
    assert data.transactions is not None
    tx = data.transactions
    items = data.items.select(
        "item_id", brand_key=data.items.brand.cast("string"), category_key="category"
    )
    tx = tx.join(items, "item_id").select(
        "customer_id",
        "date",
        "selling_price",
        "coupon_discount",
        item_key=tx.item_id.cast("string"),
        brand_key="brand_key",
        category_key="category_key",
    )
    pairs = o.select("customer_id", "campaign_id", "start_date").distinct()

    # The customer's purchases before the start, overall.
    daily = tx.group_by(["customer_id", "date"]).aggregate(
        purchases=tx.count(),
        spend=tx.selling_price.sum(),
        coupon_purchases=(tx.coupon_discount < 0).cast("int64").sum(),
    )
    daily = daily.rename(tx_customer_id="customer_id")
    h = pairs.join(
        daily, [pairs.customer_id == daily.tx_customer_id, daily.date < pairs.start_date]
    )
    overall = h.group_by(["customer_id", "campaign_id"]).aggregate(
        customer_purchases=h.purchases.sum(),
        customer_spend=h.spend.sum(),
        customer_purchase_days=h.count(),
        customer_coupon_purchases=h.coupon_purchases.sum(),
        last_date=h.date.max(),
        start_date=h.start_date.max(),
    )
    t = o.select("id", "customer_id", "campaign_id", "coupon_id", "start_date")
    t = t.left_join(overall, ["customer_id", "campaign_id"]).select(
        "id", "customer_id", "campaign_id", "coupon_id",
        start_date=t.start_date,
        customer_purchases=overall.customer_purchases.fill_null(0).cast("int64"),
        customer_spend=overall.customer_spend.fill_null(0.0).cast("float64"),
        customer_purchase_days=overall.customer_purchase_days.fill_null(0).cast("int64"),
        customer_coupon_purchases=overall.customer_coupon_purchases.fill_null(0).cast("int64"),
        customer_days_since_purchase=t.start_date.delta(overall.last_date, unit="day").cast("int64"),
    )  # fmt: skip

    for level, prefix in _LEVELS.items():
        key = {"item_id": "item_key", "brand": "brand_key", "category": "category_key"}[level]
        per_key = tx.group_by(["customer_id", key, "date"]).aggregate(
            purchases=tx.count(), spend=tx.selling_price.sum()
        )
        per_key = per_key.rename(tx_customer_id="customer_id", key=key)
        hk = pairs.join(
            per_key, [pairs.customer_id == per_key.tx_customer_id, per_key.date < pairs.start_date]
        )
        history = hk.group_by(["customer_id", "campaign_id", "key"]).aggregate(
            purchases=hk.purchases.sum(), spend=hk.spend.sum(), last_date=hk.date.max()
        )
        distinct_keys = history.group_by(["customer_id", "campaign_id"]).aggregate(
            customer_keys=history.count()
        )
        coupon_keys = _coupon_keys(data, level)
        coupon_size = coupon_keys.group_by("coupon_id").aggregate(coupon_keys=coupon_keys.count())
        offer_keys = o.select("id", "customer_id", "campaign_id", "coupon_id").join(
            coupon_keys, "coupon_id"
        )
        matched = offer_keys.join(history, ["customer_id", "campaign_id", "key"])
        per_offer = matched.group_by("id").aggregate(
            purchases=matched.purchases.sum(),
            spend=matched.spend.sum(),
            overlap=matched.count(),
            last_date=matched.last_date.max(),
        )
        s = (
            t.select("id", "customer_id", "campaign_id", "coupon_id", "start_date")
            .left_join(per_offer, "id")
            .select("id", "customer_id", "campaign_id", "coupon_id", "start_date",
                    "purchases", "spend", "overlap", "last_date")
        )  # fmt: skip
        s = s.left_join(distinct_keys, ["customer_id", "campaign_id"]).select(
            *s.columns, "customer_keys"
        )
        s = s.left_join(coupon_size, "coupon_id").select(*s.columns, "coupon_keys")
        overlap = s.overlap.fill_null(0).cast("int64")
        union = s.coupon_keys.fill_null(0) + s.customer_keys.fill_null(0) - overlap
        level_features = s.select(
            _id="id",
            **{
                f"{prefix}_purchases": s.purchases.fill_null(0).cast("int64"),
                f"{prefix}_spend": s.spend.fill_null(0.0).cast("float64"),
                f"{prefix}_overlap": overlap,
                f"{prefix}_overlap_share": ibis.ifelse(
                    s.coupon_keys > 0, overlap / s.coupon_keys, ibis.null("float64")
                ),
                f"{prefix}_jaccard": ibis.ifelse(union > 0, overlap / union, ibis.null("float64")),
                f"{prefix}_days_since_purchase": s.start_date.delta(s.last_date, unit="day").cast(
                    "int64"
                ),
            },
        )
        level_features = _keep(data, level_features)
        t = t.join(level_features, t.id == level_features._id).drop("_id")
    return t.drop("customer_id", "campaign_id", "coupon_id", "start_date")


def build_features(
    data: AmExpertData,
    offers: ir.Table,
    *,
    use_transactions: bool | None = None,
) -> ir.Table:
    """The feature table for ``offers``: one row per offer, keyed by ``id``.

    Args:
        data: the loaded tables (``data.train`` supplies the past redemptions).
        offers: rows with ``id, campaign_id, coupon_id, customer_id`` (``data.train``,
            ``data.test`` or a candidate file). Campaign-level counts (``campaign_offers`` ...)
            are taken over these rows, so pass a campaign's whole offer list.
        use_transactions: build the purchase-history features; ``None`` builds them when
            ``data`` has transactions.

    Returns:
        An Ibis table with :data:`KEY_COLUMNS` and :func:`feature_names` columns (unordered rows).

    Raises:
        InputError: ``use_transactions=True`` but ``data`` has no transaction table, or
            ``offers`` lacks a key column.
    """
    if use_transactions is None:
        use_transactions = data.has_transactions
    if use_transactions and not data.has_transactions:
        raise InputError(
            "purchase-history features need customer_transaction_data.csv, which is not in "
            f"{data.report.folder}"
        )
    o = _keep(data, _offers_with_dates(data, offers))
    parts = [
        _campaign_features(o),
        _prior_offer_features(data, o, offers),
        _redemption_features(data, o),
        _brand_history(data, o),
        _redeemed_overlap(data, o, "brand", "redeemed_brand_overlap"),
        _redeemed_overlap(data, o, "category", "redeemed_category_overlap"),
        _demographic_features(data, o),
    ]
    if use_transactions:
        parts.append(_transaction_features(data, o))
    t = o.select(*KEY_COLUMNS)
    t = t.left_join(_coupon_features(data), "coupon_id").drop("coupon_id_right")
    for part in parts:
        renamed = _keep(data, part).rename(_id="id")
        t = t.join(renamed, t.id == renamed._id).drop("_id")
    t = t.mutate(
        **{c: t[c].fill_null(0) for c in ("coupon_items", "coupon_brands", "coupon_categories")}
    )
    return t.select(*KEY_COLUMNS, *feature_names(use_transactions))
