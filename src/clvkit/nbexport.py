"""The report's offline HTML as an nbconvert exporter, for analysts' own notebooks.

``clvkit report`` writes each notebook as one self-contained HTML page: code hidden, figures
embedded, and no network request at all (the ``clvkit_report`` template drops JupyterLab's
require.js, MathJax, mermaid and widget scripts, which a plain ``jupyter nbconvert --to html``
loads from a CDN). The same exporter is registered with nbconvert as ``clvkit_html``::

    jupyter nbconvert --to clvkit_html my_analysis.ipynb      # -> my_analysis.html

(entry point ``nbconvert.exporters`` in pyproject.toml).
"""
from __future__ import annotations

import re
from importlib import resources

from nbconvert import HTMLExporter

__all__ = ["ClvkitHTMLExporter", "TEMPLATE"]

#: The nbconvert template (in ``clvkit/templates``) the reports use.
TEMPLATE = "clvkit_report"
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)


def _drop_url_comment(match: re.Match) -> str:
    """JupyterLab's inlined CSS cites web pages in comments; drop those so no URL is left."""
    return "" if "://" in match.group() else match.group()


class ClvkitHTMLExporter(HTMLExporter):
    """HTML as in the clvkit reports: offline, code and prompts hidden, images embedded."""

    export_from_notebook = "clvkit HTML (offline report)"

    def __init__(self, config=None, **kw):
        kw.setdefault("template_name", TEMPLATE)
        kw.setdefault("extra_template_basedirs",
                      [str(resources.files("clvkit") / "templates")])
        kw.setdefault("exclude_input", True)
        kw.setdefault("exclude_input_prompt", True)
        kw.setdefault("exclude_output_prompt", True)
        kw.setdefault("embed_images", True)
        super().__init__(config=config, **kw)

    def from_notebook_node(self, nb, resources=None, **kw):
        body, res = super().from_notebook_node(nb, resources=resources, **kw)
        head, sep, rest = body.partition("<body")
        return _CSS_COMMENT.sub(_drop_url_comment, head) + sep + rest, res
