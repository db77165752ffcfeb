"""Virtual patients: reproducibility by seed, independence from how a population is split,
covariate scaling and between-patient variability."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ketamine_ptsd import Population, induction_series, simulate
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.model.layout import P_CL_S, P_V1_S, PARAM_NAMES, PATIENT_NAMES
from ketamine_ptsd.params import model_table, patient_table, pk_table
from ketamine_ptsd.population import COVARIATE_BOUNDS, patient_normals, patient_uniforms

TIMES = np.arange(0.0, 24.0 * 14, 1.0)
OUTPUTS = ["ketamine_ng_ml", "cadss", "sbp_mmhg", "plasticity", "pcl5_total", "madrs"]


def assert_same_population(a: Population, b: Population):
    assert np.array_equal(a.ids, b.ids)
    assert a.covariates.keys() == b.covariates.keys()
    for name in a.covariates:
        assert np.array_equal(a.covariates[name], b.covariates[name]), name
    assert np.array_equal(a.etas, b.etas)
    for product in ("racemic", "esketamine"):
        assert np.array_equal(a.parameters(product), b.parameters(product))


# --------------------------------------------------------------------------- reproducibility


def test_same_seed_gives_bit_identical_simulation():
    regimen = induction_series()
    first = simulate(regimen, Population.virtual(12, seed=42), times=TIMES, outputs=OUTPUTS)
    second = simulate(regimen, Population.virtual(12, seed=42), times=TIMES, outputs=OUTPUTS)
    assert first.values.tobytes() == second.values.tobytes()
    assert np.array_equal(first.steps, second.steps)
    assert first.metadata["seed"] == 42


def test_different_seed_gives_different_patients_and_courses():
    a = Population.virtual(12, seed=1)
    b = Population.virtual(12, seed=2)
    assert not np.any(a.parameters("racemic")[:, P_CL_S] == b.parameters("racemic")[:, P_CL_S])
    assert not np.array_equal(a.covariates["weight_kg"], b.covariates["weight_kg"])
    regimen = induction_series()
    ta = simulate(regimen, a, times=TIMES, outputs=OUTPUTS)
    tb = simulate(regimen, b, times=TIMES, outputs=OUTPUTS)
    # Every patient's peak concentration differs between the seeds.
    assert np.all(ta["ketamine_ng_ml"].max(axis=1) != tb["ketamine_ng_ml"].max(axis=1))


def test_patient_does_not_depend_on_how_the_population_is_split():
    seed = 20240611
    whole = Population.virtual(100, seed)
    assert_same_population(whole.take(slice(40, 50)), Population.virtual(10, seed, first_id=41))
    # Any split into pieces reassembles to the whole.
    pieces = [Population.virtual(n, seed, first_id=start + 1) for start, n in ((0, 33), (33, 1), (34, 66))]
    for name in whole.covariates:
        assert np.array_equal(np.concatenate([p.covariates[name] for p in pieces]), whole.covariates[name])
    assert np.array_equal(np.concatenate([p.etas for p in pieces]), whole.etas)


def test_split_populations_simulate_identically():
    seed = 7
    regimen = induction_series()
    whole = simulate(regimen, Population.virtual(30, seed), times=TIMES, outputs=OUTPUTS)
    part = simulate(regimen, Population.virtual(10, seed, first_id=11), times=TIMES, outputs=OUTPUTS)
    assert np.array_equal(part.values, whole.values[10:20])


def test_take_with_an_index_array():
    pop = Population.virtual(20, seed=3)
    picked = pop.take(np.array([19, 0, 7]))
    assert picked.ids.tolist() == [20, 1, 8]
    single = Population.virtual(1, seed=3, first_id=8)
    assert np.array_equal(picked.parameters("racemic")[2], single.parameters("racemic")[0])


def test_random_streams_are_pure_functions_of_seed_and_id():
    ids = np.array([5, 3, 1000, 2**40])
    u = patient_uniforms(9, ids, 6)
    assert np.array_equal(patient_uniforms(9, ids[::-1], 6), u[::-1])
    assert np.array_equal(patient_uniforms(9, ids[:2], 6), u[:2])
    assert np.all((u > 0) & (u < 1))
    # Streams and seeds are separate.
    assert not np.any(patient_uniforms(9, ids, 6, stream=1) == u)
    assert not np.any(patient_uniforms(10, ids, 6) == u)
    assert np.all(np.isfinite(patient_normals(9, ids, 6)))


def test_uniforms_look_uniform_and_independent():
    u = patient_uniforms(123, np.arange(1, 20001), 3)
    assert abs(u.mean() - 0.5) < 0.01
    assert abs(u.var() - 1 / 12) < 0.002
    corr = np.corrcoef(u.T)
    assert np.all(np.abs(corr[np.triu_indices(3, 1)]) < 0.03)
    # Neighbouring ids are not correlated either.
    assert abs(np.corrcoef(u[:-1, 0], u[1:, 0])[0, 1]) < 0.03


# --------------------------------------------------------------------------- covariates and variability


def test_virtual_covariates_stay_in_bounds_and_fixed_ones_are_exact():
    pop = Population.virtual(2000, seed=5, weight_kg=82.5)
    assert np.all(pop.covariates["weight_kg"] == 82.5)
    for name, (lo, hi) in COVARIATE_BOUNDS.items():
        if name == "weight_kg":
            continue
        values = pop.covariates[name]
        assert np.all((values >= lo) & (values <= hi)), name
        if patient_table()[name].iiv_cv > 0:
            assert np.unique(values).size > 100, f"{name} does not vary"
        else:
            assert np.all(values == patient_table().value(name)), name


@pytest.mark.parametrize("weight", [40.0, 70.0, 123.0])
def test_typical_patient_scales_clearance_and_volume_allometrically(weight):
    p = Population.typical(weight_kg=weight).parameters("racemic")
    table = pk_table("racemic")
    assert p[0, P_CL_S] == pytest.approx(table.value("cl_s") * (weight / 70.0) ** 0.75, rel=1e-14)
    assert p[0, P_V1_S] == pytest.approx(table.value("v1_s") * weight / 70.0, rel=1e-14)
    assert p[0, PARAM_NAMES.index("ka_im")] == table.value("ka_im")  # not scaled
    assert p[0, PARAM_NAMES.index("weight_kg")] == weight


def test_between_patient_variability_is_log_normal_with_the_tabled_cv():
    n = 20000
    pop = Population.virtual(n, seed=99, weight_kg=70.0)
    p = pop.parameters("esketamine")
    table = pk_table("esketamine")
    for name in ("cl_s", "v1_s", "ka_nasal"):
        cv = table[name].iiv_cv
        log_ratio = np.log(p[:, PARAM_NAMES.index(name)] / table.value(name))
        omega = math.sqrt(math.log(1.0 + cv**2))
        assert abs(log_ratio.mean()) < 4 * omega / math.sqrt(n), name
        assert log_ratio.std() == pytest.approx(omega, rel=0.03), name
    # Parameters without variability are the same for everyone.
    assert np.all(p[:, PARAM_NAMES.index("q2_s")] == table.value("q2_s"))
    # Different parameters get independent deviates.
    cl = np.log(p[:, PARAM_NAMES.index("cl_s")])
    v1 = np.log(p[:, PARAM_NAMES.index("v1_s")])
    assert abs(np.corrcoef(cl, v1)[0, 1]) < 0.03


def test_strong_placebo_responders_are_the_tabled_share_with_the_tabled_gain():
    """The expectancy gain is a two-component mixture: a share ``placebo_responder_fraction``
    of seeded virtual patients has ``placebo_responder_factor`` times the gain of the others,
    each component log-normal with the tabled CV. Read back from the parameter matrix of a
    large population: the share above the geometric midpoint of the two medians is the tabled
    share within 4 binomial SDs, and each component's median is its tabled value."""
    n = 40000
    table = model_table()
    share, factor = table.value("placebo_responder_fraction"), table.value("placebo_responder_factor")
    typical, cv = table.value("expectancy_gain"), table["expectancy_gain"].iiv_cv
    pop = Population.virtual(n, seed=2024)
    gain = pop.parameters("racemic")[:, PARAM_NAMES.index("expectancy_gain")]
    strong = gain > typical * math.sqrt(factor)
    assert abs(strong.mean() - share) < 4 * math.sqrt(share * (1 - share) / n)
    assert np.array_equal(strong, pop.placebo_responders())
    omega = math.sqrt(math.log(1.0 + cv**2))
    for members, median in ((~strong, typical), (strong, typical * factor)):
        log_ratio = np.log(gain[members] / median)
        assert abs(np.median(log_ratio)) < 4 * 1.25 * omega / math.sqrt(members.sum())
    # Independent of the treatment-resistant phenotype (its own random stream).
    resistant = pop.resistant()
    assert abs(strong[resistant].mean() - strong[~resistant].mean()) < 4 * math.sqrt(
        share * (1 - share) * (1 / resistant.sum() + 1 / (~resistant).sum()))
    # Typical patients (no seed) are not in the strong component.
    one = Population.typical()
    assert not one.placebo_responders().any()
    assert one.parameters("racemic")[0, PARAM_NAMES.index("expectancy_gain")] == pytest.approx(typical)


