"""Reports for transactions without amounts (issue 15, item 4): visit or order logs go through
`clvkit init` and `clvkit report` with no editing; every spend section is left out with one
line saying why, rankings, tier profiles, the watchlist and the summary's KPI tiles use expected
purchases, in English and Chinese. The data with amounts keep their sections (the other report
tests)."""
from __future__ import annotations

import os
import re
from html import unescape
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from clvkit import briefing, config, i18n, pipeline, sections
from clvkit.errors import ConfigError
from clvkit.tiers import churn_warning
from clvkit.value import value_at_risk

#: Text no reader should ever see on a page (as tests/test_browser.py): Python warnings and
#: errors, tracebacks, source paths, nan, inf, None.
FORBIDDEN = re.compile(r"\b\w*(Warning|Error)\b|Traceback|site-packages|\.py\b|/src/clvkit|"
                       r"\bnan\b|\binf\b|\bNaN\b|\bNone\b")
#: The left-out lines of the spend sections: (report page, catalogue key).
LEFT_OUT = [("01_data_quality", "omit.spend.distributions"), ("02_customer_value", "omit.spend.model"),
            ("02_customer_value", "omit.spend.clv"), ("03_tiers", "omit.spend.profiles"),
            ("index", "omit.spend.index")]
#: What only a report with amounts shows: (page, catalogue key, fields).
SPEND_ONLY = [("02_customer_value", "cap.spend_model", {"currency": "USD"}),
              ("02_customer_value", "h.value.per_customer", {}),
              ("02_customer_value", "h.value.top", {}),
              ("02_customer_value", "col.clv_cur", {"currency": "USD"}),
              ("02_customer_value", "plot.clv_title", {}),
              ("03_tiers", "col.future_value", {"currency": "USD"}),
              ("03_tiers", "col.clv_at_risk", {}),
              ("index", "kpi.value_at_risk", {}),
              ("index", "col.value", {"currency": "USD"})]


def clvkit(*args, cwd):
    """The installed console script, run in ``cwd`` (a folder outside the project)."""
    exe = Path(sys.executable).with_name("clvkit")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=1800)


def visits(n: int = 400, seed: int = 7) -> pd.DataFrame:
    """A simulated visit log (customer id and date only), 2023-01-01 to 2024-12-31."""
    from clvkit.datasets import simulate

    tx = simulate(n, seed, start="2023-01-01", observation_end="2024-12-31",
                  programme=False).transactions
    return tx[["customer_id", "date"]].reset_index(drop=True)


def visible_text(html: str) -> str:
    html = re.sub(r"<(style|script)\b.*?</\1>", " ", html, flags=re.S | re.I)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def check_pages(run_dir: Path, language: str) -> dict:
    """Every page of a no-amount run: written, clean, no spend section, each left-out line
    where its section would have been. Returns the visible text by page stem."""
    stems = ["01_data_quality", "02_customer_value", "03_tiers", "04_satisfaction_retention"]
    assert sorted(p.stem for p in run_dir.glob("[0-9]*.html")) == stems  # no programme: no 05
    texts = {}
    for stem in [*stems, "index", "appendix"]:
        html = (run_dir / f"{stem}.html").read_text(encoding="utf-8")
        text = visible_text(html)
        hits = [m.group(0) for m in FORBIDDEN.finditer(text)]
        assert not hits, (stem, hits[:5])
        assert "KeyError" not in html and "Traceback" not in html, stem
        texts[stem] = text
    for stem, key in LEFT_OUT:
        assert i18n.t(key, language=language) in texts[stem], (stem, key)
    for stem, key, fields in SPEND_ONLY:
        assert i18n.t(key, language=language, **fields) not in texts[stem], (stem, key)
    return texts


