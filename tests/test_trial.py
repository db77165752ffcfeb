"""Virtual trials: the TOML specification and its errors (line and field), virtual
populations with covariate distributions and inclusion criteria, randomisation, chunking,
measurement error, dropout, and the endpoints and statistics checked against independent
calculations."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from scipy import stats

from ketamine_ptsd import Population, simulate
from ketamine_ptsd.engine import Engine, NumbaEngine, ScipyEngine, engine_of
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.population import (
    SCREENING_NAMES,
    CovariateModel,
    InclusionCriterion,
    enrol,
    screening_values,
    virtual_covariates,
)
from ketamine_ptsd.trials import (
    ArmData,
    TrialResult,
    builtin_spec,
    builtin_spec_text,
    change_from_baseline,
    compare,
    days_to_loss_of_response,
    endpoints,
    loss_of_response,
    mean_score,
    parse_spec,
    power,
    randomisation_list,
    remission_rate,
    responder_rate,
    run_trial,
)

SMALL = """\
[trial]
name = "small"
n_per_arm = 12
control = "saline"
seed = 11

[[arms]]
name = "ketamine"
drug = "racemic"
dose = "0.5mg/kg"
days = [0, 2]

[[arms]]
name = "saline"
drug = "saline"
dose = "0.5mg/kg"
days = [0, 2]

[visits]
days = [0, 1, 7]
instruments = ["caps5_total", "madrs"]

[analysis]
instrument = "caps5_total"
day = 7

[response]
instrument = "caps5_total"
percent_reduction = 30
day = 7

[remission]
instrument = "caps5_total"
at_or_below = 11

[follow_up]
every_days = 7
until_day = 28
"""


def small(**edits) -> str:
    """SMALL with ``old=new`` line replacements (keys are the text to replace)."""
    text = SMALL
    for old, new in edits.items():
        assert old in text
        text = text.replace(old, new, 1)
    return text


def line_of(text: str, fragment: str) -> int:
    """1-based number of the first line of ``text`` containing ``fragment``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


# --------------------------------------------------------------------------- the specification


@pytest.mark.parametrize("name", ["feder2014", "feder2021"])
def test_builtin_specs_load_and_print_as_their_own_toml(name):
    spec = builtin_spec(name)
    assert spec.trial.name == name
    assert spec.trial.control == "midazolam"
    assert parse_spec(builtin_spec_text(name)).model_dump() == spec.model_dump()
    # Every number of a built-in spec carries a source: a comment or a source key on its line or table.
    assert "source" in builtin_spec_text(name)


def test_feder2021_spec_is_the_published_design():
    spec = builtin_spec("feder2021")
    ket = spec.regimen(spec.arm_names.index("ketamine"))
    assert [d.time_h / 24 for d in ket.doses] == [0, 2, 4, 7, 9, 11]
    assert {d.amount for d in ket.doses} == {0.5} and all(d.per_kg for d in ket.doses)
    assert [round(d.duration_h * 60) for d in ket.doses] == [40] * 6
    assert spec.arm_sizes() == [15, 15]
    assert spec.response.percent_reduction == 30 and spec.response.day == 14


