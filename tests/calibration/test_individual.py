"""Personal forecasts: input checks, the loss-of-response rule, and forecasts of virtual
patients whose parameters are known (the inference machinery is in test_inference.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ketamine_ptsd import Population, simulate
from ketamine_ptsd.calibration.individual import Observation, forecast, loss_rule, loss_times
from ketamine_ptsd.dosing import Regimen, induction_series
from ketamine_ptsd.errors import InputError

REGIMEN = induction_series()
CLUSTER_OUTPUTS = ("pcl5_b", "pcl5_c", "pcl5_d", "pcl5_e")
HORIZON = 42
DRAWS = 256


def scores_of(population: Population, times_h) -> list[Observation]:
    """Error-free PCL-5 scores (clusters) of the first patient of ``population``."""
    truth = simulate(REGIMEN, population, times=np.maximum(times_h, 0.0), outputs=CLUSTER_OUTPUTS)
    out = []
    for j, t in enumerate(times_h):
        clusters = {c: float(truth[name][0, j]) for c, name in zip("BCDE", CLUSTER_OUTPUTS)}
        out.append(Observation(float(t), "pcl5", sum(clusters.values()), clusters))
    return out


def true_pcl5(population: Population, days) -> np.ndarray:
    return simulate(REGIMEN, population, times=np.asarray(days) * 24.0, outputs=["pcl5_total"])["pcl5_total"][0]


# Scores before the first dose and the day after each infusion of the induction series.
SCORED_H = [-2.0] + [d.time_h + 24.0 for d in REGIMEN.doses]
COVARIATES = {"weight_kg": 70.0, "age_years": 39.0}


@pytest.fixture(scope="module")
def strong_and_weak():
    """Forecasts for a patient twice as sensitive as typical and one a quarter as sensitive."""
    out = {}
    for label, factor in (("strong", 2.0), ("weak", 0.25)):
        patient = Population.typical(**COVARIATES).with_multipliers(response_sensitivity=factor)
        out[label] = (patient, forecast(REGIMEN, scores_of(patient, SCORED_H), COVARIATES, HORIZON,
                                        n_draws=DRAWS))
    return out


# --------------------------------------------------------------------------- observations


@pytest.mark.parametrize("kwargs, field", [
    (dict(time_h=0, instrument="phq9", total=3), "instrument"),
    (dict(time_h=0, instrument="pcl5", total=81), "PCL-5 total"),
    (dict(time_h=0, instrument="madrs", total=-1), "MADRS total"),
    (dict(time_h=float("nan"), instrument="pcl5", total=40), "time_h"),
    (dict(time_h=0, instrument="pcl5", total=40, clusters={"B": 10, "C": 9, "D": 11, "E": 10}), "PCL-5 cluster C"),
    (dict(time_h=0, instrument="pcl5", total=40, clusters={"B": 10, "C": 5, "D": 11, "E": 10}), "clusters"),
    (dict(time_h=0, instrument="pcl5", total=40, clusters={"B": 20, "C": 8, "D": 12}), "clusters"),
    (dict(time_h=0, instrument="madrs", total=20, clusters={"B": 20}), "clusters"),
])
def test_bad_observations_are_refused_naming_the_field(kwargs, field):
    with pytest.raises(InputError) as err:
        Observation(**kwargs)
    assert err.value.field == field


def test_cluster_keys_are_case_insensitive():
    obs = Observation(0, "pcl5", 40, {"b": 10, "c": 4, "d": 14, "e": 12})
    assert obs.clusters == {"B": 10, "C": 4, "D": 14, "E": 12}


@pytest.mark.parametrize("call, field", [
    (lambda: forecast(Regimen(), [], {}), "regimen"),
    (lambda: forecast(REGIMEN, [], {}, horizon_days=5), "horizon_days"),
    (lambda: forecast(REGIMEN, [Observation(24 * 50, "pcl5", 30)], {}, horizon_days=42), "observations"),
    (lambda: forecast(REGIMEN, [], {"height_cm": 180}), "covariates.height_cm"),
    (lambda: forecast(REGIMEN, [], {"pcl5_b": 12}), "covariates.pcl5_b"),
    (lambda: forecast(REGIMEN, [], {}, threshold={"points": 5}), "threshold.points"),
    (lambda: forecast(REGIMEN, [], {}, threshold={"instrument": "phq9"}), "threshold.instrument"),
    (lambda: forecast(REGIMEN, [], {}, threshold={"percent_reduction": 130}), "threshold.percent_reduction"),
    (lambda: forecast(REGIMEN, [(0, "pcl5", 40)], {}), "observations[0]"),
])
def test_bad_forecast_input_is_refused_naming_the_field(call, field):
    with pytest.raises(InputError) as err:
        call()
    assert err.value.field == field


# --------------------------------------------------------------------------- loss rule


def test_loss_rule_defaults_to_the_clinic_reliable_change_of_5_points():
    rule = loss_rule(None)
    assert rule["instrument"] == "pcl5" and rule["absolute_reduction"] == 5
    assert "NCPTSD" in rule["source"]
    assert loss_rule({"instrument": "caps5"})["percent_reduction"] == 30


def test_loss_time_is_the_first_time_after_the_peak_below_the_threshold():
    times = np.arange(0.0, 10.0)
    baseline = np.array([50.0, 50.0, 50.0, 50.0])
    score = np.array([
        [50, 44, 40, 38, 40, 42, 44, 46, 47, 48],   # peak 12 at t=3, below 5 points from t=7
        [50, 49, 48, 47, 46, 47, 48, 49, 50, 50],   # never 5 points better: no response
        [50, 40, 35, 30, 30, 30, 30, 30, 30, 30],   # still improved at the end: not lost
        [50, 40, 46, 44, 43, 44, 45, 46, 47, 48],   # the dip before the last dose (t=2) does not count
    ], dtype=float)
    lost = loss_times(score, baseline, times, after_h=2.0, rule={"absolute_reduction": 5})
    assert lost[0] == 7.0
    assert math.isnan(lost[1])
    assert math.isinf(lost[2])
    assert lost[3] == 7.0
    by_percent = loss_times(score[:1], baseline[:1], times, after_h=0.0, rule={"percent_reduction": 20})
    assert by_percent[0] == 5.0


# --------------------------------------------------------------------------- forecasts


def test_the_fit_tells_a_strong_responder_from_a_weak_one(strong_and_weak):
    strong = strong_and_weak["strong"][1].fit["parameters"]["response_sensitivity"]["map"]
    weak = strong_and_weak["weak"][1].fit["parameters"]["response_sensitivity"]["map"]
    assert strong > 1.0 > 0.5 > weak
    assert strong_and_weak["weak"][1].fit["phenotype_probability"]["treatment_resistant"] > 0.5


@pytest.mark.parametrize("label", ["strong", "weak"])
def test_the_band_holds_the_true_course_and_the_median_beats_the_population(strong_and_weak, label):
    patient, result = strong_and_weak[label]
    days = np.arange(14, HORIZON + 1, 7)
    truth = true_pcl5(patient, days)
    low = np.array([result.band_low["pcl5"][d] for d in days])
    high = np.array([result.band_high["pcl5"][d] for d in days])
    median = np.array([result.median["pcl5"][d] for d in days])
    population = np.array([result.population["median"]["pcl5"][d] for d in days])
    assert np.mean((truth >= low - 0.5) & (truth <= high + 0.5)) >= 0.8
    assert np.mean(np.abs(median - truth)) < np.mean(np.abs(population - truth))


def test_forecast_dict_has_every_instrument_every_day_and_ordered_bands(strong_and_weak):
    result = strong_and_weak["strong"][1].to_dict()
    json.dumps(result)
    for key in ("loss_of_response_day", "recommended_maintenance_day", "median", "band_low", "band_high",
                "population", "covariate_only", "outside_validated_range", "fit"):
        assert key in result
    instruments = {"pcl5", "pcl5_b", "pcl5_c", "pcl5_d", "pcl5_e", "caps5", "madrs"}
    assert set(result["median"]) == instruments
    assert set(result["population"]["median"]) == set(result["covariate_only"]["band_high"]) == instruments
    maxima = {"pcl5": 80, "pcl5_b": 20, "pcl5_c": 8, "pcl5_d": 28, "pcl5_e": 24, "caps5": 80, "madrs": 60}
    for name in instruments:
        assert sorted(result["median"][name]) == list(range(HORIZON + 1))
        for day in range(HORIZON + 1):
            low, mid, high = (result[k][name][day] for k in ("band_low", "median", "band_high"))
            assert 0 <= low <= mid <= high <= maxima[name]
    assert result["fit"]["parameters"]["ptsd_severity"]["map"] == pytest.approx(50.0, abs=3.0)
    assert "not a medical device" in result["notice"]


def test_response_loss_is_predicted_around_the_true_day_and_maintenance_booked_before_it():
    # Faster decay of new and stabilised synapses than typical (about 1 SD each).
    patient = Population.typical(**COVARIATES).with_multipliers(labile_tau=0.8, stable_tau=0.7)
    rule = {"percent_reduction": 30}
    grid = np.arange(0.0, 84 * 24 + 1, 6.0)
    course = simulate(REGIMEN, patient, times=grid, outputs=["pcl5_total"])["pcl5_total"]
    true_day = loss_times(course, course[:, 0], grid, REGIMEN.end_h, rule)[0] / 24
    result = forecast(REGIMEN, scores_of(patient, SCORED_H), COVARIATES, 84, rule, n_draws=DRAWS)
    assert result.loss_status == "lost"
    low, high = result.loss_of_response_band
    assert low <= true_day <= (high if high is not None else math.inf)
    assert 11 < result.recommended_maintenance_day <= result.loss_of_response_day
    assert "30 %" in result.maintenance_rule


def test_a_threshold_never_reached_means_no_response_and_no_booking():
    result = forecast(REGIMEN, [], COVARIATES, HORIZON, {"absolute_reduction": 45}, n_draws=64)
    assert result.loss_status == "no response expected"
    assert result.loss_of_response_day is None and result.recommended_maintenance_day is None


def test_without_scores_the_forecast_is_the_covariate_only_curve_and_given_baselines_stay():
    baselines = {"pcl5_b": 16.0, "pcl5_c": 7.0, "pcl5_d": 22.0, "pcl5_e": 19.0}
    result = forecast(REGIMEN, [], {**COVARIATES, **baselines}, HORIZON, n_draws=64, seed=5)
    assert result.median == result.covariate_only["median"]
    assert result.median["pcl5"][0] == pytest.approx(64.0)
    assert result.fit["parameters"] == {}


def test_the_same_seed_gives_the_same_forecast_and_scores_move_it():
    scores = [Observation(-1, "pcl5", 55), Observation(24, "pcl5", 30), Observation(24, "madrs", 12)]
    first = forecast(REGIMEN, scores, COVARIATES, HORIZON, n_draws=64, seed=2).to_dict()
    again = forecast(REGIMEN, scores, COVARIATES, HORIZON, n_draws=64, seed=2).to_dict()
    assert first == again
    assert "sensitivity_depression" in first["fit"]["parameters"]
    assert "depression_severity" in first["fit"]["parameters"]
    assert first["median"]["pcl5"][1] < first["covariate_only"]["median"]["pcl5"][1]


def test_a_patient_outside_the_validated_range_is_flagged():
    result = forecast(REGIMEN, [], {"weight_kg": 170.0, "age_years": 39.0}, HORIZON, n_draws=64)
    assert any(line.startswith("weight_kg") for line in result.outside_validated_range)


# --------------------------------------------------------------------------- honest bands

BASELINES = {"pcl5_b": 14.0, "pcl5_c": 6.0, "pcl5_d": 18.0, "pcl5_e": 15.0}


def test_with_only_baseline_scores_the_population_decides_and_no_probability_exceeds_the_cap():
    from ketamine_ptsd.calibration.individual import forecast_table

    cap = forecast_table()["baseline_only"]["max_probability"]
    result = forecast(REGIMEN, [Observation(-2.0, "pcl5", 53.0)], COVARIATES, HORIZON, n_draws=128)
    assert result.fit["basis"] == "population"
    assert any("only baseline scores" in w for w in result.warnings)
    assert result.probability_of_response <= cap
    assert max(result.probability_in_response.values()) <= cap
    later = forecast(REGIMEN, scores_of(Population.typical(**COVARIATES), SCORED_H[:3]), COVARIATES, HORIZON,
                     n_draws=128)
    assert later.fit["basis"] == "patient"


def test_the_reported_loss_agrees_with_the_median_course_and_the_probability_curve():
    # Baselines given, so every draw shares the baseline and the median course is in
    # response exactly on the days on which at least half the weight is.
    patient = Population.typical(**COVARIATES, **BASELINES).with_multipliers(labile_tau=0.8, stable_tau=0.7)
    result = forecast(REGIMEN, scores_of(patient, SCORED_H), {**COVARIATES, **BASELINES}, 84,
                      {"percent_reduction": 30}, n_draws=DRAWS)
    baseline = sum(BASELINES.values())
    needed = 0.3 * baseline
    for day, p in result.probability_in_response.items():
        margin = baseline - result.median["pcl5"][day] - needed
        if abs(margin) > 0.02 and day >= result.samples.start_day:
            assert (margin > 0) == (p >= 0.5), day
    loss, book = result.loss_of_response_day, result.recommended_maintenance_day
    assert loss is not None and book is not None and book < loss
    p = result.probability_in_response
    assert p[book] >= 0.8 > p[book + 1] or book == result.samples.start_day
    assert p[loss] < 0.5 <= p[loss - 1]
    # ... and the curve is the weighted share of the samples in response.
    s = result.samples
    inside = (s.baseline[:, None] - s.score) >= s.needed[:, None]
    assert np.allclose(s.weights @ inside, [p[int(d)] for d in s.days], atol=1e-4)


def test_the_band_without_scores_covers_four_in_five_scores_of_virtual_patients():
    from ketamine_ptsd.calibration.individual import observed_scores

    days = np.arange(0, HORIZON + 1, 3)
    others = Population.virtual(400, seed=91)
    truth = simulate(REGIMEN, others, times=days * 24.0,
                     outputs=["pcl5_total", "pcl5_b", "pcl5_c", "pcl5_d", "pcl5_e", "caps5_total", "madrs"]).values
    scores = observed_scores(truth, np.random.default_rng(4))[:, :, 0]
    result = forecast(REGIMEN, [], {}, HORIZON, n_draws=1024, seed=3)
    low = np.array([result.band_low["pcl5"][int(d)] for d in days])
    high = np.array([result.band_high["pcl5"][int(d)] for d in days])
    coverage = np.mean((scores >= low) & (scores <= high))
    assert 0.72 <= coverage <= 0.88
