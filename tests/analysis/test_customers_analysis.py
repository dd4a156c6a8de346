"""Customer analyses: each against an independent pandas computation on small built tables, and
against the generator's planted truths."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from couponlens.analysis.customers import analyse_customers
from couponlens.analysis.customers_activity import (
    failures,
    os_shares,
    payment_mix,
    platform_shares,
    promotion_use,
    spikes,
    time_patterns,
)
from couponlens.analysis.customers_behaviour import (
    acquisition,
    cohorts,
    customer_summary,
    customer_table,
    promotion_responsiveness,
    rfm,
    rfm_table,
    segment_tables,
)
from couponlens.analysis.customers_common import ratio_interval, wilson
from couponlens.analysis.customers_profile import demographics
from couponlens.analysis.customers_value import clv_summary, customer_value
from couponlens.datasets.customers import (
    CustomerData,
    customer_data_from_frames,
    load_customer_data,
)
from couponlens.datasets.customers_synthetic import generate_customers

AS_OF = dt.date(2020, 12, 31)
CAMPAIGNS = {11: "direct discount", 12: "voucher", 13: "reward point"}
STATUS_GROUPS = {1: None, -1: "customer", -3: "external", -5: "external", -6: "internal"}


def built_tables(seed: int = 3) -> dict[str, pd.DataFrame]:
    """Small random tables in the later release's layout (2019-2020, June 2019 closed)."""
    rng = np.random.default_rng(seed)
    n_customers, n_tickets = 60, 700
    ids = np.arange(1, n_customers + 1)
    dob = pd.to_datetime("1955-01-01") + pd.to_timedelta(
        rng.integers(0, 365 * 55, n_customers), "D"
    )
    dob_text = dob.strftime("%Y-%m-%d").to_numpy().astype(object)
    gender = rng.choice(["Male", "Female", "Not verify"], n_customers, p=[0.45, 0.45, 0.1])
    dob_text[gender == "Not verify"] = "1970-01-01"
    customers = pd.DataFrame({"customer_id": ids, "usergender": gender, "dob": dob_text})
    days = pd.date_range("2019-01-01", "2020-12-31")
    days = days[days.strftime("%Y-%m") != "2019-06"]
    time = (
        days[rng.integers(0, len(days), n_tickets)]
        + pd.to_timedelta(rng.integers(9, 24, n_tickets), "h")
        + pd.to_timedelta(rng.integers(0, 3600, n_tickets), "s")
    )
    status = rng.choice(list(STATUS_GROUPS), n_tickets, p=[0.8, 0.05, 0.08, 0.04, 0.03])
    campaign = np.where(rng.random(n_tickets) < 0.55, rng.choice([11, 12, 13, 99], n_tickets), 0)
    devices = [f"d{i}" for i in range(40)]
    device = rng.choice([*devices, "untracked"], n_tickets)
    price = rng.choice([50_000.0, 80_000.0, 100_000.0], n_tickets)
    discount = np.where(campaign > 0, 20_000.0, 0.0)
    tickets = pd.DataFrame(
        {
            "ticket_id": [f"t{i}" for i in range(n_tickets)],
            "customer_id": rng.choice(ids[:50], n_tickets),
            "paying_method": rng.choice(["bank card", "e-wallet", "in-app", None], n_tickets),
            "theater_name": "Cinema A",
            "device_number": device,
            "original_price": price,
            "discount_value": discount,
            "final_price": price - discount,
            "time": time.strftime("%Y-%m-%d %H:%M:%S"),
            "status_id": status,
            "campaign_id": campaign,
            "movie_name": rng.choice(["M1", "M2", "M3"], n_tickets),
        }
    )
    models = rng.choice(["iphone 11,2", "Samsung SM-A505F", "devicemodel", "h5"], 40)
    models[0] = "devicemodel"  # d0 is listed twice: the known model must win
    device_table = pd.DataFrame(
        {
            "device_number": devices + ["d0"],
            "model": list(models) + ["iphone 12,1"],
            "platform": ["website" if m == "h5" else "mobile" for m in models] + ["mobile"],
        }
    )
    campaigns = pd.DataFrame(
        {"campaign_id": list(CAMPAIGNS), "campaign_type": list(CAMPAIGNS.values())}
    )
    statuses = pd.DataFrame(
        {
            "status_id": list(STATUS_GROUPS),
            "description": "x",
            "error_group": list(STATUS_GROUPS.values()),
        }
    )
    return {
        "customers": customers,
        "tickets": tickets,
        "devices": device_table,
        "campaigns": campaigns,
        "statuses": statuses,
    }


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return built_tables()


