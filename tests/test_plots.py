"""clvkit.plots on Agg: titles, labels with units, returned Axes, and Chinese labels that render."""
from __future__ import annotations

import os
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from clvkit import plots  # noqa: E402

ZH = ["VIP客户", "普通客户", "潜在客户"]


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def draw_without_missing_glyphs(ax):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ax.figure.canvas.draw()
    missing = [str(w.message) for w in caught if "missing" in str(w.message).lower()]
    assert not missing, missing


def profile(labels):
    return pd.DataFrame({"tier": labels, "customers": [500, 2000, 2500],
                         "customer_share": [0.1, 0.4, 0.5], "revenue_share": [0.4, 0.45, 0.15],
                         "clv_share": [0.45, 0.43, 0.12]})


def test_cjk_font_is_found_on_machines_with_fonts_noto_cjk():
    from matplotlib import font_manager

    if not any("Noto Sans CJK" in f.name for f in font_manager.fontManager.ttflist):
        if os.environ.get("CLVKIT_REQUIRE_BROWSER"):       # set by .ci/run, which installs it
            pytest.fail("fonts-noto-cjk is missing although CI installs it")
        pytest.skip("fonts-noto-cjk not installed here: apt-get install fonts-noto-cjk (CI installs it)")
    assert plots.set_theme().startswith("Noto Sans CJK")


def test_chinese_tier_labels_render_without_missing_glyph_warnings():
    if plots.set_theme() is None:
        pytest.fail("no CJK font installed: apt-get install fonts-noto-cjk (CI installs it)")
    ax = plots.tier_profile(profile(ZH))
    assert [t.get_text() for t in ax.get_xticklabels()] == ZH
    assert ax.get_title(loc="left") == "VIP客户: 10% of customers, 45% of future value"
    ax.set_xlabel("价值分层")
    draw_without_missing_glyphs(ax)


def test_missing_glyph_check_does_catch_boxes_with_a_latin_only_font():
    """The check above can fail: DejaVu Sans alone has no CJK glyphs and matplotlib warns."""
    with plt.rc_context({"font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"]}):
        fig, ax = plt.subplots()
        ax.set_title("VIP客户")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fig.canvas.draw()
    assert any("missing" in str(w.message).lower() for w in caught)


def test_tier_profile_labels_and_title_from_the_frame():
    plots.set_theme()
    ax = plots.tier_profile(profile(["VIP", "regular", "potential"]), title="VIPs hold most value")
    assert ax.get_title(loc="left") == "VIPs hold most value"
    assert ax.get_xlabel() == "tier" and ax.get_ylabel() == "share of total"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "customers", "future value (CLV)", "past revenue"]
    bars = [p.get_height() for p in ax.patches]
    assert bars[:3] == [0.1, 0.4, 0.5]  # draws the frame's numbers, unchanged


def test_draws_on_a_given_axes_and_returns_it():
    fig, (a, b) = plt.subplots(1, 2)
    assert plots.histogram(np.arange(10), ax=a, xlabel="repeat purchases (count)") is a
    assert a.get_title(loc="left") == "Distribution of repeat purchases (count)"
    assert a.get_ylabel() == "customers"
    led = pd.DataFrame({"reason": ["duplicate row", "negative amount"], "rows": [12, 3],
                        "action": ["dropped", "dropped"]})
    assert plots.ledger(led, ax=b) is b
    assert b.get_xlabel() == "rows" and [t.get_text() for t in b.get_yticklabels()] == [
        "duplicate row", "negative amount"]


def test_intervals_marks_missing_estimates_instead_of_dropping_them():
    frame = pd.DataFrame({"group": ["VIP", "regular", "prospect"], "csat": [4.4, 3.9, np.nan],
                          "csat_low": [4.3, 3.8, np.nan], "csat_high": [4.5, 4.0, np.nan]})
    ax = plots.intervals(frame, value="csat", low="csat_low", high="csat_high", label="group",
                         title="VIPs are the most satisfied", xlabel="mean CSAT (1–5), 95% CI")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["VIP", "regular", "prospect"]
    assert [t.get_text() for t in ax.texts] == ["not estimated"]
    assert ax.get_xlabel() == "mean CSAT (1–5), 95% CI"


def test_heatmap_lines_bars_and_counts_set_titles_and_labels():
    m = pd.DataFrame([[1.0, 0.5], [1.0, 0.4]], index=["2024-01", "2024-02"], columns=[0, 1])
    ax = plots.heatmap(m, title="Cohorts keep ~45% after a month", xlabel="months since first purchase",
                       ylabel="cohort (first purchase month)", colorbar="share still buying")
    assert ax.get_xlabel() == "months since first purchase"
    assert ax.figure.axes[-1].get_ylabel() == "share still buying"
    frame = pd.DataFrame({"actual": [1, 3, 6], "model": [1.2, 3.1, 5.8]}, index=[1, 2, 3])
    ax = plots.lines(frame, title="The model tracks repeat sales", xlabel="week",
                     ylabel="cumulative repeat purchases")
    assert [line.get_label() for line in ax.get_lines()] == ["actual", "model"]
    ax = plots.grouped_bars(frame, title="t", xlabel="purchases in period", ylabel="customers")
    assert len(ax.patches) == 6
    ax = plots.counts(pd.Series([5, 7], index=["new", "loyal"]), title="Most are loyal",
                      xlabel="lifecycle stage")
    assert [t.get_text() for t in ax.texts] == ["5", "7"] and ax.get_ylabel() == "customers"


