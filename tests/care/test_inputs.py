"""The one record-to-covariates rule (care/inputs.py), used by the forecast and the what-if,
on hand-made records: the latest score at or before the first dose wins over an earlier
one, a score after the first dose or more than 31 days before it is ignored, cluster sums
and totals are clipped into the instrument's range, age is at the first dose, weight is the
latest recorded at a session."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from ketamine_ptsd.care.inputs import BASELINE_LOOKBACK_DAYS, baseline_covariates, course_weight

UTC = dt.UTC
FIRST = dt.datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
NOW = dt.datetime(2025, 3, 20, 9, 0, tzinfo=UTC)


def score(instrument, days, total, clusters=None):
    """An assessment ``days`` from the first dose (negative: before it)."""
    return SimpleNamespace(instrument=instrument, administered_at=FIRST + dt.timedelta(days=days), total=total,
                           clusters=clusters)


def pcl5(b, c, d, e):
    return score("pcl5", 0, b + c + d + e, {"B": b, "C": c, "D": d, "E": e})


def at(days, assessment):
    assessment.administered_at = FIRST + dt.timedelta(days=days)
    return assessment


def rule(assessments, first=FIRST, weight=70.0, birth=None):
    return baseline_covariates(assessments, first_dose=first, now=NOW, weight_kg=weight, birth_date=birth)


def test_the_latest_score_before_the_first_dose_is_the_baseline_not_the_earliest():
    # Given out of time order: the rule orders them itself.
    result = rule([at(-3, pcl5(12, 5, 20, 15)), at(-20, pcl5(4, 2, 6, 5)), score("madrs", -10, 30),
                   score("madrs", -2, 28)])
    cov = result["covariates"]
    assert (cov["pcl5_b"], cov["pcl5_c"], cov["pcl5_d"], cov["pcl5_e"]) == (12.0, 5.0, 20.0, 15.0)
    assert cov["madrs"] == 28.0
    assert result["sources"]["pcl5"] == {"administered_at": (FIRST - dt.timedelta(days=3)).isoformat(), "total": 52}


def test_a_score_after_the_first_dose_is_not_the_baseline():
    cov = rule([score("madrs", -1, 30), score("madrs", 1, 5), at(2, pcl5(0, 0, 0, 0))])["covariates"]
    assert cov["madrs"] == 30.0
    assert "pcl5_b" not in cov


def test_a_score_given_at_the_first_dose_counts_as_pre_dose():
    assert rule([score("madrs", -5, 30), score("madrs", 0, 26)])["covariates"]["madrs"] == 26.0


def test_a_score_more_than_31_days_before_the_first_dose_is_out_of_the_window():
    assert BASELINE_LOOKBACK_DAYS == 31.0
    cov = rule([score("madrs", -32, 30), at(-40, pcl5(10, 4, 12, 10)), score("madrs", -31, 22)])["covariates"]
    assert cov["madrs"] == 22.0  # exactly 31 days before is still inside
    assert "pcl5_b" not in cov


def test_without_a_dose_the_window_ends_now():
    result = baseline_covariates([score("madrs", 15, 30), score("madrs", 25, 40)], first_dose=None, now=NOW,
                                 weight_kg=None, birth_date=None)
    assert result["covariates"] == {"madrs": 30.0}  # day 25 is after now (day 19)
    assert result["first_dose_at"] is None


def test_scores_are_clipped_into_the_instruments_range():
    # PCL-5 clusters hold 5, 2, 7 and 6 items scored 0-4 (B 0-20, C 0-8, D 0-28, E 0-24); MADRS 10 items 0-6.
    cov = rule([at(-1, pcl5(25, -1, 30, 24)), score("madrs", -1, 75)])["covariates"]
    assert (cov["pcl5_b"], cov["pcl5_c"], cov["pcl5_d"], cov["pcl5_e"]) == (20.0, 0.0, 28.0, 24.0)
    assert cov["madrs"] == 60.0


def test_an_incomplete_cluster_set_is_not_a_baseline():
    partial = at(-1, pcl5(10, 4, 12, 10))
    partial.clusters["E"] = None
    assert "pcl5_b" not in rule([partial])["covariates"]


def test_age_is_at_the_first_dose_and_weight_the_latest_at_a_session():
    # 1985-03-01 to 2025-03-01 is 14,610 days; now (19 days later) does not count.
    cov = rule([], weight=course_weight([SimpleNamespace(weight_kg=80.0), SimpleNamespace(weight_kg=None)], 70.0),
               birth=dt.date(1985, 3, 1))["covariates"]
    assert cov == {"weight_kg": 80.0, "age_years": pytest.approx(14610 / 365.25)}
    assert course_weight([SimpleNamespace(weight_kg=None)], 70.0) == 70.0
    assert course_weight([], None) is None