BAD_SPECS = [
    # (edit, field named in the error, fragment of the line it must point at)
    ({"seed = 11": "seed = 11\ncolour = 3"}, "trial.colour", "colour = 3"),
    ({'dose = "0.5mg/kg"\ndays = [0, 2]': 'dose = "0.5mg/kg"\ndays = [0, 2]\nbogus = 1'}, "arms[0].bogus", "bogus"),
    ({"n_per_arm = 12": "n_per_arm = 0"}, "trial.n_per_arm", "n_per_arm = 0"),
    ({'control = "saline"': 'control = "placebo"'}, "trial.control", 'control = "placebo"'),
    ({"days = [0, 1, 7]": "days = [0, 7, 1]"}, "visits.days", "days = [0, 7, 1]"),
    ({"days = [0, 1, 7]": "days = [1, 7]"}, "visits.days", "days = [1, 7]"),
    ({"day = 7\n\n[response]": "day = 5\n\n[response]"}, "analysis.day", "day = 5"),
    ({"until_day = 28": "until_day = 3"}, "follow_up.until_day", "until_day = 3"),
    ({"days = [0, 2]": "days = [0, 40]"}, "arms[0].days", "days = [0, 40]"),
    ({"days = [0, 2]": "days = [2, 0]"}, "arms[0].days", "days = [2, 0]"),
    ({'drug = "racemic"': 'drug = "heroin"'}, "arms[0].drug", 'drug = "heroin"'),
    ({'dose = "0.5mg/kg"': 'dose = "half"'}, "arms[0].dose", 'dose = "half"'),
    ({'instrument = "caps5_total"\nday = 7': 'instrument = "pcl5_total"\nday = 7'}, "analysis.instrument",
     'instrument = "pcl5_total"'),
    ({"[visits]": "[inclusion]\ncaps_total = { at_least = 20 }\n\n[visits]"}, "inclusion.caps_total", "caps_total"),
    ({"[visits]": "[measurement_noise.caps5_total]\nsd = -2\n\n[visits]"}, "measurement_noise.caps5_total.sd",
     "sd = -2"),
    ({'days = [0, 2]\n\n[[arms]]': 'days = [0, 2]\n\n[arms.maintenance]\nevery_days = 0\nfrom_day = 7\n'
      'until_day = 14\n\n[[arms]]'}, "arms[0].maintenance.every_days", "every_days = 0"),
    ({'days = [0, 2]\n\n[visits]': 'days = [0, 2]\n\n[arms.maintenance]\nevery_days = 14\nfrom_day = 14\n'
      'until_day = 60\n\n[visits]'}, "arms[1].maintenance", "[arms.maintenance]"),
]


@pytest.mark.parametrize("edits,field,fragment", BAD_SPECS)
def test_a_bad_spec_names_the_line_and_the_field(edits, field, fragment):
    text = small(**edits)
    with pytest.raises(InputError) as err:
        parse_spec(text, "my.toml")
    assert err.value.field == f"my.toml line {line_of(text, fragment)}, {field}"


def test_a_missing_arm_is_named():
    one_arm = SMALL[:SMALL.index("[[arms]]\nname = \"saline\"")] + SMALL[SMALL.index("[visits]"):]
    with pytest.raises(InputError) as err:
        parse_spec(one_arm, "my.toml")
    assert err.value.field == f"my.toml line {line_of(one_arm, 'control =')}, trial.control"
    assert "saline" in err.value.message and err.value.allowed == "ketamine"


def test_a_spec_with_only_one_arm_is_rejected_even_when_it_is_the_control():
    text = SMALL[:SMALL.index("[[arms]]\nname = \"ketamine\"")] + SMALL[SMALL.index("[[arms]]\nname = \"saline\""):]
    with pytest.raises(InputError) as err:
        parse_spec(text, "my.toml")
    assert err.value.field.endswith(", arms")
    assert "two or more" in err.value.allowed


def test_invalid_toml_and_missing_sections_are_input_errors():
    with pytest.raises(InputError) as err:
        parse_spec("[trial\nname = 1", "broken.toml")
    assert "broken.toml" in err.value.field and "TOML" in err.value.message
    text = SMALL.replace("[remission]\ninstrument = \"caps5_total\"\nat_or_below = 11\n", "")
    with pytest.raises(InputError) as err:
        parse_spec(text, "my.toml")
    assert err.value.field.endswith("remission") and "missing" in err.value.message


def test_arms_with_maintenance_and_psychotherapy():
    text = small(**{'days = [0, 2]\n\n[[arms]]': 'days = [0, 2]\ntherapy_days = [1, 3]\ntherapy_hours_after_dose = 2\n'
                    '\n[arms.maintenance]\nevery_days = 7\nfrom_day = 7\nuntil_day = 21\n\n[[arms]]'})
    regimen = parse_spec(text).regimen(0)
    assert [d.time_h / 24 for d in regimen.doses] == [0, 2, 7, 14, 21]
    assert [t.time_h for t in regimen.therapy] == [26.0, 74.0]
    assert regimen.name == "ketamine"


def test_overrides_are_checked():
    spec = parse_spec(SMALL)
    assert spec.with_overrides(n_per_arm=3, seed=5).arm_sizes() == [3, 3]
    assert spec.with_overrides(seed=5).trial.seed == 5
    with pytest.raises(InputError, match="n_per_arm"):
        spec.with_overrides(n_per_arm=0)
    with pytest.raises(InputError, match="seed"):
        spec.with_overrides(seed=-1)


