"""Covariates from the params file to the report (issue 16, item 1: the wiring).

``model.covariates`` names columns of the customers table; the pipeline joins them onto the
summary and the holdout frame, fits the candidates that take covariates with them, predicts each
customer at their own covariates, stores the effects with the result, and report 02 shows them in
plain words. The data come from the BG/NBD story with a known channel effect on the purchase
rate (``simulate(channel_effects=...)``), written as files, so the whole path is the one a user
runs: files -> config -> fit -> result on disk -> notebook -> HTML.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from clvkit import config, pipeline, sections
from clvkit.datasets import simulate
from clvkit.errors import ConfigError, DataError
from clvkit.result import ScenarioResult

#: purchase-rate coefficients of the simulation; organic (first in sorted order) is the reference
TRUE = {"paid search": 0.0, "paid social": -0.4, "referral": 0.6}
RUN_DATE = "2025-01-31"


def _params(folder, **model) -> dict:
    return {"scenario": "cov", "currency": "EUR",
            "data": {"source": "files",
                     "transactions": {"path": str(folder / "orders.csv")},
                     "customers": {"path": str(folder / "customers.csv"), "date": "signup_date"}},
            "cleaning": {"observation_end": "2024-12-31"},
            "summary": {"time_unit": "W", "period": "D", "calibration_end": "2024-06-30"},
            "model": {"transaction": "bgnbd", "covariates": {"purchase": ["channel"]}, **model},
            "satisfaction": {"enabled": False}, "impact": {"enabled": False}}


def _write(folder, params: dict):
    path = folder / f"{params['scenario']}.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Orders and customers of 4,000 simulated BG/NBD customers (no lifetime, no season, no bulk
    buyers: the model's own story) whose channel multiplies the purchase rate by exp(TRUE)."""
    d = tmp_path_factory.mktemp("covariates")
    sim = simulate(4000, seed=5, programme=False, lifetime=False, seasonality=0.0,
                   bulk_share=0.0, channel_effects={k: v for k, v in TRUE.items() if v})
    sim.transactions.to_csv(d / "orders.csv", index=False)
    sim.customers.to_csv(d / "customers.csv", index=False)
    return d


@pytest.fixture(scope="module")
def report(folder):
    """``clvkit report`` of report 02 on the files scenario; its stored result, read back."""
    from clvkit.report import run_report

    path = _write(folder, _params(folder))
    run = run_report(path, out=folder / "reports", run_date=RUN_DATE, only="02_customer_value")
    page = folder / "reports" / "cov" / RUN_DATE
    return page, ScenarioResult.load(page / "result")


def test_the_simulated_channel_drives_the_purchase_rate_only_when_asked():
    plain = simulate(500, seed=3, programme=False)
    again = simulate(500, seed=3, programme=False, channel_effects=None)
    pd.testing.assert_frame_equal(plain.transactions, again.transactions)  # default unchanged
    with pytest.raises(ConfigError, match="channel_effects: unknown channel 'tv'"):
        simulate(500, seed=3, programme=False, channel_effects={"tv": 1.0})


def test_the_report_recovers_the_simulated_effects_within_their_intervals(report):
    """Each coefficient's 99.7 % interval (3 se) holds the simulated one. One seed, three
    coefficients: at 95 % this seed misses the null effect (z = -2.5: its sample's paid-search
    customers happen to have a 15 % lower mean rate than the organic ones); the 95 % coverage
    itself is checked over 20 seeds by the slow test below."""
    _, res = report
    eff = res.effects
    assert list(eff.index) == [f"purchase_channel[{k}]" for k in TRUE]
    z = 3.0
    for level, truth in TRUE.items():
        row = eff.loc[f"purchase_channel[{level}]"]
        assert row["reference"] == "organic" and row["kind"] == "purchase"
        assert row["estimate"] - z * row["se"] < truth < row["estimate"] + z * row["se"], level
    # the two real effects are clear (their intervals exclude no effect), and the null one is not
    assert eff.loc["purchase_channel[referral]", "lower"] > 1
    assert eff.loc["purchase_channel[paid social]", "upper"] < 1


@pytest.mark.slow
def test_the_effect_intervals_cover_the_simulated_effects_across_seeds():
    """BG/NBD with covariates on 20 simulated bases of 4,000 customers: the z-scores of the
    three coefficients against the truth have sd near 1 and the 95 % intervals cover ~95 %."""
    from clvkit.models import BetaGeo
    from clvkit.rfm import rfm_summary

    zs = []
    for seed in range(1, 21):
        sim = simulate(4000, seed, programme=False, lifetime=False, seasonality=0.0,
                       bulk_share=0.0, channel_effects={k: v for k, v in TRUE.items() if v})
        s = rfm_summary(sim.transactions, observation_end=sim.observation_end, time_unit="W",
                        period="D")
        s = s.join(sim.customers.set_index("customer_id")[["channel"]]).rename_axis(s.index.name)
        s.attrs["time_unit"] = "W"
        m = BetaGeo().fit(s, purchase_covariates=["channel"])
        zs.append([(m.params_[f"purchase_channel[{k}]"] - v) / m.se_[f"purchase_channel[{k}]"]
                   for k, v in TRUE.items()])
    zs = np.array(zs)
    assert np.all(np.abs(zs.mean(axis=0)) < 0.75), zs.mean(axis=0)
    assert np.all((zs.std(axis=0) > 0.6) & (zs.std(axis=0) < 1.4)), zs.std(axis=0)
    assert np.mean(np.abs(zs) < stats.norm.ppf(0.975)) >= 0.85


