"""One PDF of a run (summary + reports) for e-mail, printed by the system's headless Chromium.

The run's pages are joined into one HTML document (``report-all.html``, also a single-file bundle
of the whole run that opens offline) — each page's content after a page break, under the shared
stylesheet — and Chromium prints it once through Playwright to ``<scenario>-<run date>.pdf``.
The print stylesheet (``clvkit.css``, ``@media print``) sets A4, the header with scenario and run
date, page numbers, and keeps figures and tables whole.

Chromium is the system browser (``/usr/bin/chromium``, or ``$CLVKIT_CHROMIUM``), not a
Playwright download, so nothing is fetched at run time. Without it, or without the ``playwright``
package (``pip install clvkit[pdf]``), :func:`write_pdf` raises one :class:`PdfError` line
saying what to install.
"""
from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from clvkit.errors import ClvkitError

__all__ = ["CHROMIUM", "FLAGS", "PdfError", "bundle", "check_ready", "chromium_path", "write_pdf"]

CHROMIUM = "/usr/bin/chromium"
#: Launch flags for headless Chromium in containers and CI (no sandbox as root, no GPU, quiet).
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]


class PdfError(ClvkitError):
    """The PDF could not be written (no browser, no Playwright, or printing failed)."""


def chromium_path() -> Path:
    """The Chromium to print with: ``$CLVKIT_CHROMIUM``, ``/usr/bin/chromium``, or on PATH.

    Raises
    ------
    PdfError
        When none is installed (one line naming the fix).
    """
    candidates = [os.environ.get("CLVKIT_CHROMIUM"), CHROMIUM,
                  *(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome"))]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return Path(c)
    raise PdfError("no Chromium browser found for the PDF (looked for $CLVKIT_CHROMIUM, "
                   f"{CHROMIUM} and chromium on PATH): install it (apt-get install chromium) or "
                   "set CLVKIT_CHROMIUM, or run the report without --pdf")


def check_ready() -> Path:
    """Fail fast, before a long report run: the browser and Playwright are both there.

    Raises
    ------
    PdfError
        One line naming what to install.
    """
    executable = chromium_path()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        raise PdfError("the PDF needs the playwright package: pip install 'clvkit[pdf]' "
                       "(it uses the system Chromium; no browser download)") from None
    return executable


_MAIN = re.compile(r'<main id="content">(.*)</main>', re.S)
_HEAD = re.compile(r"^(.*?<body[^>]*>)", re.S)


def bundle(pages: Sequence[Path], output: Path) -> Path:
    """Join the run's pages into one offline HTML file (each page from a new printed page).

    The head (stylesheet, language) is the first page's; of every page the ``<main>`` content
    is kept (nav bars and pager are dropped: in one file they would point elsewhere).
    """
    if not pages:
        raise PdfError("no pages to put in the PDF")
    first = pages[0].read_text(encoding="utf-8")
    head = _HEAD.match(first)
    if head is None:
        raise PdfError(f"{pages[0]} is not a clvkit report page (no <body>)")
    parts = []
    for i, page in enumerate(pages):
        text = page.read_text(encoding="utf-8")
        found = _MAIN.search(text)
        if found is None:
            raise PdfError(f"{page} is not a clvkit report page (no <main id=\"content\">)")
        body = re.sub(r'<nav class="clvkit-pager".*?</nav>', "", found.group(1), flags=re.S)
        cls = ' class="page-break"' if i else ""
        parts.append(f'<section{cls} data-page="{page.name}">{body}</section>')
    output.write_text(head.group(1) + '\n<main id="content">\n' + "\n".join(parts)
                      + "\n</main>\n</body>\n</html>\n", encoding="utf-8")
    return output


def write_pdf(pages: Sequence[Path], output: Path, *, timeout_s: float = 120.0) -> Path:
    """Print the run's pages (summary first) into one A4 PDF with the system Chromium.

    Parameters
    ----------
    pages : sequence of Path
        The HTML pages in reading order (``index.html`` first).
    output : Path
        The PDF to write; ``report-all.html`` (the bundle it is printed from) is written beside it.

    Raises
    ------
    PdfError
        No browser, no Playwright, or Chromium failed to print (one line each).
    """
    executable = chromium_path()
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise PdfError("the PDF needs the playwright package: pip install 'clvkit[pdf]' "
                       "(it uses the system Chromium; no browser download)") from None
    joined = bundle(pages, output.with_name("report-all.html"))
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(executable), args=FLAGS)
            try:
                page = browser.new_page()
                page.route(re.compile(r"^(?!file:|data:|about:).*"), lambda r: r.abort())
                page.goto(joined.as_uri(), wait_until="load", timeout=timeout_s * 1000)
                page.emulate_media(media="print")
                page.pdf(path=str(output), format="A4", print_background=True,
                         prefer_css_page_size=True)
            finally:
                browser.close()
    except PlaywrightError as e:
        first = (str(e).strip().splitlines() or ["unknown error"])[0]
        raise PdfError(f"Chromium ({executable}) could not print the PDF: {first}") from None
    return output
