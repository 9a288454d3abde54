"""Shared fixtures for the model tests: the published CDNOW summaries."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvkit.datasets.cdnow import lifetimes_data_path


@pytest.fixture(scope="session")
def cdnow_summary() -> pd.DataFrame:
    """FHL (2005)'s CDNOW calibration summary (2,357 customers, 39 weeks), as published."""
    s = pd.read_csv(lifetimes_data_path("cdnow_customers_summary.csv"), index_col="ID")
    s.index.name = "customer_id"
    s.attrs["time_unit"] = "W"
    return s


@pytest.fixture(scope="session")
def cdnow_spend() -> pd.DataFrame:
    """The same customers with mean repeat spend ``monetary_value`` (zbar, 0 for one-time buyers)."""
    s = pd.read_csv(lifetimes_data_path("cdnow_customers_summary_with_transactions.csv"),
                    index_col="ID")
    s = s.rename(columns={"x": "frequency", "t_x": "recency", "zbar": "monetary_value"})
    s.index.name = "customer_id"
    s.attrs["time_unit"] = "W"
    return s