# --------------------------------------------------------------------------- virtual populations


def test_virtual_population_is_from_ids_with_the_default_covariate_model():
    a = Population.virtual(20, seed=4, first_id=5)
    b = Population.from_ids(np.arange(5, 25), 4)
    for name in a.covariates:
        assert np.array_equal(a.covariates[name], b.covariates[name]), name
    assert np.array_equal(a.parameters("racemic"), b.parameters("racemic"))
    assert set(np.unique(a.covariates["female"])) <= {0.0, 1.0}


def test_covariate_distributions_move_only_the_named_covariate():
    ids = np.arange(1, 4001)
    base = virtual_covariates(3, ids, CovariateModel())
    moved = virtual_covariates(3, ids, CovariateModel(distributions={"sbp_mmhg": (140.0, 0.0),
                                                                     "age_years": (50.0, 0.2)}))
    assert np.all(moved["sbp_mmhg"] == 140.0)
    assert abs(np.median(moved["age_years"]) - 50.0) < 1.5
    assert 0.15 < np.std(np.log(moved["age_years"])) < 0.25
    for name in ("weight_kg", "caps5_b", "madrs", "female"):
        assert np.array_equal(base[name], moved[name]), name


def test_female_fraction_and_resistant_fraction_are_respected():
    ids = np.arange(1, 5001)
    cov = virtual_covariates(8, ids, CovariateModel(female_fraction=0.3))
    assert abs(cov["female"].mean() - 0.3) < 0.02
    none = Population.from_ids(ids, 8, CovariateModel(resistant_fraction=0.0))
    most = Population.from_ids(ids, 8, CovariateModel(resistant_fraction=0.8))
    assert not none.resistant().any()
    assert abs(most.resistant().mean() - 0.8) < 0.02
    # The phenotype lowers response sensitivity only for the resistant patients.
    from ketamine_ptsd.model.layout import PARAM_NAMES

    col = PARAM_NAMES.index("response_sensitivity")
    ratio = most.parameters("racemic")[:, col] / none.parameters("racemic")[:, col]
    assert np.all(ratio[~most.resistant()] == 1.0) and np.all(ratio[most.resistant()] < 1.0)


def test_bad_covariate_models_and_criteria_are_rejected():
    with pytest.raises(InputError, match="shoe_size"):
        CovariateModel(distributions={"shoe_size": (40.0, 0.1)})
    with pytest.raises(InputError):
        CovariateModel(female_fraction=1.5)
    with pytest.raises(InputError):
        InclusionCriterion("caps5_total")
    with pytest.raises(InputError):
        InclusionCriterion("caps5_total", at_least=50, at_most=30)
    assert "comorbid_depression" in SCREENING_NAMES


def test_enrolment_takes_the_first_eligible_candidates_in_order():
    criteria = (InclusionCriterion("caps5_total", at_least=42.0), InclusionCriterion("female", at_least=1.0))
    ids, screened = enrol(50, seed=9, criteria=criteria)
    assert ids.size == 50 and screened == ids[-1]
    candidates = np.arange(1, screened + 1)
    values = screening_values(virtual_covariates(9, candidates, CovariateModel()))
    eligible = (values["caps5_b"] + values["caps5_c"] + values["caps5_d"] + values["caps5_e"] >= 42.0) & \
        (values["female"] == 1.0)
    assert np.array_equal(candidates[eligible], ids)


def test_criteria_nobody_meets_are_an_input_error_naming_the_line():
    text = small(**{"[visits]": "[inclusion]\ncaps5_total = { at_least = 79.9 }\n\n[visits]"})
    spec = parse_spec(text, "my.toml").with_overrides(n_per_arm=1)
    with pytest.raises(InputError) as err:
        run_trial(spec)
    assert err.value.field == f"my.toml line {line_of(text, 'at_least = 79.9')}, inclusion.caps5_total"


# --------------------------------------------------------------------------- randomisation


def test_permuted_blocks_balance_every_block_and_give_exact_sizes():
    arms = randomisation_list([30, 30], seed=1, block_size=4)
    assert np.bincount(arms).tolist() == [30, 30]
    blocks = arms[: 56].reshape(-1, 4)
    assert np.all(blocks.sum(axis=1) == 2)
    uneven = randomisation_list([20, 10], seed=1, block_size=6)
    assert np.bincount(uneven).tolist() == [20, 10]
    assert np.all(np.bincount(uneven[:30].reshape(-1, 6)[0], minlength=2) == [4, 2])


