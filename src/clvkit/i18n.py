"""Strings people read, one gettext catalogue per language, and numbers formatted per language.

Every heading, sentence, axis label, stage or segment name and table header a report shows is a
*key* looked up here (``t("kpi.active_customers")``), never a literal in a notebook. The
catalogues are ordinary gettext ``.po`` files, ``clvkit/locale/<lang>/LC_MESSAGES/clvkit.po``:
translators edit them with any PO editor (Poedit, Weblate), Babel checks them, and
``tests/test_i18n.py`` checks that both languages have the same keys and the same ``{fields}``.

Why keys rather than English message ids: the English text is then in a catalogue too, so an
editor can reword a heading without touching code, and a key that is missing is caught by a test
instead of silently showing English on a Chinese page.

The ``.po`` files are compiled with Babel (``read_po`` → ``write_mo``) into a standard
``gettext.GNUTranslations`` the first time a language is used (about 10 ms, cached per process);
no compiled ``.mo`` file is kept in git or needs a build step. A key missing in ``zh`` falls back
to ``en`` (gettext's fallback chain); a key missing in ``en`` is a ``KeyError``.

Numbers: ``en`` groups thousands with commas (``219,334``); ``zh`` uses the same grouping in
tables (as zh-CN locales and Excel do) and, for headline amounts (:func:`compact`), the Chinese
units 万 (10⁴) and 亿 (10⁸): ``21.9万``.

Examples
--------
>>> t("word.high", language="zh")
'高'
>>> t("kpi.customers_n", language="en", n="1,234")
'1,234 customers'
>>> compact(219334, language="zh"), compact(219334, language="en")
('21.9万', '219,334')
"""
from __future__ import annotations

import functools
import gettext
import io
import math
import re
from importlib import resources

from clvkit.errors import ConfigError

__all__ = ["LANGUAGES", "HTML_LANG", "compact", "current", "has", "keys", "number", "percent",
           "set_language", "t", "translator"]

#: Supported report languages (``report.language`` in params).
LANGUAGES = ("en", "zh")
#: The ``lang`` attribute of an HTML page in each language.
HTML_LANG = {"en": "en", "zh": "zh-CN"}
DOMAIN = "clvkit"

_current = {"language": "en"}  # the default of t(); a notebook's kernel sets it once in setup
_FIELD = re.compile(r"{(\w+)[^{}]*}")


def _check(language: str) -> str:
    if language not in LANGUAGES:
        raise ConfigError(f"unknown report language {language!r}", key="report.language",
                          fix=f"use one of {', '.join(LANGUAGES)}")
    return language


def _po_path(language: str):
    return resources.files("clvkit") / "locale" / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def _catalog(language: str) -> gettext.GNUTranslations:
    """The compiled catalogue of one language (zh falls back to en)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with _po_path(language).open("rb") as handle:
        catalog = read_po(handle, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    translations = gettext.GNUTranslations(buffer)
    if language != "en":
        translations.add_fallback(_catalog("en"))
    return translations


@functools.cache
def keys(language: str = "en") -> dict[str, str]:
    """Every key of a language's catalogue and its text (for tests and translators)."""
    from babel.messages.pofile import read_po

    with _po_path(_check(language)).open("rb") as handle:
        catalog = read_po(handle, locale=language, domain=DOMAIN)
    return {m.id: m.string for m in catalog if m.id and m.string}


def set_language(language: str) -> str:
    """Make ``language`` the default of :func:`t` in this process (a notebook's kernel).

    A plain process-wide default rather than a context variable: IPython runs each cell in a
    fresh context, so a context variable set in the set-up cell would be gone in the next one.
    Library code that serves several languages at once passes ``language=`` explicitly.
    """
    _current["language"] = _check(language)
    return language


def current() -> str:
    """The language :func:`t` uses when none is given."""
    return _current["language"]


def t(key: str, *, language: str | None = None, **fields) -> str:
    """The text of ``key`` in ``language`` (default: :func:`current`), with ``{fields}`` filled.

    Raises
    ------
    KeyError
        When no catalogue has the key (a bug caught by ``tests/test_i18n.py``).
    """
    lang = _check(language or _current["language"])
    text = _catalog(lang).gettext(key)
    if text == key:
        raise KeyError(f"no text for {key!r} in the {lang} catalogue "
                       f"(src/clvkit/locale/{lang}/LC_MESSAGES/{DOMAIN}.po)")
    return text.format(**fields) if fields else text


def has(key: str, language: str | None = None) -> bool:
    """Whether the catalogue of ``language`` (default: :func:`current`) has ``key``."""
    lang = _check(language or _current["language"])
    return _catalog(lang).gettext(key) != key


def translator(language: str):
    """``t`` bound to one language: ``tr = translator("zh"); tr("nav.index")``."""
    lang = _check(language)
    return functools.partial(t, language=lang)


def fields(text: str) -> set[str]:
    """The ``{field}`` names in a message (for the catalogue consistency test)."""
    return set(_FIELD.findall(text))


def number(value, *, digits: int = 0, language: str | None = None) -> str:
    """A number with thousands separators (the same in both languages); ``–`` when missing.

    Infinite values are shown as ``–`` too: a report never prints ``inf`` or ``nan``.
    """
    _check(language or _current["language"])
    if value is None:
        return "–"
    v = float(value)
    if not math.isfinite(v):
        return "–"
    return f"{v:,.{digits}f}"


def percent(value, *, digits: int = 0, signed: bool = False, language: str | None = None) -> str:
    """A share as a percentage (``0.412`` → ``41%``); ``–`` when missing or infinite."""
    _check(language or _current["language"])
    if value is None or not math.isfinite(float(value)):
        return "–"
    return f"{float(value) * 100:{'+' if signed else ''}.{digits}f}%"


def compact(value, *, language: str | None = None, signed: bool = False) -> str:
    """A headline amount: ``219,334`` in English, ``21.9万`` (``1.2亿``) in Chinese.

    Amounts below 10,000 are written in full in both languages.
    """
    lang = _check(language or _current["language"])
    if value is None or not math.isfinite(float(value)):
        return "–"
    v = float(value)
    sign = "+" if signed and v > 0 else ("-" if v < 0 else "")
    a = abs(v)
    if lang == "zh" and a >= 1e4:
        unit, scale = ("亿", 1e8) if a >= 1e8 else ("万", 1e4)
        scaled = a / scale
        text = f"{scaled:,.1f}" if scaled < 100 else f"{scaled:,.0f}"
        return f"{sign}{text.removesuffix('.0')}{unit}"
    return f"{sign}{a:,.0f}" if a >= 100 else f"{sign}{a:,.{1 if a >= 10 else 2}f}".rstrip("0").rstrip(".")