@pytest.fixture(scope="module")
def data(frames: dict[str, pd.DataFrame]) -> CustomerData:
    return customer_data_from_frames(**frames)


@pytest.fixture(scope="module")
def ref(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Reference successful tickets, prepared with pandas only."""
    t = frames["tickets"].copy()
    t["time"] = pd.to_datetime(t["time"])
    t["date"] = t.time.dt.normalize()
    t["month"] = t.time.dt.strftime("%Y-%m")
    t["promoted"] = t.campaign_id != 0
    return t


def ok_tickets(ref: pd.DataFrame) -> pd.DataFrame:
    return ref[ref.status_id == 1]


# ------------------------------------------------------------------------------------------------
# against pandas
# ------------------------------------------------------------------------------------------------
def test_demographics_against_pandas(data: CustomerData, frames: dict[str, pd.DataFrame]) -> None:
    d = demographics(data, as_of=AS_OF)
    c = frames["customers"].copy()
    born = pd.to_datetime(c.dob).where(c.dob != "1970-01-01")
    year = born.dt.year
    gen = pd.cut(year, [0, 1945, 1964, 1980, 1996, 2012, 3000],
                 labels=["Silent", "Baby Boomers", "Gen X", "Gen Y", "Gen Z", "Gen Alpha"])  # fmt: skip
    expected = gen.astype(object).fillna("unknown").value_counts()
    got = d.generations.set_index("generation")["customers"]
    for name, count in expected.items():
        assert got[name] == count
    age = (
        AS_OF.year
        - born.dt.year
        - ((born.dt.month * 100 + born.dt.day) > (AS_OF.month * 100 + AS_OF.day))
    )
    bucket = pd.cut(age, [-1, 17, 24, 34, 44, 54, 200],
                    labels=["under 18", "18-24", "25-34", "35-44", "45-54", "55+"])  # fmt: skip
    expected_age = bucket.astype(object).fillna("unknown").value_counts()
    got_age = d.age_buckets.set_index("age")["customers"]
    for name, count in expected_age.items():
        assert got_age[name] == count
    assert d.median_age == pytest.approx(age.median())
    known = gen.notna()
    assert d.gen_y_z_share == pytest.approx(gen[known].isin(["Gen Y", "Gen Z"]).mean())
    assert d.unknown_birth_dates == int((c.dob == "1970-01-01").sum())
    genders = d.gender.set_index("gender")["customers"]
    assert genders["not verified"] == int((c.usergender == "Not verify").sum())
    assert genders["male"] == int((c.usergender == "Male").sum())


def test_time_patterns_against_pandas(data: CustomerData, ref: pd.DataFrame) -> None:
    tp = time_patterns(data)
    ok = ok_tickets(ref)
    assert tp.tickets == len(ok)
    assert tp.missing_months == ["2019-06"]
    monthly = tp.monthly.set_index("month")["tickets"]
    assert monthly["2019-06"] is None
    expected = ok.groupby("month").size()
    for month, count in expected.items():
        assert monthly[month] == count
    wd = tp.weekday.set_index("weekday")["tickets"]
    for day, count in ok.groupby(ok.time.dt.day_of_week).size().items():
        assert wd[day] == count
    hours = tp.hourly.set_index(["hour", "day_type"])["tickets"]
    weekend = np.where(ok.time.dt.day_of_week >= 5, "weekend", "weekday")
    for (hour, kind), count in ok.groupby([ok.time.dt.hour, weekend]).size().items():
        assert hours[(hour, kind)] == count
    assert tp.peak_hour == int(ok.time.dt.hour.value_counts().sort_index().idxmax())


def test_spike_detection_on_a_planted_spike() -> None:
    days = pd.date_range("2019-01-01", "2019-06-30")
    rng = np.random.default_rng(1)
    rows = []
    for day in days:
        n = 10 + (30 if dt.date(2019, 3, 14) <= day.date() <= dt.date(2019, 3, 16) else 0)
        for i in range(n):
            movie = "Blockbuster" if n > 10 and i < 30 else f"M{rng.integers(0, 5)}"
            rows.append(
                (f"{day:%Y%m%d}{i}", int(rng.integers(1, 200)), day + pd.Timedelta(hours=19), movie)
            )
    t = pd.DataFrame(rows, columns=["ticket_id", "customer_id", "time", "movie_name"])
    t["time"] = t.time.dt.strftime("%Y-%m-%d %H:%M:%S")
    t["status_id"] = 1
    s = spikes(customer_data_from_frames(tickets=t))
    assert len(s.episodes) == 1
    e = s.episodes.iloc[0]
    assert (e.start, e.end, e.days) == (dt.date(2019, 3, 14), dt.date(2019, 3, 16), 3)
    assert e.baseline == pytest.approx(30.0)
    assert e.top_movies[0] == {"movie": "Blockbuster", "tickets": 90}


def _device_lookup(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    d = frames["devices"].copy()
    d["known"] = d.model != "devicemodel"
    d = d.sort_values(["device_number", "known"], ascending=[True, False]).drop_duplicates(
        "device_number"
    )
    m = d.model.str.lower()
    d["os"] = np.select(
        [d.platform == "website", ~d.known, m.str.startswith("iphone")],
        ["web", "unknown", "iOS"],
        "Android",
    )
    return d


def test_platform_and_os_against_pandas(
    data: CustomerData, frames: dict[str, pd.DataFrame], ref: pd.DataFrame
) -> None:
    lookup = _device_lookup(frames)
    ok = ok_tickets(ref).merge(lookup, on="device_number", how="left")
    ok["platform"] = ok.platform.fillna("unknown")
    ok["os"] = ok.os.fillna("unknown")
    p = platform_shares(data)
    got = p.tickets.set_index("platform")["tickets"]
    for name, count in ok.platform.value_counts().items():
        assert got[name] == count
    assert p.unknown_share == pytest.approx((ok.platform == "unknown").mean())
    assert p.devices.set_index("platform")["devices"].sum() == len(frames["devices"])
    o = os_shares(data)
    got_os = o.tickets.set_index("os")["tickets"]
    for name, count in ok.os.value_counts().items():
        assert got_os[name] == count


def test_payment_and_promotion_against_pandas(data: CustomerData, ref: pd.DataFrame) -> None:
    ok = ok_tickets(ref).copy()
    ok["method"] = ok.paying_method.fillna("unknown")
    pm = payment_mix(data)
    got = pm.methods.set_index("payment_method")["tickets"]
    for name, count in ok.method.value_counts().items():
        assert got[name] == count
    shares = ok.groupby("month")["method"].value_counts(normalize=True)
    monthly = pm.monthly.set_index(["month", "payment_method"])["share"]
    for key, share in shares.items():
        assert monthly[key] == pytest.approx(share)
    pu = promotion_use(data)
    assert (pu.tickets, pu.promoted) == (len(ok), int(ok.promoted.sum()))
    assert (pu.ci_low, pu.ci_high) == pytest.approx(wilson(ok.promoted.sum(), len(ok)))
    assert pu.discount_rate == pytest.approx(ok.discount_value.sum() / ok.original_price.sum())
    promoted = ok[ok.promoted]
    kinds = promoted.campaign_id.map(CAMPAIGNS).fillna("unknown campaign").value_counts()
    got_types = pu.types.set_index("campaign_type")["tickets"]
    for name, count in kinds.items():
        assert got_types[name] == count


def test_wilson_matches_statsmodels() -> None:
    from statsmodels.stats.proportion import proportion_confint

    assert wilson(37, 120) == pytest.approx(proportion_confint(37, 120, method="wilson"))


def test_customer_table_against_pandas(data: CustomerData, ref: pd.DataFrame) -> None:
    got = customer_table(data).execute().set_index("customer_id").sort_index()
    ok = ok_tickets(ref)
    expected = pd.DataFrame(
        {
            "tickets": ref.groupby("customer_id").size(),
            "successful": ok.groupby("customer_id").size(),
            "promoted": ok.groupby("customer_id").promoted.sum(),
            "active_days": ok.groupby("customer_id").date.nunique(),
            "discount_rate": ok.groupby("customer_id").discount_value.sum()
            / ok.groupby("customer_id").original_price.sum(),
        }
    ).fillna({"successful": 0, "promoted": 0, "active_days": 0})
    for column in ("tickets", "successful", "promoted", "active_days"):
        assert got[column].tolist() == expected[column].astype(int).tolist()
    assert got.failures.tolist() == (expected.tickets - expected.successful).astype(int).tolist()
    np.testing.assert_allclose(got.discount_rate, expected.discount_rate, equal_nan=True)
    s = customer_summary(data)
    per = ok.groupby("customer_id").agg(days=("date", "nunique"), promos=("promoted", "sum"))
    assert s.buyers == len(per)
    assert s.one_day_share == pytest.approx((per.days == 1).mean())
    assert s.one_time_promotion_share == pytest.approx(((per.days == 1) & (per.promos > 0)).mean())
    assert s.registered_without_tickets == 10


def test_failures_against_pandas(data: CustomerData, ref: pd.DataFrame) -> None:
    f = failures(data)
    bad = ref[ref.status_id != 1]
    assert (f.attempts, f.failures) == (len(ref), len(bad))
    groups = bad.status_id.map(STATUS_GROUPS).value_counts()
    got = f.by_group.set_index("error_group")
    for name, count in groups.items():
        assert got.loc[name, "failures"] == count
        assert (got.loc[name, "ci_low"], got.loc[name, "ci_high"]) == pytest.approx(
            wilson(count, len(bad))
        )
    monthly = f.monthly.set_index(["month", "error_group"])["failure_rate"]
    attempts = ref.groupby("month").size()
    for (month, group), count in (
        bad.groupby(["month", bad.status_id.map(STATUS_GROUPS)]).size().items()
    ):
        assert monthly[(month, group)] == pytest.approx(count / attempts[month])


def test_cohorts_and_acquisition_against_pandas(data: CustomerData, ref: pd.DataFrame) -> None:
    ok = ok_tickets(ref).copy()
    ok["m"] = ok.time.dt.year * 12 + ok.time.dt.month - 1
    first = ok.groupby("customer_id").m.min().rename("cohort")
    active = ok[["customer_id", "m"]].drop_duplicates().join(first, on="customer_id")
    active["offset"] = active.m - active.cohort
    expected = active.groupby(["cohort", "offset"]).size()
    c = cohorts(data)
    table = c.table.copy()
    table["cohort"] = [int(x[:4]) * 12 + int(x[5:]) - 1 for x in table.cohort]
    got = table.set_index(["cohort", "offset"])["customers"]
    assert got.to_dict() == expected.to_dict()
    days = ok.groupby(["customer_id", "date"]).promoted.max().reset_index()
    first_day = days.sort_values("date").groupby("customer_id").first()
    returned = days.groupby("customer_id").size() > 1
    a = acquisition(data)
    ch = a.channels.set_index("channel")
    promo = first_day.promoted.astype(bool)
    assert ch.loc["promotion", "customers"] == int(promo.sum())
    assert ch.loc["organic", "customers"] == int((~promo).sum())
    assert ch.loc["promotion", "returned"] == int((promo & returned).sum())
    assert ch.loc["organic", "returned"] == int((~promo & returned).sum())
    assert a.one_time_promotion == int((promo & ~returned).sum())


def test_rfm_against_pandas(data: CustomerData, ref: pd.DataFrame) -> None:
    ok = ok_tickets(ref)
    per = ok.groupby("customer_id").agg(
        last=("date", "max"), frequency=("date", "nunique"), monetary=("final_price", "sum")
    )
    per["recency"] = (pd.Timestamp(AS_OF) - per["last"]).dt.days
    n = len(per)

    def score(values: pd.Series, ascending: bool) -> pd.Series:
        rank = values.rank(method="min", ascending=ascending)
        return np.minimum(np.floor((rank - 1) / (n - 1) * 5).astype(int) + 1, 5)

    r_score = score(per.recency, ascending=False)
    f_score = score(per.frequency, ascending=True)
    got = rfm_table(data, AS_OF).execute().set_index("customer_id").sort_index()
    assert got.recency.tolist() == per.recency.tolist()
    assert got.r.tolist() == r_score.tolist()
    assert got.f.tolist() == f_score.tolist()
    assert got.m.tolist() == score(per.monetary, ascending=True).tolist()
    result = rfm(data, AS_OF)
    assert result.segments.customers.sum() == n
    champions = int(((r_score >= 4) & (f_score >= 4)).sum())
    assert result.segments.set_index("segment").loc["Champions", "customers"] == champions


def test_responsiveness_interval_against_numpy(data: CustomerData, ref: pd.DataFrame) -> None:
    frame = promotion_responsiveness(data, segment_tables(data, AS_OF))
    ok = ok_tickets(ref)
    per = ok.groupby("customer_id").agg(y=("promoted", "sum"), n=("promoted", "size"))
    gender = built_tables()["customers"].set_index("customer_id").usergender
    labels = {"Male": "male", "Female": "female", "Not verify": "not verified"}
    per["segment"] = per.index.map(gender).map(labels)
    for segment, part in per.groupby("segment"):
        y, m = part.y.to_numpy(float), part.n.to_numpy(float)
        rate = y.sum() / m.sum()
        k = len(part)
        se = np.sqrt(np.sum((y - rate * m) ** 2) / (k - 1) / k) / m.mean()
        row = frame[(frame.dimension == "gender") & (frame.segment == segment)].iloc[0]
        assert row.rate == pytest.approx(rate)
        assert row.ci_low == pytest.approx(max(0, rate - 1.959964 * se), abs=1e-6)
        assert row.ci_high == pytest.approx(min(1, rate + 1.959964 * se), abs=1e-6)
    assert ratio_interval(3, 4, 5, 8, 6, 1)[1] is None


def test_clv_summary_against_pandas(data: CustomerData, ref: pd.DataFrame) -> None:
    ok = ok_tickets(ref)
    days = ok.groupby(["customer_id", "date"]).final_price.sum().reset_index()
    got = clv_summary(data, AS_OF).set_index("customer_id").sort_index()
    for cid, part in days.groupby("customer_id"):
        part = part.sort_values("date")
        row = got.loc[cid]
        assert row.frequency == len(part) - 1
        assert row.recency == (part.date.iloc[-1] - part.date.iloc[0]).days
        assert row["T"] == (pd.Timestamp(AS_OF) - part.date.iloc[0]).days
        expected = part.final_price.iloc[1:].mean() if len(part) > 1 else 0.0
        assert row.monetary_value == pytest.approx(expected)


def test_no_ticket_table_leaves_ticket_analyses_unavailable(
    frames: dict[str, pd.DataFrame],
) -> None:
    data = customer_data_from_frames(customers=frames["customers"], devices=frames["devices"])
    a = analyse_customers(data, as_of=AS_OF)
    results = a.to_results_json()
    assert results["demographics"]["status"] == "ok"
    assert results["platform"]["status"] == "ok" and results["platform"]["tickets"] == []
    for key in (
        "time",
        "payment",
        "promotion",
        "customers",
        "failures",
        "cohorts",
        "acquisition",
        "rfm",
        "clv",
    ):
        assert results[key]["status"].startswith("not available"), key
    assert a.findings()


# ------------------------------------------------------------------------------------------------
# planted truths
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[CustomerData, dict]:
    out = generate_customers(tmp_path_factory.mktemp("gen") / "data", customers=8_000, seed=7)
    return load_customer_data(out), json.loads((out / "truth.json").read_text())


@pytest.fixture(scope="module")
def planted(generated: tuple[CustomerData, dict]) -> dict:
    data, truth = generated
    analysis = analyse_customers(data, clv=False)
    return {"a": analysis, "truth": truth, "results": analysis.to_results_json()}


def test_planted_time_structure(planted: dict) -> None:
    a, truth = planted["a"], planted["truth"]
    assert a.time.missing_months == truth["missing_months"]
    assert a.time.peak_hour == truth["peak_hour"]
    assert a.time.top_weekdays == truth["top_weekdays"]
    assert a.time.active_hours == (9, 23)
    found = 0
    for spike in truth["spikes"]:
        start = dt.date.fromisoformat(spike["first_day"])
        e = a.spikes.episodes
        hit = e[(e.start <= start + dt.timedelta(days=1)) & (e.end >= start)]
        if len(hit) and hit.top_movies.iloc[0][0]["movie"] == spike["top_movie"]:
            found += 1
    assert found >= len(truth["spikes"]) - 1


def test_planted_channels_payments_and_failures(planted: dict) -> None:
    a, truth = planted["a"], planted["truth"]
    assert a.platform.first_website_month == truth["website_from"][:7]
    assert a.os.ios_share_of_phones == pytest.approx(truth["ios_share_of_phones"], abs=0.03)
    assert a.payment.trend_per_year["in-app"] > 0.05
    yearly = a.promotion.yearly
    dd = yearly[yearly.campaign_type == "direct discount"].set_index("year")["share"]
    assert dd.iloc[0] == pytest.approx(0.82, abs=0.04) and dd.iloc[-1] == pytest.approx(
        0.925, abs=0.03
    )
    groups = a.failures.by_group.set_index("error_group")
    n = a.failures.failures
    for group, share in truth["error_group_shares"].items():  # within 3 standard errors
        assert abs(groups.loc[group, "share"] - share) <= 3 * np.sqrt(share * (1 - share) / n), (
            group
        )
    assert a.demographics.gen_y_z_share == pytest.approx(0.95, abs=0.015)
    assert a.demographics.placeholder_birth_dates == truth["placeholder_birth_dates"]


def test_planted_customer_shares_and_acquisition(planted: dict) -> None:
    a, truth = planted["a"], planted["truth"]
    assert a.customers.buyers == truth["customers_buying"]
    assert a.customers.one_day_share == pytest.approx(truth["one_day_share"])
    assert a.customers.one_time_promotion_share == pytest.approx(
        truth["one_day_with_promotion_share"]
    )
    ch = a.acquisition.channels.set_index("channel")
    acq = truth["acquisition"]
    assert ch.loc["promotion", "customers"] == acq["promotion"]
    assert ch.loc["promotion", "returned"] == acq["promotion_returned"]
    assert ch.loc["organic", "returned"] == acq["organic_returned"]
    assert a.acquisition.one_time_promotion >= truth["one_time_promotion_responders_planted"]
    assert a.acquisition.difference_ci[1] < 0  # promotion-acquired customers return less


def test_planted_responsiveness_inside_intervals(planted: dict) -> None:
    a, truth = planted["a"], planted["truth"]
    r = a.promotion.responsiveness
    gens = r[r.dimension == "generation"].set_index("segment")
    for generation, rate in truth["promotion_probability_by_generation"].items():
        row = gens.loc[generation]
        if row.customers >= 100:
            assert row.ci_low <= rate <= row.ci_high, generation
    assert gens.loc["Gen Z", "rate"] > gens.loc["Gen Y", "rate"]


def test_results_json_keys(planted: dict) -> None:
    results = planted["results"]
    for key in ("demographics", "time", "platform", "os", "payment", "promotion", "customers",
                "failures", "cohorts", "acquisition", "rfm", "clv"):  # fmt: skip
        assert key in results
    json.dumps(results, allow_nan=False)
    assert results["time"]["spikes"]["episodes"]
    assert planted["a"].findings()


@pytest.mark.slow
def test_clv_recovers_the_planted_bgnbd_and_gamma_gamma(tmp_path: Path) -> None:
    no_promotions = {"Gen Z": 0.0, "Gen Y": 0.0, "Gen X": 0.0, "Baby Boomers": 0.0}
    out = generate_customers(
        tmp_path, customers=4_000, seed=5, closed_months=(), one_time_promo_share=0.0,
        promotion_probability=no_promotions, never_buy_share=0.0,
    )  # fmt: skip
    truth = json.loads((out / "truth.json").read_text())
    data = load_customer_data(out)
    segments = rfm_table(data).select("customer_id", "segment").execute()
    c = customer_value(data, segments=segments)
    assert c.status == "ok", c.status
    bg, planted_bg = c.bgnbd, truth["bgnbd"]
    assert bg["r"] / bg["alpha"] == pytest.approx(planted_bg["r"] / planted_bg["alpha"], rel=0.2)
    planted_p = planted_bg["a"] / (planted_bg["a"] + planted_bg["b"])
    assert bg["a"] / (bg["a"] + bg["b"]) == pytest.approx(planted_p, abs=0.08)
    gg = truth["gamma_gamma"]
    assert c.mean_spend == pytest.approx(gg["p"] * gg["v"] / (gg["q"] - 1), rel=0.15)
    assert c.by_segment.set_index("segment").mean_clv.idxmax() == "Champions"
    assert 0 < c.mean_probability_alive < 1