def test_predictions_use_each_customers_own_covariates(report):
    _, res = report
    m, s = res.transaction_model, res.scored
    assert {"channel"} <= set(s.columns) and s["channel"].notna().all()
    # two customers with the same history but different channels get different predictions,
    # each equal to the model without covariates at that channel's alpha
    r, alpha = m.params_["r"], m.params_["alpha"]
    for level in ("organic", "referral"):
        one = s[s["channel"] == level].iloc[[0]]
        gamma = 0.0 if level == "organic" else m.params_[f"purchase_channel[{level}]"]
        plain = m._plain_model(np.r_[r, alpha * np.exp(-gamma), m.params_[["a", "b"]]])
        assert one["p_alive"].iloc[0] == pytest.approx(plain.probability_alive(one).iloc[0])
    tiers = res.assignments.set_index("customer_id")
    assert tiers.loc[s.index, "clv"].to_numpy() == pytest.approx(s["clv"].to_numpy())


def test_the_effects_round_trip_through_the_stored_result(report, folder):
    page, loaded = report
    cfg = config.load(folder / "cov.yaml")
    fresh = pipeline.run(cfg, run_date=RUN_DATE)
    pd.testing.assert_frame_equal(loaded.effects, fresh.effects, check_dtype=False)
    assert loaded.model_choice.comparison["covariates"].all()
    assert loaded.frequency_recency.pattern == {"channel": loaded.summary["channel"].mode()[0]}


def test_the_page_says_each_effect_in_plain_words_with_numbers_from_the_estimates(report):
    page, res = report
    html = (page / "02_customer_value.html").read_text(encoding="utf-8")
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "What drives purchase and churn" in text
    p = res.transaction_model.params_
    se = res.transaction_model.se_
    for level in TRUE:
        coef, s = p[f"purchase_channel[{level}]"], se[f"purchase_channel[{level}]"]
        change = np.exp(coef) - 1                       # recomputed here, from params_ and se_
        lo, hi = np.exp(coef - 1.959964 * s) - 1, np.exp(coef + 1.959964 * s) - 1
        verb = ("buy about as often" if abs(change) < 0.005 else
                f"buy {abs(change) * 100:.0f}% {'more' if change > 0 else 'less'} often")
        sentence = (f"Customers with channel = {level} {verb} than those with channel = organic "
                    f"(95% CI {lo * 100:+.0f}% to {hi * 100:+.0f}%).")
        assert sentence in text, sentence


def test_the_chinese_wording_carries_the_same_numbers(report):
    _, res = report
    row = res.effects.loc["purchase_channel[referral]"]
    zh = sections.effect_sentence(row, "zh")
    pct = f"{(row['factor'] - 1) * 100:.0f}%"
    assert zh.startswith("channel 为“referral”的客户（相对于 channel 为“organic”）购买频率高 " + pct)
    assert f"95% 置信区间 {(row['lower'] - 1) * 100:+.0f}% 至 {(row['upper'] - 1) * 100:+.0f}%" in zh
    assert zh.endswith("）。")


def test_best_fits_the_candidates_that_take_covariates_with_them(folder):
    cfg = config.load(_write(folder, {**_params(folder, transaction="best",
                                                candidates=["bgnbd", "paretonbd", "ggomnbd"]),
                                      "scenario": "cov_best"}))
    data = pipeline.load_data(cfg)
    f = pipeline.fit_scenario(cfg, data)
    comp = f.choice.comparison
    assert comp["covariates"].to_dict() == {"bgnbd": True, "paretonbd": True, "ggomnbd": False}
    assert "without (they take none): GGompertz/NBD" in f.choice.reason
    for key, fit in f.calibration_fits.items():
        assert (getattr(fit, "covariates_", None) is not None) == comp.loc[key, "covariates"]


def test_without_covariates_the_section_is_one_line(report):
    _, res = report
    from dataclasses import replace

    plain = replace(res, effects=None, config=replace(res.config, model=replace(
        res.config.model, covariates=config.CovariateConfig())))
    line = sections.heading(plain, "value.drivers").data
    assert "left out, no covariates configured" in line
    assert sections.covariate_effects(plain) is None
    assert "takes no covariates" in sections.heading(replace(res, effects=None),
                                                     "value.drivers").data