def test_randomisation_depends_only_on_the_seed():
    assert np.array_equal(randomisation_list([50, 50], 3), randomisation_list([50, 50], 3))
    assert not np.array_equal(randomisation_list([50, 50], 3), randomisation_list([50, 50], 4))
    complete = randomisation_list([40, 20], 3, method="complete")
    assert np.bincount(complete).tolist() == [40, 20]


def test_block_size_must_hold_the_allocation_ratio():
    text = small(**{"[visits]": "[randomisation]\nblock_size = 5\n\n[visits]"})
    with pytest.raises(InputError) as err:
        parse_spec(text, "my.toml")
    assert err.value.field == f"my.toml line {line_of(text, 'block_size = 5')}, randomisation.block_size"


# --------------------------------------------------------------------------- simulation


@pytest.fixture(scope="module")
def small_result():
    return run_trial(parse_spec(SMALL))


def test_every_patient_is_in_one_arm_and_the_visits_are_the_model_scores(small_result):
    spec = small_result.spec
    ket, sal = small_result.arm("ketamine"), small_result.arm("saline")
    assert ket.ids.size == sal.ids.size == 12
    assert sorted(np.concatenate([ket.ids, sal.ids]).tolist()) == list(range(1, 25))
    # No measurement error in SMALL: the observed scores are the model's.
    days = spec.assessment_days()
    assert days.tolist() == [0, 1, 7, 14, 21, 28]
    traj = simulate(spec.regimen(0), Population.from_ids(ket.ids, spec.trial.seed), times=days * 24.0,
                    outputs=["caps5_total", "madrs"])
    assert np.array_equal(ket.visits, traj.values[:, :3])
    assert np.array_equal(ket.course, traj["caps5_total"].astype(np.float32))


def test_results_do_not_depend_on_the_chunk_size(small_result):
    other = run_trial(small_result.spec, chunk_size=5)
    for a, b in zip(small_result.arms, other.arms):
        for name in ("ids", "visits", "course", "loss_day", "lost", "female", "resistant"):
            assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=name in ("visits", "course")), name
    assert endpoints(small_result) == endpoints(other)


def test_measurement_error_has_the_specified_spread_and_stays_in_range():
    text = small(**{"[visits]": "[measurement_noise.caps5_total]\nsd = 3.0\n\n[visits]"})
    clean = run_trial(parse_spec(SMALL).with_overrides(n_per_arm=100))
    noisy = run_trial(parse_spec(text).with_overrides(n_per_arm=100))
    errors = np.concatenate([(n.visits[:, :, 0] - c.visits[:, :, 0]).ravel() for n, c in zip(noisy.arms, clean.arms)])
    assert abs(errors.std() - 3.0) < 0.3
    assert abs(errors.mean()) < 0.3
    assert np.array_equal(noisy.arms[0].visits[:, :, 1], clean.arms[0].visits[:, :, 1])  # madrs has no noise
    assert np.all((noisy.arms[0].visits[:, :, 0] >= 0) & (noisy.arms[0].visits[:, :, 0] <= 80))


def test_dropout_removes_later_visits_at_the_given_weekly_rate():
    text = small(**{"[visits]": "[dropout]\nper_week = 0.3\n\n[visits]"})
    result = run_trial(parse_spec(text).with_overrides(n_per_arm=200))
    seen = np.concatenate([~np.isnan(a.visits[:, :, 0]) for a in result.arms])
    assert seen[:, 0].all()
    assert abs(seen[:, 2].mean() - 0.7) < 0.06
    assert abs(seen[:, 1].mean() - 0.7 ** (1 / 7)) < 0.04
    # Once gone, never back.
    assert not np.any(~seen[:, 1] & seen[:, 2])
    e = endpoints(result)
    assert e["arms"]["ketamine"]["completed"] == int(seen[:200, 2].sum())


# --------------------------------------------------------------------------- endpoints against hand calculations


