"""``simulate``: its contract, metadata, and properties that hold for any valid input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketamine_ptsd import Dose, NumbaEngine, Population, Regimen, induction_series, simulate, single_dose, with_therapy
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.model import MODEL
from ketamine_ptsd.model import layout as L
from ketamine_ptsd.simulation import output_times

DAY = 24.0


# --------------------------------------------------------------------------- contract


def test_output_times_grid():
    t = output_times(56, 15)
    assert t.size == 56 * 24 * 4 + 1
    assert t[0] == 0.0 and t[-1] == 56 * 24.0
    assert np.allclose(np.diff(t), 0.25)
    assert output_times(1, 7)[-1] == pytest.approx(24.0 - 5 / 60)  # 205 steps of 7 min: stops before 24 h
    with pytest.raises(InputError) as err:
        output_times(0, 15)
    assert err.value.field == "horizon_days"
    with pytest.raises(InputError) as err:
        output_times(1, float("nan"))
    assert err.value.field == "dt_min"


@pytest.mark.parametrize("times", [[0.0, 2.0, 1.0], [0.0, 1.0, 1.0], [], [0.0, float("nan")], [[0.0, 1.0]]])
def test_bad_times(times):
    with pytest.raises(InputError) as err:
        simulate(single_dose(), times=times)
    assert err.value.field == "times"


def test_unknown_outputs():
    with pytest.raises(InputError) as err:
        simulate(single_dose(), times=[0.0, 1.0], outputs=["ketamine_ng_ml", "serotonin"])
    assert err.value.field == "outputs" and "serotonin" in str(err.value)
    with pytest.raises(InputError):
        simulate(single_dose(), times=[0.0, 1.0], outputs=["ketamine_ng_ml"], record_states=True)


def test_default_call_and_metadata():
    traj = simulate(single_dose())
    assert traj.values.shape == (1, 56 * 24 * 4 + 1, len(MODEL.output_names))
    assert traj.names == MODEL.output_names
    meta = traj.metadata
    assert meta["n_patients"] == 1 and meta["product"] == "racemic" and meta["seed"] is None
    assert meta["engine"] == "numba-dopri5" and meta["rtol"] == 1e-6 and meta["atol"] == 1e-9
    assert meta["doses"] == [{"time_h": 0.0, "amount": 0.5, "unit": "mg/kg", "route": "iv_infusion",
                              "drug": "racemic", "duration_h": pytest.approx(2 / 3)}]
    assert meta["units"]["ketamine_ng_ml"] == "ng/mL"
    assert meta["outside_validated_range"] is False and meta["warnings"] == []
    assert "not a medical device" in meta["notice"]


def test_selected_outputs_equal_the_full_run():
    """Which outputs are recorded does not change how the patient is integrated."""
    regimen = with_therapy(induction_series(), [1, 3])
    pop = Population.virtual(4, seed=3)
    times = np.arange(0.0, 14 * DAY, 0.5)
    full = simulate(regimen, pop, times=times)
    some = simulate(regimen, pop, times=times, outputs=["madrs", "ketamine_ng_ml"])
    assert np.array_equal(some["madrs"], full["madrs"])
    assert np.array_equal(some["ketamine_ng_ml"], full["ketamine_ng_ml"])


def test_outputs_are_consistent_with_states():
    """Concentrations are amounts over volumes (mg/L -> ng/mL), from the recorded states."""
    regimen = induction_series([0, 2])
    pop = Population.virtual(3, seed=8)
    times = np.arange(0.0, 4 * DAY, 0.25)
    names = ["ketamine_ng_ml", "s_ketamine_ng_ml", "r_ketamine_ng_ml"]
    conc = simulate(regimen, pop, times=times, outputs=names)
    states = simulate(regimen, pop, times=times, outputs=["s_central_mg", "r_central_mg"], record_states=True)
    p = pop.parameters("racemic")
    s = 1000.0 * states["s_central_mg"] / p[:, [L.P_V1_S]]
    r = 1000.0 * states["r_central_mg"] / p[:, [L.P_V1_R]]
    np.testing.assert_allclose(conc["s_ketamine_ng_ml"], np.maximum(s, 0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conc["r_ketamine_ng_ml"], np.maximum(r, 0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conc["ketamine_ng_ml"], conc["s_ketamine_ng_ml"] + conc["r_ketamine_ng_ml"],
                               rtol=1e-14)


def test_progress_reports_every_patient():
    done = []
    simulate(single_dose(), Population.virtual(10, seed=1), engine=NumbaEngine(chunk_size=3),
             times=np.arange(0.0, 6.0, 1.0), progress=done.append)
    assert done == [3, 3, 3, 1]


def test_outside_validated_range_is_recorded():
    heavy = simulate(single_dose(), Population.typical(weight_kg=200.0), times=[0.0, 1.0])
    assert heavy.metadata["outside_validated_range"] is True
    assert any("weight_kg" in w for w in heavy.warnings)
    big_dose = simulate(single_dose(3.0), times=[0.0, 1.0])
    assert big_dose.metadata["outside_validated_range"] is True
    assert any("3 mg/kg" in w for w in big_dose.warnings)


def test_controls_give_no_ketamine():
    times = np.arange(0.0, 3 * DAY, 0.25)
    midazolam = simulate(induction_series([0, 2], 0.045, product="midazolam"), times=times)
    for name in ("ketamine_ng_ml", "norketamine_ng_ml", "effect_site_ng_ml", "nmda_occupancy", "cadss"):
        assert np.all(midazolam[name] == 0.0), name
    assert midazolam["midazolam_ng_ml"].max() > 0 and midazolam["sedation"].max() > 0
    saline = simulate(induction_series([0, 2], 1.0, per_kg=False, product="saline"), times=times)
    for name in ("ketamine_ng_ml", "midazolam_ng_ml", "sedation", "mtor", "plasticity"):
        assert np.all(saline[name] == 0.0), name


def test_esketamine_has_no_r_enantiomer():
    traj = simulate(induction_series([0, 3], 56, per_kg=False, route="intranasal", product="esketamine"),
                    Population.virtual(3, seed=2), times=np.arange(0.0, 5 * DAY, 0.5))
    assert traj.metadata["product"] == "esketamine"
    assert np.all(traj["r_ketamine_ng_ml"] == 0.0)
    assert traj["s_ketamine_ng_ml"].max() > 0


# --------------------------------------------------------------------------- properties

DOSE_RANGES = {  # a sane range per route, as validated.toml and common practice have them
    "iv_infusion": (0.1, 1.0, True),
    "iv_bolus": (0.05, 0.5, True),
    "im": (0.25, 1.5, True),
    "oral": (25.0, 300.0, False),
    "sublingual": (25.0, 300.0, False),
    "intranasal": (10.0, 100.0, False),
}


@st.composite
def scenarios(draw):
    product = draw(st.sampled_from(["racemic", "esketamine"]))
    route = draw(st.sampled_from(sorted(DOSE_RANGES)))
    if route == "intranasal" and product == "esketamine":
        amount, per_kg = float(draw(st.sampled_from([28, 56, 84]))), False
    else:
        lo, hi, per_kg = DOSE_RANGES[route]
        amount = draw(st.floats(lo, hi))
    duration_min = draw(st.floats(10.0, 120.0)) if route == "iv_infusion" else None
    days = sorted(draw(st.lists(st.integers(0, 14), min_size=1, max_size=4, unique=True)))
    therapy = draw(st.none() | st.lists(st.integers(0, 16), min_size=1, max_size=3, unique=True))
    weight = draw(st.floats(40.0, 150.0))
    seed = draw(st.none() | st.integers(0, 2**32 - 1))
    regimen = induction_series(days, amount, per_kg, route, product, duration_min)
    if therapy:
        regimen = with_therapy(regimen, sorted(therapy), hours_after_dose=draw(st.floats(0.0, 24.0)))
    population = Population.typical(weight_kg=weight) if seed is None else Population.virtual(1, seed,
                                                                                              weight_kg=weight)
    return regimen, population


@settings(max_examples=25, deadline=None)
@given(scenarios())
def test_any_valid_input_gives_finite_nonnegative_bounded_outputs(scenario):
    regimen, population = scenario
    end = regimen.end_h + 3 * DAY
    times = np.unique(np.concatenate([np.arange(0.0, end, 0.5),
                                      *[d.time_h + np.array([0.05, 0.1, 0.2, 0.35, 0.7]) for d in regimen.doses]]))
    traj = simulate(regimen, population, times=times)
    v = traj.values
    assert np.all(np.isfinite(v)), "NaN or infinite output"
    assert np.all(traj.steps > 0)
    # Every output is a concentration, fraction, score or vital sign: never negative (the
    # observation clips states at zero, so no numerical tolerance is needed).
    negative = {n: float(traj[n].min()) for n in traj.names if traj[n].min() < 0.0}
    assert not negative, negative
    assert traj["ketamine_ng_ml"].max() > 0.0
    for name in ("nmda_occupancy", "plasticity", "sedation"):
        assert traj[name].max() <= 1.0, name
    assert traj["cadss"].max() <= 92.0
    assert np.all(traj["glutamate"] >= 1.0)
    assert traj["synaptic_density"].max() <= 1.0 + 1e-6
    # Symptom scores stay between 0 and the patient's own baseline.
    cov = population.covariates
    for name in ("pcl5_b", "pcl5_c", "pcl5_d", "pcl5_e", "madrs"):
        assert np.all(traj[name] <= cov[name][:, None] * (1 + 1e-12)), name
    np.testing.assert_allclose(traj["pcl5_total"], sum(traj[f"pcl5_{c}"] for c in "bcde"), rtol=1e-12)


@settings(max_examples=15, deadline=None)
@given(scenarios())
def test_any_valid_input_keeps_drug_amounts_nonnegative(scenario):
    """The raw amounts (not clipped) may undershoot zero only by solver noise. Justification
    for the tolerance: a depot or compartment that has decayed to ~0 is integrated with
    absolute tolerance atol = 1e-9 mg, so dense output can dip by a few atol; 1e-7 mg is
    far below any meaningful amount (doses are >= 1 mg)."""
    regimen, population = scenario
    times = np.arange(0.0, regimen.end_h + 3 * DAY, 0.5)
    names = [MODEL.state_names[i] for i in L.KETAMINE_MASS_STATES] + ["s_effect_site_ng_ml", "r_effect_site_ng_ml"]
    traj = simulate(regimen, population, times=times, outputs=names, record_states=True)
    assert np.all(np.isfinite(traj.values))
    assert traj.values.min() >= -1e-7, {n: float(traj[n].min()) for n in names}


def test_regimen_with_doses_far_apart_and_a_late_first_dose():
    regimen = Regimen((Dose(10 * DAY, 0.5, per_kg=True), Dose(40 * DAY, 0.5, per_kg=True)))
    traj = simulate(regimen, times=np.arange(0.0, 50 * DAY, 1.0), outputs=["ketamine_ng_ml", "pcl5_total"])
    k = traj["ketamine_ng_ml"][0]
    assert np.all(k[:240] == 0.0) and k[241] > 0 and k[961] > 0
    assert np.all(np.isfinite(traj.values))
