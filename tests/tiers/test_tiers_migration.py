import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clvkit.errors import DataError
from clvkit.tiers import tier_migration

ORDER = ["VIP", "regular", "potential"]


def test_hand_example():
    prev = pd.DataFrame({"customer_id": ["a", "b", "c", "d"],
                         "tier": ["VIP", "regular", "potential", "regular"],
                         "clv": [100.0, 50, 10, 40]})
    cur = pd.DataFrame({"customer_id": ["a", "b", "c", "e"],
                        "tier": ["regular", "VIP", "potential", "potential"],
                        "clv": [60.0, 120, 12, 5]})
    m = tier_migration(prev, cur, order=ORDER)
    assert m.summary.to_dict() == {"stayed": 1, "upgraded": 1, "downgraded": 1, "new": 1,
                                   "vanished": 1}
    assert m.counts.loc["VIP", "regular"] == 1 and m.counts.loc["regular", "VIP"] == 1
    assert m.counts.loc["(new)", "potential"] == 1 and m.counts.loc["regular", "(vanished)"] == 1
    assert m.clv.loc["regular", "(vanished)"] == 40.0   # previous CLV for the vanished
    assert m.clv.loc["regular", "VIP"] == 120.0         # current CLV otherwise
    assert m.counts.to_numpy().sum() == 5


@settings(max_examples=50, deadline=None)
@given(n_prev=st.integers(0, 60), n_cur=st.integers(0, 60), offset=st.integers(0, 60),
       seed=st.integers(0, 5))
def test_matrix_sums_to_customers_in_either_run(n_prev, n_cur, offset, seed):
    rng = np.random.default_rng(seed)
    prev = pd.DataFrame({"tier": rng.choice(ORDER, n_prev), "clv": rng.uniform(0, 9, n_prev)},
                        index=[f"C{i}" for i in range(n_prev)])
    cur = pd.DataFrame({"tier": rng.choice(ORDER, n_cur), "clv": rng.uniform(0, 9, n_cur)},
                       index=[f"C{i + offset}" for i in range(n_cur)])
    m = tier_migration(prev, cur, order=ORDER)
    both = prev.index.intersection(cur.index)
    assert m.counts.to_numpy().sum() == len(prev.index.union(cur.index))
    assert m.counts.loc[ORDER, ORDER].to_numpy().sum() == len(both)
    assert m.counts.drop(columns="(vanished)").sum().sum() == n_cur
    assert m.counts.drop(index="(new)").sum().sum() == n_prev
    assert m.summary.sum() == len(m.moves)
    assert m.clv.drop(columns="(vanished)").to_numpy().sum() == pytest.approx(cur["clv"].sum())


def test_duplicate_customers_are_an_error():
    prev = pd.DataFrame({"customer_id": ["a", "a"], "tier": ["VIP", "VIP"], "clv": [1.0, 2.0]})
    with pytest.raises(DataError, match=r"previous assignments list 1 customers twice"):
        tier_migration(prev, prev.iloc[:1])