def handmade_result() -> TrialResult:
    """Six ketamine and five saline patients with chosen scores (caps5_total, madrs)."""
    spec = parse_spec(SMALL)
    nan = math.nan
    ket_caps = np.array([[40, 30, 20], [50, 45, 40], [30, 25, 30], [20, 12, 10], [36, 20, 18], [44, 40, nan]])
    sal_caps = np.array([[40, 38, 36], [40, 40, 40], [30, 28, 20], [30, 30, 29], [50, 45, 44]])

    def arm(ids, caps, loss_day, lost):
        visits = np.stack([caps, caps * 0.5], axis=2).astype(float)
        n = len(ids)
        return ArmData(ids=np.array(ids), visits=visits, course=np.zeros((n, 6), np.float32),
                       loss_day=np.array(loss_day, float), lost=np.array(lost), female=np.zeros(n, bool),
                       depressed=np.ones(n, bool), resistant=np.zeros(n, bool))

    return TrialResult(spec, (arm([1, 2, 3, 4, 5, 6], ket_caps, [7, 0, 0, 14, 21, 0], [True, False, False, True, False,
                                                                                        False]),
                              arm([7, 8, 9, 10, 11], sal_caps, [0, 0, 7, 0, 0], [False, False, True, False, False])),
                       screened=11)


def test_responders_remission_and_change_by_hand():
    r = handmade_result()
    # Reductions at day 7: 0.5, 0.2, 0, 0.5, 0.5, missing -> 3 of 5 assessed respond.
    assert responder_rate(r, "ketamine") == pytest.approx(3 / 5)
    # Saline: 0.1, 0, 0.333, 0.033, 0.12 -> 1 of 5.
    assert responder_rate(r, "saline") == pytest.approx(1 / 5)
    assert responder_rate(r, "ketamine", percent_reduction=60) == 0.0
    assert remission_rate(r, "ketamine") == pytest.approx(1 / 5)  # only 10 <= 11
    assert mean_score(r, "ketamine", "caps5_total", 1) == pytest.approx((30 + 45 + 25 + 12 + 20 + 40) / 6)
    change = change_from_baseline(r, "ketamine", "caps5_total", 7)
    assert np.nanmean(change) == pytest.approx(np.mean([-20, -10, 0, -10, -18]))
    e = endpoints(r)
    assert e["arms"]["ketamine"]["mean_change_from_baseline"]["madrs"]["7"] == pytest.approx(
        np.mean([-20, -10, 0, -10, -18]) * 0.5)


def test_kaplan_meier_median_by_hand():
    r = handmade_result()
    # Ketamine responders are patients 1, 4 and 5: lost at 7, lost at 14, censored at 21.
    # S(7) = 2/3, S(14) = 2/3 * 1/2 = 1/3 <= 0.5, so the median is 14.
    km = loss_of_response(r, "ketamine")
    assert km.n == 3
    assert km.median == 14.0
    np.testing.assert_allclose(km.survival, [2 / 3, 1 / 3])
    # Saline: one responder, lost at 7.
    assert loss_of_response(r, "saline").median == 7.0


def test_ancova_matches_an_independent_least_squares_fit():
    r = handmade_result()
    c = compare(r, "ketamine")
    base = np.array([40, 50, 30, 20, 36, 40, 40, 30, 30, 50], float)
    last = np.array([20, 40, 30, 10, 18, 36, 40, 20, 29, 44], float)
    arm = np.array([1] * 5 + [0] * 5, float)
    X = np.column_stack([np.ones(10), arm, base])
    y = last - base
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    sigma2 = resid @ resid / (10 - 3)
    se = math.sqrt(sigma2 * np.linalg.inv(X.T @ X)[1, 1])
    t = stats.t.ppf(0.975, 7)
    assert c.difference == pytest.approx(beta[1])
    assert c.ci_low == pytest.approx(beta[1] - t * se)
    assert c.ci_high == pytest.approx(beta[1] + t * se)
    assert c.p_value == pytest.approx(2 * stats.t.sf(abs(beta[1] / se), 7))
    a, b = y[:5], y[5:]
    pooled = math.sqrt(((4 * a.var(ddof=1)) + 4 * b.var(ddof=1)) / 8)
    assert c.effect_size_d == pytest.approx((a.mean() - b.mean()) / pooled)
    assert (c.n_arm, c.n_control) == (5, 5)


