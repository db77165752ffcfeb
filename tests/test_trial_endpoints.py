"""Trial endpoints at their exact boundaries, on hand-made scores.

Guards: a responder is a reduction of *at least* the response percentage (30 % in Feder
2021: exactly 30 % responds, 29.9 % does not); remission is a score *at or below* the cut-off
(CAPS-5 11: exactly 11 remits); the loss of response is the first later assessment *below*
the response percentage (exactly 30 % still responds); missing assessments are left out, not
counted as failures; a zero baseline has no defined reduction.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from handmade import arm_data, trial_result  # tests/handmade.py
from ketamine_ptsd.trial import (
    builtin_spec,
    change_from_baseline,
    cohen_d,
    days_to_loss_of_response,
    loss_of_response,
    mean_score,
    reduction,
    remission_rate,
    responder_rate,
)

nan = math.nan


def feder2021(ket_week2, mid_week2, ket_base=None, loss_day=None, lost=None):
    """Feder 2021 visits (days 0, 1, 7, 14): CAPS-5 at baseline (40 unless given) and week 2."""
    spec = builtin_spec("feder2021")

    def arm(week2, base, **kw):
        base = base or [40] * len(week2)
        return arm_data(spec, {"caps5_total": [[b, b, b, w] for b, w in zip(base, week2)]}, **kw)

    return trial_result(spec, {"ketamine": arm(ket_week2, ket_base, loss_day=loss_day, lost=lost),
                               "midazolam": arm(mid_week2, None)})


def test_a_reduction_of_exactly_30_percent_is_a_response():
    # 40 -> 28 is exactly 30 %; 40 -> 28.04 is 29.9 %; 40 -> 27.96 is 30.1 %.
    r = feder2021([28, 28.04, 27.96, 40], [40, 40, 40, 40])
    assert responder_rate(r, "ketamine") == 0.5
    assert responder_rate(r, "midazolam") == 0.0
    # The percentage is the spec's: at 30.1 % only one of them responds.
    assert responder_rate(r, "ketamine", percent_reduction=30.1) == 0.25


def test_responder_rate_leaves_out_patients_not_assessed():
    r = feder2021([28, nan, 40, 40], [40, 40, 40, 40])
    assert responder_rate(r, "ketamine") == pytest.approx(1 / 3)
    nobody = feder2021([nan, nan], [40, 40])
    assert math.isnan(responder_rate(nobody, "ketamine"))


def test_remission_at_exactly_the_cut_off():
    # Feder 2021 remission: CAPS-5 at or below 11 (Mitchell 2021).
    r = feder2021([11, 11.01, 10.99, nan], [12, 40, 40, 40])
    assert remission_rate(r, "ketamine") == pytest.approx(2 / 3)   # 11 and 10.99; the missing one left out
    assert remission_rate(r, "midazolam") == 0.0


def test_loss_of_response_at_exactly_30_percent_is_not_a_loss():
    days = np.array([0.0, 14.0, 21.0, 28.0])
    red = np.array([[0, 0.5, 0.3, 0.3],        # exactly 30 % at both follow-ups: still responding
                    [0, 0.5, 0.2999, 0.5],     # just below at day 21: lost 7 days after day 14
                    [0, 0.5, 0.5, 0.1]])       # lost at day 28: 14 days
    loss, lost = days_to_loss_of_response(red, days, 14.0, 30.0)
    np.testing.assert_array_equal(lost, [False, True, True])
    np.testing.assert_array_equal(loss, [14, 7, 14])
    # No assessment after the response day: nobody is lost, nothing is followed.
    loss, lost = days_to_loss_of_response(red[:, :2], days[:2], 14.0, 30.0)
    np.testing.assert_array_equal(loss, [0, 0, 0])
    assert not lost.any()
    # ... and "lost" is still a yes/no mask that selects patients (as the Kaplan-Meier input
    # and the arm data use it), not numbers.
    assert lost.dtype == bool and loss[lost].size == 0


def test_kaplan_meier_counts_only_responders_at_the_boundary():
    # Patients 0-2 respond (50 %, exactly 30 %, 30 %); patient 3 (29.9 %) does not, so
    # his early loss on day 1 must not enter the estimate.
    r = feder2021([20, 28, 28, 28.04], [40, 40, 40, 40], loss_day=[7, 21, 35, 1], lost=[True, True, False, True])
    km = loss_of_response(r, "ketamine")
    assert km.n == 3
    # S(7) = 2/3, S(21) = 1/3 (35 is censored): the median is 21.
    assert km.median == 21.0
    np.testing.assert_allclose(km.times, [7, 21])      # event times only
    np.testing.assert_allclose(km.survival, [2 / 3, 1 / 3])
    none = loss_of_response(r, "midazolam")
    assert none.n == 0 and math.isnan(none.median) and none.times.size == 0


def test_reduction_and_change_from_baseline():
    np.testing.assert_allclose(reduction(np.array([40.0, 20.0]), np.array([30.0, 25.0])), [0.25, -0.25])
    zero = reduction(np.array([0.0, 10.0]), np.array([0.0, nan]))
    assert np.isnan(zero).all()     # a zero baseline has no reduction; a missing score neither
    r = feder2021([28, 20, nan, 50], [40, 40, 40, 40], ket_base=[40, 30, 40, 40])
    np.testing.assert_array_equal(change_from_baseline(r, "ketamine", "caps5_total", 14), [-12, -10, nan, 10])
    assert mean_score(r, "ketamine", "caps5_total", 14) == pytest.approx((28 + 20 + 50) / 3)
    assert mean_score(r, "ketamine", "caps5_total", 0) == pytest.approx((40 + 30 + 40 + 40) / 4)


def test_cohen_d_by_hand():
    a, b = np.array([1.0, 2.0, 3.0, nan]), np.array([2.0, 4.0, 6.0])
    # Means 2 and 4; variances 1 and 4, pooled sqrt((2*1 + 2*4) / 4) = sqrt(2.5).
    assert cohen_d(a, b) == pytest.approx((2 - 4) / math.sqrt(2.5))
    assert math.isnan(cohen_d(np.array([1.0]), b))
    assert math.isnan(cohen_d(np.array([1.0, 1.0]), np.array([1.0, 1.0])))


def test_edges_found_by_mutation_testing():
    """A zero or unit baseline, an assessment on the response day itself, explicit instrument
    and day, no responders, the smallest arms and spreads Cohen's d is defined for."""
    red = reduction(np.array([0.0, 1.0]), np.array([5.0, 0.0]))
    assert math.isnan(red[0]) and red[1] == 1.0
    # A reduction below 30 % on the response day itself is not a loss after it.
    loss, lost = days_to_loss_of_response(np.array([[0, 0.1, 0.5]]), np.array([0.0, 14.0, 21.0]), 14.0, 30.0)
    assert lost.tolist() == [False] and loss.tolist() == [7.0]
    # responder_rate with an explicit instrument and day (not the [response] defaults).
    spec = builtin_spec("feder2021")
    arm = arm_data(spec, {"caps5_total": [[40, 20, 40, 40], [40, 40, 40, 40]],
                          "madrs": [[30, 30, 10, 30], [30, 30, 30, 30]]})
    r = trial_result(spec, {"ketamine": arm, "midazolam": arm})
    assert responder_rate(r, "ketamine", day=1) == 0.5                      # CAPS-5 on day 1
    assert responder_rate(r, "ketamine") == 0.0                             # CAPS-5 on day 14
    assert responder_rate(r, "ketamine", instrument="madrs", day=7) == 0.5
    km = loss_of_response(r, "ketamine")
    assert km.n == 0 and km.survival.size == 0 and km.times.size == 0
    assert cohen_d(np.array([1.0, 1.2]), np.array([1.1, 1.3])) == pytest.approx(-0.1 / math.sqrt(0.02))
    assert cohen_d(np.array([1.0, 3.0]), np.array([2.0, 4.0])) == pytest.approx(-1 / math.sqrt(2))
    assert math.isnan(cohen_d(np.array([1.0, 1.0]), np.array([2.0, 2.0])))  # no spread: undefined
