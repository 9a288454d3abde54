"""The report notebooks as stored in git: logic-free, stripped, with parameters run_report accepts.

(They are executed end to end through run_report in tests/test_browser.py.)
"""
from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from clvkit import config
from clvkit.report import PARAMETERS, select_notebooks

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
EXPECTED = ["01_data_quality", "02_customer_value", "03_tiers", "04_satisfaction_retention",
            "05_case_study"]
LOGIC = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.For, ast.AsyncFor,
         ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def notebooks():
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def code_cells(path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def logic_in(source: str) -> list[str]:
    """Names of the logic constructs in a cell (IPython magics and shell lines are skipped)."""
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    return [type(node).__name__ for node in ast.walk(ast.parse("\n".join(lines)))
            if isinstance(node, LOGIC)]


def test_the_five_report_notebooks_exist_in_order():
    assert [p.stem for p in notebooks()] == EXPECTED
    assert [p.stem for p in select_notebooks(NOTEBOOKS)] == EXPECTED


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem)
def test_notebook_has_no_functions_classes_or_loops(path):
    found = {i: logic_in(c.source) for i, c in enumerate(code_cells(path))}
    assert not {i: f for i, f in found.items() if f}, f"move this logic into clvkit: {found}"


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem)
def test_notebook_is_stored_stripped(path):
    for cell in code_cells(path):
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem)
def test_parameters_cell_is_first_and_accepted_by_run_report(path):
    cells = code_cells(path)
    first = cells[0]
    assert "parameters" in first.metadata.get("tags", [])
    assert sum("parameters" in c.metadata.get("tags", []) for c in cells) == 1
    tree = ast.parse(first.source)
    names = [t.id for node in tree.body for t in node.targets]
    assert all(isinstance(node, ast.Assign) for node in tree.body)
    assert sorted(names) == sorted(PARAMETERS)  # exactly what run_report injects
    defaults = {t.id: ast.literal_eval(node.value) for node in tree.body for t in node.targets}
    # the default runs the default scenario from the notebooks folder (as JupyterLab starts there)
    cfg = config.load(NOTEBOOKS / defaults["params"])
    assert cfg.scenario == "retail" and defaults["run_date"] is None


def test_logic_check_catches_what_it_should():
    assert logic_in("def f():\n    pass") == ["FunctionDef"]
    assert logic_in("[x for x in y]") == ["ListComp"]
    assert logic_in("for i in x:\n    print(i)") == ["For"]
    assert logic_in("%matplotlib inline\nx = clvkit.plots.ledger(t)") == []