def test_mmrm_with_one_post_baseline_visit_agrees_with_ancova():
    text = small(**{"days = [0, 1, 7]": "days = [0, 7]"})
    result = run_trial(parse_spec(text).with_overrides(n_per_arm=60))
    ancova, mmrm = compare(result, "ketamine", "ancova"), compare(result, "ketamine", "mmrm")
    assert mmrm.method == "MMRM"
    assert mmrm.difference == pytest.approx(ancova.difference, rel=1e-3)
    assert mmrm.ci_low < mmrm.difference < mmrm.ci_high


def test_mmrm_uses_every_visit_and_estimates_the_effect_on_the_analysis_day(small_result):
    c = compare(small_result, "ketamine", "mmrm")
    assert c.ci_low < c.difference < c.ci_high and 0 <= c.p_value <= 1
    # Same sign as the ANCOVA estimate on the same day.
    assert np.sign(c.difference) == np.sign(compare(small_result, "ketamine").difference)


def test_days_to_loss_of_response_by_hand():
    nan = math.nan
    days = np.array([0.0, 14.0, 21.0, 28.0, 35.0])
    red = np.array([
        [0, 0.5, 0.4, 0.2, 0.1],   # lost at 28 -> 14 days after day 14
        [0, 0.5, 0.4, 0.35, 0.31],  # never lost -> censored at 35, 21 days
        [0, 0.5, 0.4, nan, nan],   # dropped out -> censored at 21, 7 days
        [0, 0.5, 0.1, nan, nan],   # lost at 21 -> 7 days
        [0, 0.5, nan, nan, nan],   # nothing after day 14 -> censored at 0
    ])
    loss, lost = days_to_loss_of_response(red, days, 14.0, 30.0)
    np.testing.assert_array_equal(loss, [14, 21, 7, 7, 0])
    np.testing.assert_array_equal(lost, [True, False, False, True, False])


def test_crossover_uses_the_same_patients_and_a_paired_comparison():
    spec = builtin_spec("feder2014").with_overrides(n_per_arm=30)
    result = run_trial(spec)
    assert np.array_equal(result.arm("ketamine").ids, result.arm("midazolam").ids)
    c = compare(result, "ketamine")
    diff = change_from_baseline(result, "ketamine", "iesr_total", 1) - change_from_baseline(result, "midazolam",
                                                                                            "iesr_total", 1)
    assert c.method == "paired (crossover)"
    assert c.difference == pytest.approx(diff.mean())
    half = stats.t.ppf(0.975, diff.size - 1) * diff.std(ddof=1) / math.sqrt(diff.size)
    assert c.ci_high - c.ci_low == pytest.approx(2 * half)
    e = endpoints(result)
    assert e["population"]["enrolled"] == 30


# --------------------------------------------------------------------------- the endpoints document


def test_feder2021_endpoints_have_every_field_scripts_use():
    result = run_trial(builtin_spec("feder2021").with_overrides(n_per_arm=150))
    e = endpoints(result)
    for arm in ("ketamine", "midazolam"):
        a = e["arms"][arm]
        for key in ("responder_rate", "remission_rate", "mean_change_from_baseline", "median_days_to_loss_of_response"):
            assert key in a, key
        assert set(a["mean_change_from_baseline"]) == {"caps5_total", "madrs", "pcl5_b", "pcl5_c", "pcl5_d", "pcl5_e"}
        assert set(a["mean_change_from_baseline"]["caps5_total"]) == {"1", "7", "14"}
    c = e["comparisons"]["ketamine"]
    assert set(c) >= {"difference", "ci_low", "ci_high", "p_value", "effect_size_d"}
    # The published direction: ketamine improves CAPS-5 more than midazolam, by a clear margin.
    assert c["ci_high"] < 0 and c["effect_size_d"] < -0.5
    assert e["arms"]["ketamine"]["responder_rate"] > e["arms"]["midazolam"]["responder_rate"]
    assert e["arms"]["ketamine"]["median_days_to_loss_of_response"] > 0
    assert re.search("not a medical device", e["notice"])


# --------------------------------------------------------------------------- power


