"""sBG: Fader and Hardie (2007) estimates, DERL against its defining sum, analytic gradient,
recovery on simulated cohorts, input validation."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvkit.errors import DataError
from clvkit.models import sbg
from clvkit.models.sbg import ShiftedBetaGeo

# Fader and Hardie (2007), "How to project customer retention", 1,000 customers each
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]


@pytest.mark.parametrize("counts,expected", [(HIGH_END, (0.668, 3.806)), (REGULAR, (0.704, 1.182))])
def test_sbg_params_match_fader_hardie_2007(counts, expected):
    model = ShiftedBetaGeo().fit(counts)
    np.testing.assert_allclose(model.params_.to_numpy(), expected, atol=6e-4)
    assert model.n_customers_ == 1000 and model.converged_


def test_sbg_two_cohorts_in_one_frame_equal_the_sum_of_their_likelihoods():
    frame = pd.concat([
        pd.DataFrame({"cohort": "high", "period": range(8), "active": HIGH_END}),
        pd.DataFrame({"cohort": "reg", "period": range(5), "active": REGULAR[:5]})])
    model = ShiftedBetaGeo().fit(frame)
    p = model.params_.to_numpy()
    lost_h, lost_r = -np.diff(HIGH_END), -np.diff(REGULAR[:5])
    by_hand = (lost_h @ np.log(sbg.churn_probability(p, np.arange(1, 8)))
               + HIGH_END[-1] * np.log(sbg.survival(p, 7))
               + lost_r @ np.log(sbg.churn_probability(p, np.arange(1, 5)))
               + REGULAR[4] * np.log(sbg.survival(p, 4)))
    assert model.log_likelihood_ == pytest.approx(by_hand, rel=1e-12)


def test_sbg_survival_retention_and_churn_are_consistent():
    model = ShiftedBetaGeo().fit(HIGH_END)
    t = np.arange(1, 30)
    S = model.survival(np.r_[0, t])
    assert S[0] == 1.0
    np.testing.assert_allclose(model.retention_rate(t), S[1:] / S[:-1], rtol=1e-12)
    np.testing.assert_allclose(model.churn_probability(t), S[:-1] - S[1:], rtol=1e-10)


@pytest.mark.parametrize("renewals", [0, 1, 4, 10])
@pytest.mark.parametrize("d", [0.1, 0.02])
def test_sbg_derl_equals_its_defining_discounted_sum(renewals, d):
    model = ShiftedBetaGeo().fit(REGULAR)
    p = model.params_.to_numpy()
    k = np.arange(0, 20_000)
    # expected payments after `renewals` renewals: P(T > n+1+k | T > n) discounted k periods
    direct = np.sum(sbg.survival(p, renewals + 1 + k) / sbg.survival(p, renewals)
                    * np.exp(-k * np.log1p(d)))
    assert model.derl(d, renewals) == pytest.approx(direct, rel=1e-8)


def test_sbg_gradient_matches_central_differences():
    t = np.array([1, 2, 3, 7, 7, 40.0])
    censored = np.array([0, 0, 0, 0, 1, 1], bool)
    params = np.array([0.7, 1.2])
    _, g = sbg.loglik(params, t, censored, grad=True)
    for i in range(2):
        up, dn = np.log(params), np.log(params)
        up[i] += 1e-6
        dn[i] -= 1e-6
        fd = (sbg.loglik(np.exp(up), t, censored) - sbg.loglik(np.exp(dn), t, censored)) / 2e-6
        np.testing.assert_allclose(g[:, i], fd, rtol=1e-6, atol=1e-8)


def test_sbg_recovers_simulated_params_within_2_se():
    alpha, beta = 0.9, 2.5
    rng = np.random.default_rng(3)
    frames = []
    for c, (size, periods) in enumerate([(20_000, 10), (20_000, 6), (10_000, 3)]):
        theta = rng.beta(alpha, beta, size)
        lifetime = rng.geometric(theta)                       # churns at the end of period T
        active = [(lifetime > t).sum() for t in range(periods + 1)]
        frames.append(pd.DataFrame({"cohort": c, "period": range(periods + 1), "active": active}))
    model = ShiftedBetaGeo().fit(pd.concat(frames, ignore_index=True))
    z = (model.params_.to_numpy() - [alpha, beta]) / model.se_.to_numpy()
    assert np.all(np.abs(z) < 2), z


@pytest.mark.parametrize("data,match", [
    ([1000], "at least 2 counts"),
    (pd.DataFrame({"cohort": 0, "period": [0, 1], "users": [10, 9]}), "missing column.*active"),
    (pd.DataFrame({"cohort": 0, "period": [0, 1, 2], "active": [10, 9, 9.5]}),
     "active.*not whole numbers"),
    (pd.DataFrame({"cohort": 0, "period": [1, 2], "active": [10, 9]}), "they must run 0, 1, 2"),
    (pd.DataFrame({"cohort": 0, "period": [0, 1, 3], "active": [10, 9, 8]}), "without gaps"),
    (pd.DataFrame({"cohort": "a", "period": [0, 1, 2], "active": [10, 9, 12]}),
     "cohort 'a': active customers increase after period 1"),
])
def test_sbg_bad_input_names_the_rule(data, match):
    with pytest.raises(DataError, match=match):
        ShiftedBetaGeo().fit(data)


def test_sbg_prediction_inputs_are_checked():
    model = ShiftedBetaGeo().fit(HIGH_END)
    with pytest.raises(DataError, match="periods must be whole numbers >= 1"):
        model.retention_rate(0)
    with pytest.raises(DataError, match="discount_rate must be > 0"):
        model.derl(0.0)