# ------------------------------------------------------------------ end to end, as a user
@pytest.mark.slow
def test_init_then_report_a_cust_date_log_outside_the_project(tmp_path):
    log = visits()
    pd.DataFrame({"cust": log["customer_id"], "date": log["date"].dt.strftime("%Y-%m-%d")}).to_csv(
        tmp_path / "visits.csv", index=False)
    res = clvkit("init", "visits.csv", "--out", "visits.yaml", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "next: clvkit report visits.yaml" in res.stdout
    res = clvkit("report", "visits.yaml", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    texts = check_pages(tmp_path / "reports" / "visits" / "latest", "en")
    assert "Customers expected to buy most" in texts["02_customer_value"]
    assert "purchases at risk" in texts["03_tiers"] and "purchases at risk" in texts["index"]


@pytest.mark.slow
def test_init_then_report_a_chinese_headed_log_in_chinese(tmp_path):
    log = visits(seed=8)
    pd.DataFrame({"客户编号": log["customer_id"], "日期": log["date"].dt.strftime("%Y-%m-%d")}).to_csv(
        tmp_path / "到访.csv", index=False)
    res = clvkit("init", "到访.csv", "--out", "visits.yaml", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "next: clvkit report visits.yaml" in res.stdout
    params = yaml.safe_load((tmp_path / "visits.yaml").read_text(encoding="utf-8"))
    assert params["data"]["transactions"]["amount"] is None
    params["report"] = {"language": "zh"}
    (tmp_path / "visits.yaml").write_text(yaml.safe_dump(params, allow_unicode=True),
                                          encoding="utf-8")
    res = clvkit("report", "visits.yaml", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    run = tmp_path / "reports" / params["scenario"] / "latest"
    texts = check_pages(run, "zh")
    assert "金额价值（CLV、风险价值、收入）未显示" in texts["index"]
    assert '<html lang="zh-CN"' in (run / "index.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_minimal_params_without_amounts_validate_score_and_report(tmp_path):
    log = visits(seed=9)
    log.assign(date=log["date"].dt.strftime("%Y-%m-%d")).to_csv(tmp_path / "v.csv", index=False)
    (tmp_path / "v.yaml").write_text("scenario: v\ndata:\n  source: files\n  transactions: "
                                     "{path: v.csv, amount: null}\n", encoding="utf-8")
    for args in (["validate", "v.yaml"], ["score", "v.yaml", "--out", "out"], ["report", "v.yaml"]):
        res = clvkit(*args, cwd=tmp_path)
        assert res.returncode == 0, (args, res.stderr)
    check_pages(tmp_path / "reports" / "v" / "latest", "en")
    watch = pd.read_csv(tmp_path / "out" / "watchlist.csv")
    assert watch["purchases_at_risk"].is_monotonic_decreasing and "clv" not in watch


# ------------------------------------------------------------- the functions behind them
@pytest.fixture(scope="module")
def res(tmp_path_factory):
    folder = tmp_path_factory.mktemp("no_amounts")
    visits(200).to_csv(folder / "v.csv", index=False)
    cfg = config.Config.from_dict({"scenario": "v", "summary": {"calibration": 0.7},
                                   "model": {"candidates": ["bgnbd", "mbgnbd"]},
                                   "data": {"source": "files", "transactions": {
                                       "path": str(folder / "v.csv"), "amount": None}}})
    return pipeline.run(cfg, run_date="2025-01-31")


@pytest.fixture
def shown(monkeypatch):
    """What a section function displayed (besides what it returned)."""
    items = []
    monkeypatch.setattr("IPython.display.display", lambda *objs, **kw: items.extend(objs))
    return items


def as_text(obj) -> str:
    if hasattr(obj, "to_html"):
        return obj.to_html()
    return getattr(obj, "data", None) or str(obj)


def test_spend_sections_say_they_are_left_out(res, shown):
    tr = i18n.translator("en")
    assert tr("omit.spend.model") in str(sections.parameter_table(res, "spend"))
    for call, key in [(sections.distributions_table, "omit.spend.distributions"),
                      (sections.value_summary, "omit.spend.clv"),
                      (sections.tier_profile_table, "omit.spend.profiles")]:
        shown.clear()
        assert call(res) is None
        texts = [as_text(o) for o in shown]
        assert any(tr(key) in t for t in texts), key
        assert not any(re.search(r"monetary|CLV \(|future value", t) for t in texts[:-1]), key
    heading = sections.heading(res, "value.per_customer").data
    assert heading.startswith("## Expected purchases per customer")


def test_rankings_use_expected_purchases(res):
    top = sections.top_customers(res, n=5).data
    assert list(top["customer_id"]) == list(res.scored.nlargest(5, "expected_purchases").index)
    assert "clv" not in top and "revenue" not in top
    prof = briefing.purchase_profile(res)
    assert prof["tier"].tolist() == [t for t in res.config.tiers.labels if t in prof["tier"].tolist()]
    assert prof["purchases_share"].sum() == pytest.approx(1.0)
    per_tier = res.scored["expected_purchases"].groupby(res.tiers.tier.reindex(res.scored.index)).sum()
    assert prof.set_index("tier")["purchases_total"].to_dict() == pytest.approx(per_tier.to_dict())


def test_watchlist_is_ranked_by_purchases_at_risk_as_score_writes_it(res):
    wl = res.warning.watchlist
    assert {"expected_purchases", "purchases_if_alive", "purchases_at_risk"} <= set(wl.columns)
    assert not {"clv", "clv_at_risk"} & set(wl.columns)
    assert wl["purchases_at_risk"].is_monotonic_decreasing and len(wl)
    s = res.scored.loc[wl["customer_id"]]
    _, risk = value_at_risk(s["expected_purchases"].to_numpy(), s["p_alive"].to_numpy())
    np.testing.assert_allclose(wl["purchases_at_risk"].to_numpy(), risk)
    assert "purchases_at_risk" in res.warning.criteria["value"].iloc[-1]


def test_churn_warning_value_is_checked():
    scored = pd.DataFrame({"p_alive": [0.1, 0.2], "expected_purchases": [1.0, 3.0]},
                          index=pd.Index(["a", "b"], name="customer_id"))
    wl = churn_warning(scored, value="expected_purchases").watchlist
    assert wl["customer_id"].tolist() == ["b", "a"]  # 3/0.2*0.8 = 12 > 1/0.1*0.9 = 9
    with pytest.raises(ConfigError, match=r"churn_warning.value: unknown value 'spend'"):
        churn_warning(scored, value="spend")


def test_summary_tiles_and_decisions_count_purchases(res):
    items = {k.key: k for k in briefing.kpis(res)}
    assert list(items) == ["active_customers", "purchases_horizon", "top_share_purchases",
                           "purchases_at_risk"]
    total = float(res.scored["expected_purchases"].sum())
    k = items["purchases_horizon"]
    assert k.value == pytest.approx(total) and k.low < k.value < k.high and k.kind == "count"
    _, risk = value_at_risk(res.scored["expected_purchases"], res.scored["p_alive"])
    assert items["purchases_at_risk"].value == pytest.approx(risk.sum())
    d = briefing.decisions(res)
    assert d["value"].sum() == pytest.approx(total) and d["at_risk"].sum() == pytest.approx(risk.sum())
    points = " ".join(briefing.key_points(res, "tiers") + briefing.key_points(res, "customer_value"))
    assert "USD" not in points and "expected purchases" in points


def test_purchase_draws_center_on_the_point_total(res):
    d = briefing.purchase_draws(res, n_draws=200)
    total = float(res.scored["expected_purchases"].sum())
    assert d.shape == (200, len(d.columns)) and "total" in d
    assert np.nanquantile(d["total"], 0.025) < total < np.nanquantile(d["total"], 0.975)
    assert d.drop(columns="total").sum(axis=1).to_numpy() == pytest.approx(d["total"].to_numpy())


def test_case_study_without_amounts_has_no_spend_outcome_and_says_why_no_return(tmp_path, shown):
    from clvkit.datasets import simulate

    d = simulate(400, 7, start="2023-01-01", observation_end="2024-12-31", programme=True)
    d.transactions[["customer_id", "date"]].to_csv(tmp_path / "v.csv", index=False)
    d.programme.to_csv(tmp_path / "p.csv", index=False)
    cfg = config.Config.from_dict({
        "scenario": "v", "data": {"source": "files",
                                  "transactions": {"path": str(tmp_path / "v.csv"), "amount": None},
                                  "programme": {"path": str(tmp_path / "p.csv")}},
        "impact": {"programme_start": f"{d.truth.programme.start:%Y-%m-%d}",
                   "cost_per_customer": 5, "n_boot": 100}})
    with pytest.warns(Warning):  # CSAT and NPS not estimated: no surveys
        res = pipeline.run(cfg, run_date="2025-01-31")
    eff = res.impact.effects
    assert "spend" not in eff.index and {"repurchase", "churn"} <= set(eff.index)
    assert "spend before start" not in set(res.impact.balance["characteristic"])
    assert briefing.roi(res) is None
    line = unescape(sections.heading(res, "case.roi").data)
    assert i18n.t("omit.case.roi.counts") in line
    effect = {k.key: k for k in briefing.kpis(res)}["programme_effect"]
    assert np.isfinite(effect.value)  # the first outcome estimated, not CSAT without surveys
    ax = sections.trends_plot(res)
    assert ax.get_ylabel() == i18n.t("plot.buying_share")