POWER_SPEC = """\
[trial]
name = "power"
n_per_arm = 10
control = "saline"
seed = 5

[[arms]]
name = "{name}"
drug = "{drug}"
dose = "0.5mg/kg"
days = [0, 2, 4]

[[arms]]
name = "saline"
drug = "saline"
dose = "0.5mg/kg"
days = [0, 2, 4]

[visits]
days = [0, 7]
instruments = ["caps5_total"]

[analysis]
instrument = "caps5_total"
day = 7

[response]
instrument = "caps5_total"
percent_reduction = 30
day = 7

[remission]
instrument = "caps5_total"
at_or_below = 11

[measurement_noise.caps5_total]
sd = 4.7
"""


def test_power_is_near_alpha_without_an_effect_and_high_with_a_large_one():
    null = power(parse_spec(POWER_SPEC.format(name="saline_b", drug="saline")), n_trials=20)
    assert null["by_arm"]["saline_b"]["power"] <= 0.25
    strong = power(parse_spec(POWER_SPEC.format(name="ketamine", drug="racemic")), n_per_arm=20, n_trials=10)
    assert strong["by_arm"]["ketamine"]["power"] >= 0.8
    assert strong["n_per_arm"] == [20, 20] and strong["trials"] == 10
    with pytest.raises(InputError, match="n_trials"):
        power(parse_spec(SMALL), n_trials=0)


def test_chunk_warnings_are_kept_once_with_how_often_they_came_up():
    def part(ids, *warnings):
        n = len(ids)
        return ArmData(ids=np.array(ids), visits=np.zeros((n, 2, 1)), course=np.zeros((n, 2), np.float32),
                       loss_day=np.zeros(n), lost=np.zeros(n, bool), female=np.zeros(n, bool),
                       depressed=np.zeros(n, bool), resistant=np.zeros(n, bool), failed=1, warnings=warnings)

    joined = ArmData.concatenate([part([1, 2], "weight_kg outside 40-150 for 2 patient(s) (e.g. 151)", "other"),
                                  part([3], "weight_kg outside 40-150 for 1 patient(s) (e.g. 160.5)")])
    assert joined.ids.tolist() == [1, 2, 3] and joined.failed == 2
    assert joined.warnings == ("weight_kg outside 40-150 for 2 patient(s) (e.g. 151) (and similar in 1 more chunks "
                               "of patients)", "other")


# --------------------------------------------------------------------------- the engine passed down
# The same small trial integrated by the scipy reference (solve_ivp) and by the default numba
# engine gives the same observed scores and endpoints, to within the solvers' tolerances.


def test_engines_meet_the_protocol_and_are_chosen_by_name():
    assert isinstance(NumbaEngine(), Engine) and isinstance(ScipyEngine(), Engine)
    assert isinstance(engine_of(None), NumbaEngine) and engine_of(None, threads=1).threads == 1
    assert isinstance(engine_of("scipy"), ScipyEngine)
    mine = ScipyEngine(rtol=1e-8)
    assert engine_of(mine) is mine


def test_a_trial_runs_on_the_scipy_engine_with_the_same_endpoints():
    spec = parse_spec(small(**{"n_per_arm = 12": "n_per_arm = 3"}))
    numba = run_trial(spec, threads=1)
    scipy = run_trial(spec, engine=ScipyEngine(rtol=1e-8, atol=1e-10))
    assert len(scipy.arms) == 2
    for a, b in zip(numba.arms, scipy.arms):
        # The scores are on 0-80 (CAPS-5) and 0-60 (MADRS) scales: solver differences of
        # a relative 1e-6 leave them within 0.01 point.
        np.testing.assert_allclose(a.visits, b.visits, atol=0.01, equal_nan=True)
        assert a.failed == b.failed == 0
    # The primary comparison (ketamine - saline, CAPS-5 at day 7) with its interval.
    c_numba = endpoints(numba)["comparisons"]["ketamine"]
    c_scipy = endpoints(scipy)["comparisons"]["ketamine"]
    for key in ("difference", "ci_low", "ci_high"):
        assert abs(c_numba[key] - c_scipy[key]) <= 0.02, key
    assert c_numba["difference"] != 0.0
    # The engine given is the one used: a loose explicit solver moves the scores.
    loose = run_trial(spec, engine=ScipyEngine(method="RK23", rtol=1e-1, atol=1e-1))
    assert not np.allclose(loose.arms[0].visits, numba.arms[0].visits, atol=1e-6, equal_nan=True)
