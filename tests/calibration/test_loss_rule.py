"""The personal forecast's loss-of-response rule on hand-made courses: the threshold is met
*at* the rule's value (5 points, or exactly the percentage), the loss is the first time after
the largest improvement since the last dose; the forecast's loss day, band and maintenance day
are read from the probability of being in response on each day, only when a response is more
likely than not."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ketamine_ptsd.calibration.individual import ResponseSamples, _loss_summary, loss_rule, loss_times
from ketamine_ptsd.calibration.response import first_day_below
from ketamine_ptsd.errors import InputError

TIMES = np.arange(0.0, 8.0)


def test_an_improvement_of_exactly_the_threshold_counts():
    baseline = np.array([40.0, 40.0, 40.0])
    score = np.array([
        [40, 35, 35, 36, 40, 40, 40, 40],        # exactly 5 points better at t=1-2, lost at t=3
        [40, 35.01, 36, 40, 40, 40, 40, 40],     # 4.99 points at best: no response
        [40, 30, 32, 34, 35, 35, 35, 35],        # back to exactly 5 points better: still responding
    ])
    lost = loss_times(score, baseline, TIMES, after_h=0.0, rule={"absolute_reduction": 5})
    assert lost[0] == 3.0
    assert math.isnan(lost[1])
    assert math.isinf(lost[2])


def test_percent_threshold_is_relative_to_each_baseline():
    baseline = np.array([40.0, 20.0])
    score = np.array([[40, 28, 28, 29, 40, 40, 40, 40],      # 30 % at t=1-2, 27.5 % at t=3
                      [20, 14, 14, 14, 14, 15, 20, 20]])     # 30 % until t=4, 25 % at t=5
    lost = loss_times(score, baseline, TIMES, after_h=0.0, rule={"percent_reduction": 30})
    np.testing.assert_array_equal(lost, [3.0, 5.0])


def test_the_peak_is_searched_from_the_last_dose_on():
    baseline = np.array([40.0])
    # The best improvement (t=1) is before the last dose at t=3; after it the improvement
    # peaks at t=4 (8 points) and falls below 5 points at t=6.
    score = np.array([[40, 20, 38, 36, 32, 34, 36, 40]])
    assert loss_times(score, baseline, TIMES, after_h=3.0, rule={"absolute_reduction": 5})[0] == 6.0
    # From t=0 the peak is at t=1, and the loss the first time after it below 5 points: t=2.
    assert loss_times(score, baseline, TIMES, after_h=0.0, rule={"absolute_reduction": 5})[0] == 2.0


def test_loss_rule_choices_and_refusals():
    assert loss_rule({"instrument": "madrs"})["percent_reduction"] == 50
    assert loss_rule({"instrument": "caps5"})["percent_reduction"] == 30
    given = loss_rule({"percent_reduction": 40, "maintenance_quantile": 0.3})
    assert given["percent_reduction"] == 40 and given["maintenance_quantile"] == 0.3
    assert given["source"] == "given by the caller" and "absolute_reduction" not in given
    assert loss_rule({"absolute_reduction": 8})["absolute_reduction"] == 8
    assert loss_rule(None)["maintenance_quantile"] == 0.2       # individual.toml [maintenance]
    for bad, field in (({"colour": 1}, "threshold.colour"), ({"instrument": "phq9x"}, "threshold.instrument"),
                       ({"absolute_reduction": 5, "percent_reduction": 30}, "threshold"),
                       ({"percent_reduction": 0}, "threshold.percent_reduction"),
                       ({"percent_reduction": 101}, "threshold.percent_reduction"),
                       ({"absolute_reduction": 81}, "threshold.absolute_reduction"),
                       ({"absolute_reduction": "x"}, "threshold.absolute_reduction"),
                       ({"maintenance_quantile": 0.6}, "threshold.maintenance_quantile")):
        with pytest.raises(InputError) as err:
            loss_rule(bad)
        assert err.value.field == field, bad
    # Edges of the allowed ranges are accepted.
    assert loss_rule({"percent_reduction": 100})["percent_reduction"] == 100
    assert loss_rule({"absolute_reduction": 80})["absolute_reduction"] == 80
    assert loss_rule({"maintenance_quantile": 0.5})["maintenance_quantile"] == 0.5


RULE = {"instrument": "pcl5", "absolute_reduction": 5.0, "maintenance_quantile": 0.2}


def samples(in_response: np.ndarray, weights, start_day: int = 0, cap: float = 1.0) -> ResponseSamples:
    """Hand-made draws (rows) on days 0, 1, ... (columns): a baseline of 40 and a score of 30
    (improved by 10, more than the 5 points needed) where ``in_response`` is true, else 40."""
    in_response = np.asarray(in_response, dtype=bool)
    n, d = in_response.shape
    return ResponseSamples(np.arange(d), np.asarray(weights, dtype=float), np.where(in_response, 30.0, 40.0),
                           np.full(n, 40.0), np.full(n, 5.0), start_day, cap)


def lost_on(days_lost, n_days: int = 30) -> np.ndarray:
    """Draws in response from day 0 until (not including) their day of loss."""
    return np.arange(n_days)[None, :] < np.asarray(days_lost)[:, None]


def test_the_loss_day_band_and_maintenance_day_follow_the_probability_curve():
    # Ten equally weighted draws lost on days 10..19: the probability of being in response is
    # 1 up to day 9, 0.9 on day 10, 0.8 on day 11, ... 0.5 on day 14, 0.4 on day 15, 0.1 on
    # day 18, 0 on day 19. Loss (below 0.5): day 15; band (below 0.9, below 0.1): days 11 and
    # 19; maintenance (last day at least 0.8 = 1 - 0.2, i.e. the day before it falls below):
    # day 11.
    out = _loss_summary(samples(lost_on(np.arange(10, 20)), np.full(10, 0.1)), RULE, 60)
    assert out["loss_of_response_day"] == 15
    assert out["loss_of_response_band"] == (11, 19)
    assert out["recommended_maintenance_day"] == 11
    assert out["probability_of_response"] == 1.0 and out["loss_status"] == "lost"
    assert "below 5 points" in out["maintenance_rule"] and "80%" in out["maintenance_rule"]


def test_no_maintenance_day_when_a_response_is_unlikely():
    # Half the weight on draws that never respond: exactly 0.5 still counts as a response.
    never_and_lost = lost_on([0, 0, 10, 11])
    half = _loss_summary(samples(never_and_lost, np.full(4, 0.25)), RULE, 60)
    assert half["probability_of_response"] == 0.5 and half["loss_of_response_day"] == 10
    less = _loss_summary(samples(never_and_lost, [0.3, 0.3, 0.2, 0.2]), RULE, 60)
    assert less["probability_of_response"] == 0.4
    assert less["recommended_maintenance_day"] is None and less["loss_of_response_day"] is None
    assert less["loss_status"] == "no response expected"


def test_not_lost_within_the_horizon():
    # Three of four draws stay in response to the last day: the probability never falls below 0.5.
    out = _loss_summary(samples(lost_on([30, 30, 30, 10]), np.full(4, 0.25)),
                        {**RULE, "maintenance_quantile": 0.3}, 42)
    assert out["loss_status"] == "not lost within 42 days"
    assert out["loss_of_response_day"] is None
    # 0.75 from day 10 on never falls below 1 - 0.3 = 0.7: no maintenance day either.
    assert out["recommended_maintenance_day"] is None
    booked = _loss_summary(samples(lost_on([30, 30, 30, 10]), np.full(4, 0.25)), RULE, 42)
    assert booked["recommended_maintenance_day"] == 9      # 0.75 < 0.8 from day 10
    percent = _loss_summary(samples(lost_on([30, 30, 30, 10]), np.full(4, 0.25)),
                            {"instrument": "caps5", "percent_reduction": 30, "maintenance_quantile": 0.2}, 42)
    assert "reduction from baseline below 30 %" in percent["maintenance_rule"]


def test_the_curve_is_capped_and_read_from_the_start_day():
    # The cap (baseline-only forecasts) bounds every probability reported.
    capped = _loss_summary(samples(lost_on([30, 30]), [0.5, 0.5], cap=0.95), RULE, 60)
    assert capped["probability_of_response"] == 0.95
    # Before the start day (the last dose) nothing counts: a response only on days 0-4 is
    # not a response when the last dose ends on day 5.
    early = _loss_summary(samples(lost_on([5, 5]), [0.5, 0.5], start_day=5), RULE, 60)
    assert early["probability_of_response"] == 0.0 and early["loss_status"] == "no response expected"


def test_edges_of_the_rule_and_the_weights():
    """Found by mutation testing: the smallest thresholds allowed, a percentage just short of
    the rule, a peak exactly at the end of the last dose, weighted quantiles, the summary's
    keys and words."""
    assert loss_rule({"absolute_reduction": 0.5})["absolute_reduction"] == 0.5
    assert loss_rule({"percent_reduction": 1})["percent_reduction"] == 1
    for bad in ({"absolute_reduction": 0.4}, {"percent_reduction": 0.9}):
        with pytest.raises(InputError):
            loss_rule(bad)
    # 40 -> 28.05 is a 29.875 % reduction: short of 30 %, so no response at all.
    short = loss_times(np.array([[40, 28.05, 28.05, 40, 40, 40, 40, 40]]), np.array([40.0]), TIMES, 0.0,
                       {"percent_reduction": 30})
    assert math.isnan(short[0])
    # The largest improvement exactly at the end of the last dose (t=2) counts.
    at_end = np.array([[40, 40, 20, 40, 40, 40, 40, 40]])
    assert loss_times(at_end, np.array([40.0]), TIMES, after_h=2.0, rule={"absolute_reduction": 5})[0] == 3.0
    # Weights: three quarters of the weight on the draw lost on day 20 keep the probability at
    # 0.75 from day 10 to day 19, so the median course is lost on day 20, not day 10.
    weighted = _loss_summary(samples(lost_on([10, 20]), [0.25, 0.75]), RULE, 60)
    assert weighted["loss_of_response_day"] == 20 and weighted["recommended_maintenance_day"] == 9
    third = _loss_summary(samples(lost_on([0, 0, 10]), np.full(3, 1 / 3)), RULE, 60)
    assert third["probability_of_response"] == 0.333
    assert set(third) == {"loss_of_response_day", "loss_of_response_band", "recommended_maintenance_day",
                          "probability_of_response", "loss_status", "maintenance_rule"}
    assert third["loss_of_response_band"] is None
    assert weighted["maintenance_rule"] == (
        "loss of response: improvement of PCL-5 from baseline below 5 points; the day of loss is the first day "
        "after the most probable day of response on which the probability of being in response is below 50 %; "
        "book maintenance by the last day on which it is at least 80%")


def test_the_peak_of_the_probability_is_searched_on_and_after_the_start_day():
    """Found by mutation testing: the most probable day of response is the largest
    probability on or after the start day (the day the last dose ends), not the start day
    itself, and the start day is included."""
    days = np.arange(8)
    # Rising after the start day (2): 0.3 on day 2, peak 0.95 on day 4, below 0.5 from day 6.
    rising = np.array([0.0, 0.0, 0.3, 0.7, 0.95, 0.8, 0.4, 0.1])
    assert first_day_below(rising, days, 2, 0.5) == 6
    # Peak exactly on the start day, then a dip and a second, lower rise: the first day below
    # 0.5 after the peak is the dip (day 3), not the day after the second rise.
    at_start = np.array([0.0, 0.0, 0.9, 0.4, 0.6, 0.2, 0.1, 0.0])
    assert first_day_below(at_start, days, 2, 0.5) == 3
    # The summary's probability of response is that peak on the start day.
    in_response = np.array([[True, True, True, False, False, False, False, False]])
    draws = np.vstack([in_response] * 9 + [np.zeros_like(in_response)])
    out = _loss_summary(samples(draws, np.full(10, 0.1), start_day=2), RULE, 7)
    assert out["probability_of_response"] == 0.9
