"""The executive summary's numbers and words (clvkit.briefing) against independent computations
on one small scenario result, and the report sections' tier order and left-out sections."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from clvkit import briefing, config, i18n, pipeline, sections

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def res(tmp_path_factory):
    params = yaml.safe_load((ROOT / "params" / "retail.yaml").read_text(encoding="utf-8"))
    params["scenario"] = "brief"
    params["data"]["simulate"]["customers"] = 800
    params["impact"]["n_boot"] = 50
    path = tmp_path_factory.mktemp("brief") / "brief.yaml"
    path.write_text(yaml.safe_dump(params), encoding="utf-8")
    return pipeline.run(config.load(path), run_date="2024-12-31")


def by_key(items):
    return {k.key: k for k in items}


def test_kpis_equal_independent_computations(res):
    k = by_key(briefing.kpis(res))
    p = res.scored["p_alive"].to_numpy()
    assert k["active_customers"].value == pytest.approx(p.sum())
    half = 1.959964 * math.sqrt((p * (1 - p)).sum())   # normal interval of a Bernoulli sum
    assert k["active_customers"].low == pytest.approx(p.sum() - half, rel=1e-6)
    assert k["active_customers"].high == pytest.approx(p.sum() + half, rel=1e-6)
    total = res.scored["clv"].sum()
    assert k["value_12m"].value == pytest.approx(total)
    assert k["value_12m"].low < total < k["value_12m"].high
    top = res.config.tiers.labels[0]
    tier = res.tiers.tier.reindex(res.scored.index)
    assert k["top_share"].value == pytest.approx(res.scored["clv"][tier == top].sum() / total)
    assert k["top_share"].low <= k["top_share"].value <= k["top_share"].high
    assert k["value_at_risk"].value == pytest.approx(res.scored["clv_at_risk"].sum())
    by = res.satisfaction.by_group.set_index("group")
    assert [t for t, *_ in k["csat_top"].parts] == [t for t in res.config.tiers.labels
                                                    if t in by.index and by.loc[t, "csat"] == by.loc[t, "csat"]]
    assert k["csat_top"].value == pytest.approx(by.loc[top, "csat"])
    eff = res.impact.effects.loc["spend"]
    assert (k["programme_effect"].value, k["programme_effect"].low, k["programme_effect"].high) \
        == pytest.approx((eff["estimate"], eff["low"], eff["high"]))


def test_changes_come_from_the_previous_summary(res, tmp_path):
    items = briefing.kpis(res)
    briefing.save_summary(tmp_path, items, res)
    previous = briefing.load_summary(tmp_path)
    assert previous["active_customers"] == pytest.approx(by_key(items)["active_customers"].value)
    shifted = {key: value * 0.5 for key, value in previous.items() if value is not None}
    again = by_key(briefing.kpis(res, shifted))
    assert again["value_12m"].change == pytest.approx(again["value_12m"].value * 0.5)
    assert briefing.load_summary(tmp_path / "missing") is None


def test_what_changed_states_the_volume_trend_and_churn(res):
    sentences = briefing.what_changed(res)
    m = res.monthly["lines"]
    last12 = m.iloc[-12:]
    early, late = last12.iloc[:3].mean(), last12.iloc[-3:].mean()
    assert f"{early:,.0f}" in sentences[0] and f"{late:,.0f}" in sentences[0]
    lost = int((res.scored["p_alive"] < res.config.retention.p_alive_threshold).sum())
    assert any(f"{lost:,}" in s for s in sentences)
    zh = briefing.what_changed(res, language="zh")
    assert len(zh) == len(sentences) and all("购买" in zh[0] for _ in [0])


def with_cost(res, cost):
    return dataclasses.replace(res, config=dataclasses.replace(
        res.config, impact=dataclasses.replace(res.config.impact, cost_per_customer=cost)))


def test_decisions_follow_the_params_tier_order_and_cost(res):
    d = briefing.decisions(with_cost(res, None))
    assert d["tier"].tolist() == [t for t in briefing.tier_order(res) if (res.tiers.tier == t).any()]
    assert d["customers"].sum() == len(res.tiers.tier)
    assert d["cost"].isna().all()
    d2 = briefing.decisions(with_cost(res, 12.5))
    assert (d2["cost"] == d2["customers"] * 12.5).all()


def test_group_trends_add_up_to_the_groups_spend(res):
    trend = briefing.group_trends(res)
    p = res.programme[res.programme["eligible"].astype(bool)]
    treated = set(p.loc[p["treated"].astype(bool), "customer_id"])
    tx = res.transactions
    spend_treated = tx.loc[tx["customer_id"].isin(treated), "amount"].sum()
    t = trend[trend["group"] == "treated"]
    assert (t["spend"] * t["customers"]).sum() == pytest.approx(spend_treated)
    assert set(trend["group"]) == {"treated", "comparison"}


def test_roi_is_uplift_over_cost(res):
    assert briefing.roi(with_cost(res, None)) is None
    costly = with_cost(res, 20.0)
    r = briefing.roi(costly)
    up = res.impact.effects.loc["spend", "estimate"]
    assert r["roi"] == pytest.approx(up / 20.0 - 1)
    assert r["total_cost"] == 20.0 * briefing.group_sizes(res)["treated"]
    assert sections.available(costly, "case.roi")
    assert not sections.available(with_cost(res, None), "case.roi")


@pytest.mark.parametrize("signs, key", [((1, 1), "positive"), ((-1, 0), "negative"),
                                        ((1, -1), "mixed"), ((0, 0), "none")])
def test_verdict_counts_outcomes_whose_interval_excludes_zero(res, signs, key):
    eff = pd.DataFrame({"estimate": [0.0, 0.0], "low": [0.0, 0.0], "high": [0.0, 0.0]},
                       index=pd.Index(["spend", "csat"], name="outcome"))
    for i, s in enumerate(signs):
        eff.iloc[i] = {1: (2.0, 1.0, 3.0), -1: (-2.0, -3.0, -1.0), 0: (0.5, -1.0, 2.0)}[s]
    fake = dataclasses.replace(res, impact=dataclasses.replace(res.impact, effects=eff))
    words = briefing.verdict(fake)
    expected = i18n.t(f"case.recommend_{key}")
    assert expected in words
    # churn down is better: the same interval on churn counts the other way
    churn = eff.rename(index={"spend": "churn"})
    flipped = dataclasses.replace(res, impact=dataclasses.replace(res.impact, effects=churn))
    if signs == (1, 1):
        assert i18n.t("case.recommend_mixed") in briefing.verdict(flipped)


def test_effect_sentences_give_both_groups_levels(res):
    s = briefing.effect_sentences(res)
    r = res.impact.effects.loc["spend"]
    line = next(x for x in s if x.startswith("spend per customer"))
    assert f"{r['treated_pre']:,.1f}" in line and f"{r['comparison_post']:,.1f}" in line


def test_key_points_have_numbers_in_both_languages(res):
    for report in briefing.REPORTS:
        for lang in ("en", "zh"):
            points = briefing.key_points(res, report, language=lang)
            assert 3 <= len(points) <= 6, (report, lang, points)
            with_numbers = sum(any(ch.isdigit() for ch in p) for p in points)
            assert any(ch.isdigit() for ch in points[0]) and with_numbers >= len(points) - 1, points
            assert not any("nan" in p.lower().split() or "inf" in p.split() for p in points)
            assert briefing.actions(res, report, language=lang)


def test_sections_list_tiers_in_params_order_and_leave_out_what_is_missing(res):
    order = list(res.config.tiers.labels)
    shuffled = res.churn.sort_values("group")           # alphabetical, as the table arrives
    assert sections._ordered(shuffled, res)["group"].tolist() == [
        t for t in order if t in set(shuffled["group"])]
    bare = dataclasses.replace(res, calibration=None, satisfaction=None, impact=None, grid=None,
                               migration=None)
    for section in ("value.holdout", "tiers.grid", "tiers.migration", "sat.by_tier"):
        note = sections.heading(bare, section).data
        assert note.startswith('<p class="omitted">') and "." not in note.split(":")[0][:3]
        assert "_" not in note and "`" not in note, note     # no config keys for leaders
    assert sections.heading(bare, "value.tracking") is None   # the parent said why
    assert sections.calibration_plot(bare) is None and sections.tier_grid(bare) is None
    assert sections.heading(res, "tiers.definitions").data.startswith("## ")


def test_cohort_frame_drops_month_zero_and_names_sizes(res):
    frame = sections.cohort_frame(res)
    assert "0" not in [str(c) for c in frame.columns] and frame.shape[1] <= 12
    first = res.cohorts.share.index[0]
    assert frame.index[0] == f"{first} ({res.cohorts.size.loc[first]:,})"
    assert frame.shape[0] == len(res.cohorts.share)


def test_response_caveat_names_the_tiers_whose_rates_differ(res):
    rr = res.satisfaction.response_rates.set_index("group")["response_rate"]
    rr = rr[rr > 0]
    assert briefing.response_caveat(res, max_ratio=rr.max() / rr.min() + 0.01) is None
    text = briefing.response_caveat(res, max_ratio=1.0)
    assert str(rr.idxmax()) in text and f"{rr.max():.0%}" in text


def test_satisfaction_todo_asks_for_surveys_when_there_are_none(res):
    """Report 04's "what to do" follows up complaints only when there are surveys or
    complaints; without either it says which data to collect."""
    with_data = briefing.actions(res, "satisfaction_retention", language="en")[0]
    assert "complaints and survey comments" in with_data
    bare = dataclasses.replace(res, satisfaction=None, complaints=None)
    for lang, word in (("en", "data.surveys"), ("zh", "data.surveys")):
        first = briefing.actions(bare, "satisfaction_retention", language=lang)[0]
        assert word in first and "survey comments" not in first
