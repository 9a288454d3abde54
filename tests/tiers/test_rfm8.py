"""The eight-class high/low RFM model against a hand computation (means and medians by hand)."""
import pandas as pd
import pytest

from clvkit.errors import ConfigError
from clvkit.tiers import RFM8_CLASSES, rfm8_segments

# gap = T - recency: 2, 52, 30, 5, 1 -> mean 18, median 5
# frequency 4, 0, 2, 6, 3            -> mean 3,  median 3
# monetary 100, 0, 300, 20, 400      -> mean 164, median 100
SUMMARY = pd.DataFrame({"frequency": [4, 0, 2, 6, 3], "recency": [50, 0, 10, 45, 51],
                        "T": [52, 52, 40, 50, 52], "monetary_value": [100.0, 0, 300, 20, 400]},
                       index=pd.Index([11, 12, 13, 14, 15], name="customer_id"))


def test_rfm8_against_a_hand_computation_with_the_mean():
    res = rfm8_segments(SUMMARY, language="zh")
    # 11: R high (2 < 18), F high (4 > 3), M low (100 < 164); 15: F = cut counts as low
    assert res.segment.tolist() == ["一般价值客户", "一般挽留客户", "重要挽留客户", "一般价值客户",
                                    "重要发展客户"]
    defs = res.definitions.set_index("segment")
    assert defs.loc["一般价值客户", "customers"] == 2 and defs["customers"].sum() == 5
    assert (defs.loc["重要价值客户", ["r", "f", "m"]] == ["高", "高", "高"]).all()
    assert defs["r_cut"].iloc[0] == 18 and defs["f_cut"].iloc[0] == 3
    assert defs["m_cut"].iloc[0] == 164


def test_rfm8_with_the_median_and_english_names():
    res = rfm8_segments(SUMMARY, cut="median", language="en")
    # medians: gap 5 (customer 14 sits on it: low R), F 3, M 100 (customer 11 on it: low M)
    assert res.segment.tolist() == ["general value", "general win-back", "key win-back",
                                    "general retention", "key development"]
    assert list(res.segment.cat.categories) == [
        "key value", "key development", "key retention", "key win-back", "general value",
        "general development", "general retention", "general win-back"]
    assert res.method == "rfm8" and res.definitions["share"].sum() == pytest.approx(1.0)


def test_rfm8_classes_cover_each_high_low_combination_once():
    assert len({tuple(bits) for _, *bits in RFM8_CLASSES}) == 8


def test_rfm8_rejects_an_unknown_cut():
    with pytest.raises(ConfigError, match="segments.cut.*mean"):
        rfm8_segments(SUMMARY, cut="mode")


def test_retail_zh_uses_rfm8_in_chinese_with_a_bom():
    from pathlib import Path

    from clvkit import config

    cfg = config.load(Path(__file__).resolve().parents[2] / "params" / "retail_zh.yaml")
    assert cfg.segments.method == "rfm8" and cfg.report.language == "zh"
    assert cfg.export.csv_bom is True
    en = config.load(Path(__file__).resolve().parents[2] / "params" / "retail.yaml")
    assert en.export.csv_bom is False and en.report.language == "en"
