"""The message catalogues: same keys and fields in every language, every key used exists."""
import re
from pathlib import Path

import pytest

from clvkit import i18n
from clvkit.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_every_language_has_the_same_keys_and_fields():
    en = i18n.keys("en")
    for lang in i18n.LANGUAGES:
        other = i18n.keys(lang)
        assert set(other) == set(en), (lang, set(en) ^ set(other))
        for key, text in en.items():
            assert i18n.fields(other[key]) == i18n.fields(text), (lang, key)


def test_chinese_catalogue_is_chinese():
    zh = i18n.keys("zh")
    latin_only = [k for k, v in zh.items() if not re.search(r"[\u4e00-\u9fff]", v)
                  and re.search(r"[a-z]{4,}", re.sub(r"{\w+}", "", v))]
    assert latin_only == [], latin_only


def test_every_key_used_in_the_code_and_notebooks_exists():
    used = set()
    sources = [*(ROOT / "src" / "clvkit").rglob("*.py"), *(ROOT / "src" / "clvkit").rglob("*.ipynb"),
               *(ROOT / "notebooks").glob("*.ipynb")]
    for path in sources:
        used |= set(re.findall(r"""\bt\(\s*\\?["']([a-z0-9_]+\.[\w.-]+)\\?["']""",
                               path.read_text(encoding="utf-8")))
    assert used, "no catalogue key found in the sources"
    assert used - set(i18n.keys("en")) == set()


def test_lookup_fills_fields_and_names_a_missing_key():
    assert i18n.t("kpi.customers_n", language="zh", n="1,234") == "1,234 位客户"
    with pytest.raises(KeyError, match="no text for 'no.such.key' in the en catalogue"):
        i18n.t("no.such.key", language="en")
    with pytest.raises(ConfigError, match="report.language"):
        i18n.t("word.high", language="fr")


def test_a_translator_is_bound_to_its_language():
    tr = i18n.translator("zh")
    assert tr("nav.next") == "下一页" and i18n.t("nav.next", language="en") == "Next"


@pytest.mark.parametrize("value, lang, text", [
    (219334, "zh", "21.9万"), (219334, "en", "219,334"), (-1.5e8, "zh", "-1.5亿"),
    (9999, "zh", "9,999"), (1_000_000, "zh", "100万"), (12.34, "en", "12.3"),
    (float("inf"), "en", "–"), (float("nan"), "zh", "–"), (None, "en", "–")])
def test_compact_numbers(value, lang, text):
    assert i18n.compact(value, language=lang) == text


def test_numbers_never_print_nan_or_inf():
    assert i18n.number(float("nan")) == "–" and i18n.percent(float("inf")) == "–"
    assert i18n.number(1234.5, digits=1) == "1,234.5" and i18n.percent(0.412) == "41%"
    assert i18n.percent(0.05, signed=True, digits=1) == "+5.0%"
