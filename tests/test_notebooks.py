"""The report notebooks as shipped: logic-free, stripped, with parameters run_report accepts.

(They are executed end to end through run_report in tests/test_browser.py and test_result.py.)
"""
from __future__ import annotations

import ast

import nbformat
import pytest

from clvkit import config
from clvkit.notebook import default_params, notebooks_dir
from clvkit.report import PARAMETERS, select_notebooks

NOTEBOOKS = notebooks_dir()
EXPECTED = ["01_data_quality", "02_customer_value", "03_tiers", "04_satisfaction_retention",
            "05_case_study"]
#: Control flow, definitions and comprehensions: logic that belongs in clvkit, where tests reach it.
LOGIC = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.For, ast.AsyncFor,
         ast.While, ast.If, ast.IfExp, ast.Try, ast.With, ast.Match, ast.ListComp, ast.SetComp,
         ast.DictComp, ast.GeneratorExp, ast.BoolOp)
#: Calls that compute rather than present: fitting, scoring, running the pipeline, loading data.
COMPUTE = {"fit", "score", "run", "score_customers", "score_scenario", "load_data", "analyse",
           "evaluate_programme", "rfm_summary", "calibration_holdout", "compare_models",
           "tracking_table", "frequency_recency_matrix", "cohort_matrix", "churn_by_tier",
           "time_to_next_purchase", "assign_tiers", "cached_run", "execute_notebook"}


def notebooks():
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def code_cells(path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def _tree(source: str) -> ast.AST:
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    return ast.parse("\n".join(lines))


def logic_in(source: str) -> list[str]:
    """The logic constructs and computing calls in a cell (IPython magics and shell lines are
    skipped): ``["If", "call fit"]``."""
    found = []
    for node in ast.walk(_tree(source)):
        if isinstance(node, LOGIC):
            found.append(type(node).__name__)
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
            if name in COMPUTE:
                found.append(f"call {name}")
    return found


def test_the_five_report_notebooks_ship_with_the_package_in_order():
    assert NOTEBOOKS.parent.name == "clvkit"  # package data, found through importlib.resources
    assert [p.stem for p in notebooks()] == EXPECTED
    assert [p.stem for p in select_notebooks(NOTEBOOKS)] == EXPECTED


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem)
def test_notebook_code_cells_hold_no_logic_and_compute_nothing(path):
    found = {i: logic_in(c.source) for i, c in enumerate(code_cells(path))}
    assert not {i: f for i, f in found.items() if f}, f"move this into clvkit: {found}"


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem)
def test_setup_is_one_call_reading_the_result(path):
    setup = code_cells(path)[1]
    calls = [n for n in ast.walk(_tree(setup.source)) if isinstance(n, ast.Call)
             and getattr(n.func, "id", getattr(n.func, "attr", None)) == "setup"]
    assert len(calls) == 1
    assert "res = setup(params, run_date=run_date, result_dir=result_dir)" in setup.source


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem)
def test_notebook_ends_with_explore_further_naming_result_tables(path):
    last = nbformat.read(path, as_version=4).cells[-1]
    assert last.cell_type == "markdown" and last.source.startswith("## Explore further")
    assert last.source.count("`res.") >= 3


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem)
def test_notebook_is_stored_stripped(path):
    for cell in code_cells(path):
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem)
def test_parameters_cell_is_first_says_what_to_change_and_is_accepted_by_run_report(path):
    cells = code_cells(path)
    first = cells[0]
    assert "parameters" in first.metadata.get("tags", [])
    assert sum("parameters" in c.metadata.get("tags", []) for c in cells) == 1
    assert first.source.startswith("# What to change:")
    tree = ast.parse(first.source)
    names = [t.id for node in tree.body for t in node.targets]
    assert all(isinstance(node, ast.Assign) for node in tree.body)
    assert sorted(names) == sorted(PARAMETERS)  # exactly what run_report injects
    defaults = {t.id: ast.literal_eval(node.value) for node in tree.body for t in node.targets}
    # None: the bundled default scenario, which resolves wherever the notebook runs
    assert defaults == {"params": None, "run_date": None, "result_dir": None}
    assert config.load(default_params()).scenario == "retail"


def test_logic_check_catches_what_it_should():
    assert logic_in("def f():\n    pass") == ["FunctionDef"]
    assert logic_in("[x for x in y]") == ["ListComp"]
    assert logic_in("for i in x:\n    print(i)") == ["For"]
    assert logic_in("if a:\n    b()") == ["If"]
    assert logic_in("x = 1 if a else 2") == ["IfExp"]
    assert logic_in("try:\n    a()\nexcept Exception:\n    pass") == ["Try"]
    assert logic_in("while a:\n    b()") == ["While"]
    assert logic_in("m = BetaGeo().fit(summary)") == ["call fit"]
    assert logic_in("r = pipeline.score(cfg, data)") == ["call score"]
    assert logic_in("r = pipeline.run(cfg)") == ["call run"]
    assert logic_in("%matplotlib inline\nx = clvkit.plots.ledger(t)") == []
