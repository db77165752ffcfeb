"""The personal forecast's prior is the patient's named population (params/populations.toml):
its phenotype distributions, its share of the treatment-resistant phenotype and its typical
covariates. Expected values and directions come from the populations table, not from the
forecast."""

from __future__ import annotations

import numpy as np
import pytest

from ketamine_ptsd.calibration.individual import Observation, forecast, simulate_posterior
from ketamine_ptsd.dosing import induction_series
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.params import DEFAULT_POPULATION, model_table, patient_table, population_spec

REGIMEN = induction_series()
COVARIATES = {"weight_kg": 85.0, "age_years": 45.0}
# One pre-dose PCL-5 of 53 (clusters given): the same patient, judged with each prior.
BASELINE = [Observation(-2.0, "pcl5", 53.0, {"B": 14, "C": 6, "D": 18, "E": 15})]
VETERANS = "veteran_ptsd_ad_failure"
HORIZON = 56
DRAWS = 256


@pytest.fixture(scope="module")
def baseline_only():
    return {name: forecast(REGIMEN, BASELINE, COVARIATES, HORIZON, n_draws=DRAWS, seed=3, population=name)
            for name in (None, VETERANS)}


def test_the_veterans_prior_expects_the_small_pcl5_response_the_table_documents(baseline_only):
    # The table: veterans after antidepressant failure respond to ketamine on PTSD measures
    # at a small fraction of the calibrated typical response (Abdallah 2022: no separation
    # from saline on PCL-5).
    factor = population_spec(VETERANS)["phenotype"]["ptsd_response"]["factor"]
    assert factor < 0.5
    civilians, veterans = baseline_only[None], baseline_only[VETERANS]
    assert civilians.fit["population"] == DEFAULT_POPULATION and veterans.fit["population"] == VETERANS
    assert veterans.fit["basis"] == civilians.fit["basis"] == "population"
    assert veterans.probability_of_response < civilians.probability_of_response - 0.3
    # Median improvement from the same baseline two weeks in (after the six infusions).
    gain = {k: f.median["pcl5"][0] - f.median["pcl5"][14] for k, f in baseline_only.items()}
    assert gain[VETERANS] < 0.5 * gain[None]
    assert all(p <= 0.95 for f in baseline_only.values() for p in f.probability_in_response.values())


def test_the_treatment_resistant_share_is_the_populations_own():
    # With baseline scores only, the phenotype probabilities are the prior's mixture weights.
    for name, share in (("trd", population_spec("trd")["resistant_fraction"]),
                        ("ptsd_trd", population_spec("ptsd_trd")["resistant_fraction"]),
                        (None, model_table().value("resistant_fraction"))):
        result = forecast(REGIMEN, BASELINE, COVARIATES, 28, n_draws=64, population=name)
        assert result.fit["phenotype_probability"]["treatment_resistant"] == pytest.approx(share, abs=1e-3)


def test_baselines_not_given_are_the_populations_typical_ones():
    veterans = population_spec(VETERANS)["covariates"]
    expected = {VETERANS: sum(veterans[f"pcl5_{c}"]["median"] for c in "bcde"),
                None: sum(patient_table().value(f"pcl5_{c}") for c in "bcde")}
    assert abs(expected[VETERANS] - expected[None]) > 2  # the table makes them differ
    for name, total in expected.items():
        result = forecast(REGIMEN, [], {}, 14, n_draws=2048, seed=2, population=name)
        # The median of the draws' severity levels is the typical level (the sampling error
        # of a median of 2,048 draws is about 0.5 points; the two populations differ by 2.5).
        assert result.median["pcl5"][0] == pytest.approx(total, abs=1.2)


def test_the_posterior_simulated_again_keeps_the_population(baseline_only):
    # The planner simulates the forecast's draws under another regimen; under the same one
    # it must give the same courses, which it cannot with another population's phenotype.
    result = baseline_only[VETERANS]
    daily = simulate_posterior(result.posterior, REGIMEN, result.samples.days)
    assert np.allclose(daily[:, :, 0], result.samples.score, atol=1e-6)


def test_an_unknown_population_is_refused_naming_the_field_and_the_names():
    with pytest.raises(InputError) as err:
        forecast(REGIMEN, BASELINE, COVARIATES, 28, n_draws=64, population="marines")
    assert err.value.field == "population"
    for name in ("civilian_ptsd", VETERANS, "trd", "ptsd_trd"):
        assert name in err.value.allowed


def test_strong_placebo_responders_are_a_prior_component_with_the_populations_share():
    # Virtual populations draw strong placebo (expectancy) responders at a share of
    # placebo_responder_fraction (model.toml), independent of the resistant phenotype; the
    # prior must hold the same mixture, so baseline-only weights are the products of shares.
    placebo = model_table().value("placebo_responder_fraction")
    resistant = model_table().value("resistant_fraction")
    result = forecast(REGIMEN, BASELINE, COVARIATES, 28, n_draws=64)
    probability = result.fit["phenotype_probability"]
    assert probability["strong_placebo_responder"] == pytest.approx(placebo, abs=1e-3)
    assert probability["typical"] == pytest.approx((1 - placebo) * (1 - resistant), abs=1e-3)
    assert probability["components"]["treatment_resistant+strong_placebo_responder"] == \
        pytest.approx(placebo * resistant, abs=1e-3)
    assert sum(probability["components"].values()) == pytest.approx(1.0, abs=2e-3)


def test_a_placebo_responder_draw_has_the_factor_times_the_expectancy_gain():
    # The component must act on the same parameter, by the same factor, as in a virtual
    # population: expectancy_gain x placebo_responder_factor, the response sensitivity untouched.
    from ketamine_ptsd.calibration.individual import CourseModel, _baseline_covariates
    from ketamine_ptsd.model.layout import PARAM_NAMES

    factor = model_table().value("placebo_responder_factor")
    covariates, given = _baseline_covariates(COVARIATES, BASELINE, None)
    model = CourseModel(REGIMEN, covariates, given, ("expectancy_gain",), placebo=np.array([False, True]))
    matrix = model.population(np.zeros((2, 1))).parameters(REGIMEN.pk_product)
    gain = matrix[:, PARAM_NAMES.index("expectancy_gain")]
    assert gain[1] == pytest.approx(factor * gain[0])
    sensitivity = matrix[:, PARAM_NAMES.index("response_sensitivity")]
    assert sensitivity[1] == pytest.approx(sensitivity[0])


def test_scores_of_a_strong_placebo_responder_move_the_posterior_towards_that_component():
    # A patient whose PCL-5 falls far more 24 h after the first infusion than a typical
    # patient's does is more likely a strong expectancy responder than the prior says: the
    # posterior weight of that component rises above its prior share.
    placebo = model_table().value("placebo_responder_fraction")
    scores = BASELINE + [Observation(24.0, "pcl5", 20.0, {"B": 5, "C": 2, "D": 7, "E": 6})]
    result = forecast(REGIMEN, scores, COVARIATES, 28, n_draws=128, seed=1)
    assert result.fit["basis"] == "patient"
    assert result.fit["phenotype_probability"]["strong_placebo_responder"] > placebo