def test_missing_columns_name_what_is_needed():
    with pytest.raises(ValueError, match="tier_profile needs column.*clv_share"):
        plots.tier_profile(pd.DataFrame({"tier": ["a"], "customer_share": [1.0]}))


def test_importing_clvkit_does_not_import_matplotlib():
    import subprocess
    import sys

    code = "import sys, clvkit, clvkit.plots, clvkit.report; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_ledger_with_nothing_removed_says_so():
    led = pd.DataFrame({"reason": ["missing date", "negative amount"], "rows": [0, 0],
                        "action": ["dropped", "dropped"]})
    ax = plots.ledger(led)
    assert ax.get_title(loc="left") == "Cleaning removed or changed no rows"
    assert ax.get_xlim() == (0.0, 1.0)
    led.loc[1, "rows"] = 4
    assert plots.ledger(led).get_title(loc="left") == "What cleaning removed or changed, by reason"


def tracking_frame():
    ends = pd.date_range("2024-01-08", periods=4, freq="7D")
    return pd.DataFrame({"period_end": ends, "actual": [3, 5, 4, 6], "expected": [3.2, 4.8, 4.4, 5.5],
                         "actual_cumulative": [3, 8, 12, 18],
                         "expected_cumulative": [3.2, 8.0, 12.4, 17.9]},
                        index=pd.RangeIndex(1, 5, name="period"))


@pytest.mark.parametrize("cumulative", [False, True])
def test_tracking_draws_actual_and_expected_and_marks_the_calibration_end(cumulative):
    frame = tracking_frame()
    ax = plots.tracking(frame, cumulative=cumulative, calibration_end=pd.Timestamp("2024-01-20"))
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == ["actual", "expected by the model", "end of calibration"]
    col = "actual_cumulative" if cumulative else "actual"
    assert list(lines[0].get_ydata()) == frame[col].tolist()   # draws the frame's numbers
    assert ax.get_ylabel() == ("cumulative repeat transactions" if cumulative
                               else "repeat transactions per week")
    assert ax.get_xlabel() == "date (end of period)"
    assert "actual and expected" in ax.get_title(loc="left")


def test_calibration_holdout_labels_bins_and_the_holdout_window():
    table = pd.DataFrame({"customers": [10, 5, 2], "actual": [0.2, 0.5, 1.4],
                          "predicted": [0.25, 0.45, 1.2]}, index=pd.Index(["0", "1", "2+"], name="frequency"))
    ax = plots.calibration_holdout(table, holdout="26 weeks", title="Predictions hold up")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2+"]
    assert ax.get_ylabel() == "mean purchases per customer in 26 weeks"
    assert ax.get_xlabel() == "repeat purchases in the calibration period"
    assert [list(ln.get_ydata()) for ln in ax.get_lines()] == [[0.2, 0.5, 1.4], [0.25, 0.45, 1.2]]
    assert ax.get_title(loc="left") == "Predictions hold up"


def test_frequency_recency_heatmap_puts_high_frequency_on_top_and_leaves_gaps_blank():
    frame = pd.DataFrame({"frequency": [0, 1, 1, 2, 2], "recency": [0.0, 0.0, 4.0, 0.0, 4.0],
                          "p_alive": [1.0, 0.2, 0.6, 0.1, 0.7]})
    ax = plots.frequency_recency(frame, value="p_alive", title="Recent buyers are alive",
                                 colorbar="P(alive)", recency_unit="weeks")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["2", "1", "0"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "4"]
    assert ax.get_xlabel() == "recency: age at last purchase (weeks)"
    assert ax.get_ylabel() == "repeat purchases (frequency)"
    # 5 cells drawn, the (frequency 0, recency 4) cell left blank
    assert sorted(t.get_text() for t in ax.texts) == ["0.10", "0.20", "0.60", "0.70", "1.00"]


def test_effects_gives_each_outcome_its_own_axis_and_unit():
    eff = pd.DataFrame({"unit": ["points", "NPS points", ""], "estimate": [0.57, 30.1, np.nan],
                        "low": [0.32, 13.0, np.nan], "high": [0.78, 44.1, np.nan]},
                       index=pd.Index(["csat", "nps", "spend"], name="outcome"))
    axes = plots.effects(eff, title="The programme raised satisfaction", units={"spend": "CNY"})
    assert len(axes) == 3 and len({id(a.figure) for a in axes}) == 1
    assert [a.get_yticklabels()[0].get_text() for a in axes] == ["csat", "nps", "spend"]
    assert [a.get_xlabel() for a in axes] == ["points", "NPS points", "CNY"]
    assert axes[0].get_title(loc="left") == "The programme raised satisfaction"
    assert [t.get_text() for t in axes[1].texts] == ["+30.1"]
    assert [t.get_text() for t in axes[2].texts] == ["not estimated"]
    lo, hi = axes[1].get_xlim()
    assert lo < 0 < 13.0 < 44.1 < hi   # zero and the whole interval in view
