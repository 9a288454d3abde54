"""Fresh machine (issue 11, item 14): a CJK font installed after matplotlib cached its font list
is found without a manual cache purge. Without any CJK font file the test skips with the apt
hint; in CI (CLVKIT_REQUIRE_BROWSER=1, where the font is installed) it fails instead."""
from __future__ import annotations

import os
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib import font_manager  # noqa: E402

from clvkit import plots  # noqa: E402

HINT = "no CJK font file on this machine: apt-get install fonts-noto-cjk"


def cjk_files():
    return [p for p in font_manager.findSystemFonts()
            if plots.CJK_FILES.search(os.path.basename(p))]


@pytest.fixture()
def needs_cjk_file():
    if not cjk_files():
        if os.environ.get("CLVKIT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{HINT} (CI installs it)")
        pytest.skip(f"{HINT} (CI installs it)")


def test_a_font_installed_after_the_cache_was_built_is_found(needs_cjk_file, monkeypatch):
    manager = font_manager.fontManager
    stale = [f for f in manager.ttflist if not plots.CJK_FILES.search(os.path.basename(f.fname))
             and f.name not in plots.CJK_FONTS]
    monkeypatch.setattr(manager, "ttflist", stale)  # the cache as it was before the apt install
    monkeypatch.setattr(plots, "_ADDED", [])
    monkeypatch.setattr(matplotlib, "get_cachedir", lambda: str(os.environ.get("TMPDIR", "/tmp")))
    assert plots._first_cjk(manager) is None
    font = plots.cjk_font()
    assert font in plots.CJK_FONTS
    assert any(f.name == font for f in manager.ttflist)


def test_chinese_labels_draw_without_missing_glyphs_after_the_rebuild(needs_cjk_file,
                                                                      monkeypatch):
    manager = font_manager.fontManager
    monkeypatch.setattr(manager, "ttflist",
                        [f for f in manager.ttflist if f.name not in plots.CJK_FONTS])
    monkeypatch.setattr(plots, "_ADDED", [])
    monkeypatch.setattr(matplotlib, "get_cachedir", lambda: str(os.environ.get("TMPDIR", "/tmp")))
    with plt.rc_context():
        assert plots.set_theme() is not None
        fig, ax = plt.subplots()
        ax.set_title("VIP客户 普通客户")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fig.canvas.draw()
        plt.close(fig)
    assert not [w for w in caught if "missing" in str(w.message).lower()]
