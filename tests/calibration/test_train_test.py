"""Calibration with a train/test discipline: the held-out targets stay out of the objective,
each calibrated quantity gets an uncertainty from the Jacobian, and relapse in the
durability scenarios is confirmed at two visits."""

import math

import numpy as np
import pytest

from ketamine_ptsd.calibration.fit import CALIBRATED, training_bands, uncertainty
from ketamine_ptsd.calibration.generalisation import confirmed_relapse
from ketamine_ptsd.calibration.validation import TEST, TRAIN, fitted_targets, load_targets, target_roles


def test_every_target_states_its_role_and_some_are_held_out():
    roles = target_roles()
    assert set(roles) == {t["id"] for t in load_targets()}
    held = {t for t, r in roles.items() if r == TEST and not t.startswith(("pk.", "pd."))}
    assert "clinical.phillips2019_repeated" in held
    assert len(held) >= 3
    assert all(r in (TRAIN, TEST) for r in roles.values())


def test_calibrate_never_fits_a_held_out_target():
    roles = target_roles()
    fitted = {b.target for b in training_bands()}
    assert fitted and all(roles[t] == TRAIN for t in fitted)
    assert "clinical.phillips2019_repeated" not in fitted
    # A held-out target nobody tuned by hand is a prediction in the validation report.
    assert "clinical.phillips2019_repeated" not in fitted_targets()


def test_uncertainty_is_the_least_squares_covariance():
    # Straight line through noisy points: the covariance of numpy's own polyfit.
    rng = np.random.default_rng(3)
    t = np.linspace(0.0, 1.0, 30)
    y = 2.0 * t + 1.0 + rng.normal(0.0, 0.1, t.size)
    coef, cov = np.polyfit(t, y, 1, cov="unscaled")
    res = y - np.polyval(coef, t)
    s2 = res @ res / (t.size - 2)
    jac = -np.column_stack([t, np.ones_like(t)])  # residual = y - (a t + b)
    items = CALIBRATED[:2]
    u = uncertainty(jac, res, [f"q{i}" for i in range(t.size)], np.log(coef), items)
    for j, c in enumerate(items):
        assert u[c.label]["log_sd"] == pytest.approx(math.sqrt(s2 * cov[j, j]), rel=1e-9)
        assert u[c.label]["value"] == pytest.approx(coef[j])
    # The slope is identified most by the points far from the origin.
    assert u[items[0].label]["identified_by"][0] == f"q{t.size - 1}"


def test_a_quantity_no_residual_moves_is_not_identified():
    jac = np.array([[1.0, 0.0], [0.5, 0.0], [0.2, 0.0]])
    u = uncertainty(jac, np.array([0.1, -0.2, 0.05]), ["a", "b", "c"], np.zeros(2), CALIBRATED[:2])
    second = u[CALIBRATED[1].label]
    assert math.isinf(second["log_sd"]) and second["identified_by"] == []
    assert math.isfinite(u[CALIBRATED[0].label]["log_sd"])


def test_relapse_needs_two_consecutive_visits_below_the_threshold():
    days = np.array([12.0, 18.0, 25.0, 32.0, 39.0])
    reduction = np.array([
        [0.6, 0.45, 0.6, 0.6, 0.6],   # one dip: not a relapse
        [0.6, 0.6, 0.4, 0.3, 0.6],    # two in a row from day 25
        [0.4, 0.3, 0.3, 0.3, 0.3],    # not a responder
    ])
    responded = reduction[:, 0] >= 0.5
    got = confirmed_relapse(reduction, days, 12.0, responded)
    assert math.isinf(got[0]) and got[1] == 13.0 and got.size == 2
