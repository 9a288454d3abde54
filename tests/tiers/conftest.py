"""Hand-made scored customers for the tiers tests (values chosen so results can be worked out)."""
import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def scored():
    """Ten buyers C01..C10 with clv 10, 20, ..., 100; recency/T in weeks."""
    ids = pd.Index([f"C{i:02d}" for i in range(1, 11)], name="customer_id")
    frame = pd.DataFrame({
        "frequency": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        "recency": [0.0, 5, 10, 15, 20, 25, 30, 35, 40, 45],
        "T": [50.0] * 10,
        "monetary_value": [0.0, 10, 20, 30, 40, 50, 60, 70, 80, 90],
        "p_alive": np.linspace(0.05, 0.95, 10),
        "expected_purchases": np.arange(1.0, 11.0),
        "clv": np.arange(10.0, 101.0, 10.0),
    }, index=ids)
    frame["clv_at_risk"] = frame["clv"] * (1 - frame["p_alive"])
    frame.attrs["time_unit"] = "W"
    return frame

