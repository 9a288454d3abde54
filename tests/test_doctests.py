"""Every docstring example in ``src/clvkit`` runs and shows what it says (CI runs this file).

The examples are collected from each module of the package with :mod:`doctest`, so a module
added later is covered without editing this file.
"""
from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import clvkit

NEEDS_SPARK = {"clvkit.spark"}


def _modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(clvkit.__path__, "clvkit."))


def test_the_package_has_examples_to_run():
    found = 0
    for name in _modules():
        if name in NEEDS_SPARK:
            continue
        found += sum(len(t.examples) for t in doctest.DocTestFinder().find(importlib.import_module(name)))
    assert found >= 8


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.spark) if n in NEEDS_SPARK
                                  else n for n in _modules()])
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             verbose=False, report=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} fail " \
                               "(run: python -m doctest -v on the module to see them)"