# ------------------------------------------------------------------ bad input: one clear error
def test_a_column_the_customers_table_lacks_names_the_params_key(folder):
    cfg = config.load(_write(folder, {**_params(folder, covariates={"purchase": ["channel"],
                                                                    "dropout": ["membership"]}),
                                      "scenario": "cov_bad"}))
    with pytest.raises(ConfigError, match=r"model\.covariates\.dropout\[0\]: column "
                                          r"'membership' is not in .*customers\.csv \(its "
                                          r"columns: signup_date, region"):
        pipeline.run(cfg, run_date=RUN_DATE)


def test_buyers_without_a_value_are_one_data_error_naming_file_column_and_count(folder):
    customers = pd.read_csv(folder / "customers.csv")
    buyers = set(pd.read_csv(folder / "orders.csv")["customer_id"])
    gone = customers["customer_id"].isin(sorted(buyers)[:3])
    customers.loc[gone, "channel"] = None
    customers.to_csv(folder / "customers_gaps.csv", index=False)
    params = _params(folder)
    params["data"]["customers"]["path"] = str(folder / "customers_gaps.csv")
    cfg = config.load(_write(folder, {**params, "scenario": "cov_gaps"}))
    with pytest.raises(DataError, match=r"customers_gaps\.csv.*column 'channel': 3 of [\d,]+ "
                                        r"buyers have no value.*fix: fill it"):
        pipeline.run(cfg, run_date=RUN_DATE)


def test_covariates_without_a_customers_table_or_with_a_model_that_takes_none(folder):
    params = _params(folder)
    del params["data"]["customers"]
    cfg = config.load(_write(folder, {**params, "scenario": "cov_nocust"}))
    with pytest.raises(ConfigError, match=r"model\.covariates: covariates are columns of the "
                                          r"customers table, and this scenario has none"):
        pipeline.run(cfg, run_date=RUN_DATE)
    for model in ({"transaction": "ggomnbd"},
                  {"transaction": "best", "candidates": ["bgcnbd", "ggomnbd"]}):
        with pytest.raises(ConfigError, match=r"model\.covariates: covariates need a purchase "
                                              r"model that takes them \(bgnbd, paretonbd, mbgnbd\)"):
            config.load(_write(folder, {**_params(folder, **model), "scenario": "cov_model"}))


def test_the_bundled_channels_scenario_finds_the_simulated_directions():
    """params/retail_channels.yaml: referred customers buy more often and paid-social ones less
    (as simulated), each with an interval that excludes no effect; every candidate is fitted
    with the covariates."""
    from pathlib import Path

    cfg = config.load(Path(__file__).resolve().parents[1] / "params" / "retail_channels.yaml")
    res = pipeline.run(cfg, run_date=RUN_DATE)
    eff = res.effects
    assert set(eff["kind"]) == {"purchase", "dropout_rate" if res.model_choice.chosen == "paretonbd"
                                else "dropout_spread"}
    assert eff.loc["purchase_channel[referral]", "lower"] > 1
    assert eff.loc["purchase_channel[paid social]", "upper"] < 1
    assert res.model_choice.comparison["covariates"].all()
    assert res.model_choice.reason.endswith("Fitted with the covariates (channel): BG/NBD, "
                                            "Pareto/NBD, MBG/NBD.")


@pytest.mark.parametrize("row, language, text", [
    (dict(column="age", level=None, reference=None, kind="purchase", factor=0.97, lower=0.95,
          upper=0.99), "en", "Per extra unit of age, customers buy 3% less often (95% CI -5% to -1%)."),
    (dict(column="channel", level="web", reference="shop", kind="dropout_spread", factor=1.5,
          lower=1.1, upper=2.0), "en", "Customers with channel = web have a dropout probability "
     "1.50 times as concentrated around the same mean as for those with channel = shop (95% CI "
     "+10% to +100%)."),
    (dict(column="会员", level="是", reference="否", kind="dropout_rate", factor=1.0004,
          lower=0.9, upper=1.1), "zh", "会员 为“是”的客户（相对于 会员 为“否”）流失速度基本相同"
     "（95% 置信区间 -10% 至 +10%）。"),
])
def test_effect_sentences_for_numeric_columns_bg_dropout_and_no_change(row, language, text):
    assert sections.effect_sentence(pd.Series(row), language) == text


def test_the_value_interval_draws_the_coefficients_too(report):
    """The index page's value interval (parameter draws of both models) works with covariates:
    its draws centre on the point total and vary (the coefficients are drawn, not fixed)."""
    from clvkit import briefing

    _, res = report
    draws = briefing.value_draws(res, n_draws=60)
    total = res.scored["clv"].sum()
    assert draws["total"].notna().all() and draws["total"].std() > 0
    assert abs(draws["total"].median() / total - 1) < 0.05
