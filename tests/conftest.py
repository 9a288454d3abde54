"""Fixtures shared by the test modules: one local Spark session for every Spark test."""
from __future__ import annotations

import os
import shutil

import pytest


def require_java():
    """Skip without Java, unless CI said Spark tests must run (then fail: CI installs Java)."""
    if shutil.which("java") is None:
        if os.environ.get("CLVKIT_REQUIRE_SPARK"):
            pytest.fail("java is missing but CLVKIT_REQUIRE_SPARK is set (CI must run Spark tests)")
        pytest.skip("no java on this machine (CI installs it and sets CLVKIT_REQUIRE_SPARK)")


@pytest.fixture(scope="session")
def java():
    """Java for Spark (see :func:`require_java`)."""
    require_java()


@pytest.fixture(scope="session")
def spark():
    """clvkit's Spark session (``local[2]``), started once for the whole test run."""
    require_java()
    if not os.environ.get("CLVKIT_REQUIRE_SPARK"):
        pytest.importorskip("pyspark")
    from clvkit.rfm_spark import get_session

    session = get_session()
    yield session
    session.stop()