def test_multipliers_scale_one_parameter_per_patient():
    pop = Population.virtual(3, seed=1)
    scaled = pop.with_multipliers(cl_s=[1.0, 2.0, 0.5])
    base = pop.parameters("racemic")
    new = scaled.parameters("racemic")
    np.testing.assert_allclose(new[:, P_CL_S], base[:, P_CL_S] * [1.0, 2.0, 0.5], rtol=1e-15)
    other = [c for c in range(len(PARAM_NAMES)) if c != P_CL_S]
    assert np.array_equal(new[:, other], base[:, other])
    with pytest.raises(InputError) as err:
        pop.with_multipliers(no_such_parameter=2.0)
    assert err.value.field == "no_such_parameter"


def test_patient_covariates_reach_the_parameter_matrix():
    pop = Population.from_patients([{"weight_kg": 55.0, "madrs": 40.0}, {"age_years": 60.0}])
    p = pop.parameters("racemic")
    assert p[0, PARAM_NAMES.index("weight_kg")] == 55.0
    assert p[0, PARAM_NAMES.index("madrs")] == 40.0
    assert p[1, PARAM_NAMES.index("age_years")] == 60.0
    assert set(PATIENT_NAMES) <= set(PARAM_NAMES)


@pytest.mark.parametrize("make,field", [
    (lambda: Population.virtual(0), "n"),
    (lambda: Population.typical(weight_kg=0.0), "weight_kg"),
    (lambda: Population.typical(weight_kg=-70.0), "weight_kg"),
    (lambda: Population.typical(weight_kg=float("nan")), "weight_kg"),
    (lambda: Population.typical(madrs=-1.0), "madrs"),
    (lambda: Population.typical(shoe_size=44.0), "shoe_size"),
    (lambda: Population.virtual(5, seed=1, height_cm=180.0), "height_cm"),
])
def test_bad_population_input_names_the_field(make, field):
    with pytest.raises(InputError) as err:
        make()
    assert err.value.field == field
