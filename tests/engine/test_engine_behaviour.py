"""Contract of the engines: chunking and threading do not change results, events at output
times, outputs before any dose, the step limit, option validation."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from ketamine_ptsd import Dose, Population, Regimen, induction_series, simulate, single_dose
from ketamine_ptsd.engine import NumbaEngine, ScipyEngine, get_engine
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.model import MODEL
from ketamine_ptsd.params import patient_table

TIMES = np.unique(np.concatenate([np.arange(0.0, 24.0 * 14, 1.0), np.arange(0.0, 1.5, 0.05)]))
OUTPUTS = ["ketamine_ng_ml", "norketamine_ng_ml", "cadss", "plasticity", "pcl5_total", "madrs", "sbp_mmhg"]


@pytest.fixture(scope="module")
def population():
    return Population.virtual(23, seed=2024)


def test_chunk_size_does_not_change_results(population):
    regimen = induction_series()
    whole = simulate(regimen, population, engine=NumbaEngine(chunk_size=4096), times=TIMES, outputs=OUTPUTS)
    for chunk in (1, 5, 22):
        chunked = simulate(regimen, population, engine=NumbaEngine(chunk_size=chunk), times=TIMES, outputs=OUTPUTS)
        assert np.array_equal(chunked.values, whole.values), f"chunk_size={chunk} changed the outputs"
        assert np.array_equal(chunked.steps, whole.steps)


def test_thread_count_does_not_change_results(population):
    regimen = induction_series()
    many = simulate(regimen, population, engine=NumbaEngine(), times=TIMES, outputs=OUTPUTS)
    try:
        one = simulate(regimen, population, engine=NumbaEngine(threads=1), times=TIMES, outputs=OUTPUTS)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert np.array_equal(one.values, many.values)


# threads=None means all cores, also after an engine limited to fewer threads in the same
# process (numba's thread count is global).
@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two or more cores")
def test_default_engine_uses_all_cores_after_a_limited_one():
    regimen = single_dose()
    times = np.arange(0.0, 4.0, 1.0)
    try:
        simulate(regimen, Population.typical(), engine=NumbaEngine(threads=1), times=times)
        simulate(regimen, Population.typical(), engine=NumbaEngine(), times=times)
        threads_after = numba.get_num_threads()
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert threads_after == numba.config.NUMBA_NUM_THREADS


def test_patient_results_do_not_depend_on_their_neighbours(population):
    """Simulating a subset gives each patient exactly the course it has in the whole run."""
    regimen = induction_series()
    whole = simulate(regimen, population, times=TIMES, outputs=OUTPUTS)
    part = simulate(regimen, population.take(slice(7, 12)), times=TIMES, outputs=OUTPUTS)
    assert np.array_equal(part.values, whole.values[7:12])
    assert np.array_equal(part.ids, whole.ids[7:12])


def test_event_at_an_output_time_is_applied_before_recording(tight_engine):
    """An output at the exact time of a bolus shows the dose (as NONMEM and mrgsolve do)."""
    regimen = Regimen((Dose(2.0, 30.0, "iv_bolus", "racemic"),))
    times = np.array([0.0, 1.0, 2.0, 3.0])
    traj = simulate(regimen, Population.typical(), engine=tight_engine, times=times,
                    outputs=["s_central_mg", "r_central_mg", "s_periph1_mg"], record_states=True)
    assert np.all(traj.values[0, :2] == 0.0)
    assert traj.values[0, 2, 0] == pytest.approx(15.0, rel=1e-14)  # racemate: half S
    assert traj.values[0, 2, 1] == pytest.approx(15.0, rel=1e-14)
    assert traj.values[0, 2, 2] == 0.0  # nothing has distributed yet
    assert 0.0 < traj.values[0, 3, 0] < 15.0


def test_before_any_dose_every_output_is_at_baseline():
    """The untreated patient: no drug, vitals and symptom scores at their baselines."""
    covariates = {name: patient_table().value(name) for name in patient_table().names}
    regimen = single_dose(time_h=24.0)
    traj = simulate(regimen, Population.typical(), times=np.arange(0.0, 24.0, 0.5))
    for name in ("ketamine_ng_ml", "norketamine_ng_ml", "effect_site_ng_ml", "midazolam_ng_ml", "nmda_occupancy",
                 "mtor", "bdnf", "plasticity", "cadss", "sedation"):
        assert np.all(traj[name] == 0.0), name
    assert np.all(traj["glutamate"] == 1.0)
    for name in ("sbp_mmhg", "dbp_mmhg", "hr_bpm", "pcl5_b", "pcl5_c", "pcl5_d", "pcl5_e", "madrs"):
        assert np.allclose(traj[name], covariates[name], rtol=1e-14), name
    pcl5 = sum(covariates[f"pcl5_{c}"] for c in "bcde")
    caps5 = sum(covariates[f"caps5_{c}"] for c in "bcde")
    iesr = covariates["iesr_intrusion"] + covariates["iesr_avoidance"] + covariates["iesr_hyperarousal"]
    assert np.allclose(traj["pcl5_total"], pcl5, rtol=1e-14)
    assert np.allclose(traj["caps5_total"], caps5, rtol=1e-14)
    assert np.allclose(traj["iesr_total"], iesr, rtol=1e-14)


def test_output_grid_starting_after_the_first_dose_still_integrates_from_the_dose():
    regimen = induction_series(days=[0, 2])
    full_times = np.arange(0.0, 96.0, 0.5)
    full = simulate(regimen, Population.typical(), times=full_times, outputs=OUTPUTS)
    late = simulate(regimen, Population.typical(), times=full_times[full_times >= 10.0], outputs=OUTPUTS)
    np.testing.assert_allclose(late.values[0], full.values[0, full_times >= 10.0], rtol=1e-5, atol=1e-9)


def test_step_limit_gives_nan_and_a_warning():
    traj = simulate(induction_series(), Population.virtual(2, seed=1), engine=NumbaEngine(max_steps=50),
                    times=np.arange(0.0, 48.0, 1.0), outputs=["ketamine_ng_ml"])
    assert np.all(traj.steps == -1)
    assert np.isnan(traj.values[:, -1]).all()
    assert any("step limit" in w for w in traj.metadata["warnings"])


def test_steps_are_reported_per_patient(population):
    traj = simulate(induction_series(), population, times=TIMES, outputs=["ketamine_ng_ml"])
    assert traj.steps.shape == (len(population),)
    # Six infusions, each start and stop a hard breakpoint: well over 12 steps, far under the limit.
    assert np.all(traj.steps > 12) and np.all(traj.steps < NumbaEngine().max_steps)


@pytest.mark.parametrize("field,value", [("rtol", 0.0), ("rtol", -1e-6), ("atol", float("nan")),
                                         ("atol", float("inf"))])
def test_engine_tolerances_are_validated(field, value):
    with pytest.raises(InputError) as err:
        NumbaEngine(**{field: value})
    assert err.value.field == field


def test_get_engine():
    assert isinstance(get_engine(), NumbaEngine)
    assert isinstance(get_engine("SciPy", method="RK45"), ScipyEngine)
    assert get_engine("numba", rtol=1e-8).rtol == 1e-8
    with pytest.raises(InputError) as err:
        get_engine("fortran")
    assert err.value.field == "engine"


def test_scipy_engine_follows_the_same_event_contract(tight_engine):
    regimen = Regimen((Dose(2.0, 30.0, "iv_bolus", "racemic"), Dose(3.0, 10.0, "iv_infusion", duration_h=1.0)))
    times = np.array([1.0, 2.0, 2.5, 3.0, 3.5, 4.0, 10.0])
    out_sel = np.array([MODEL.state_names.index("s_central_mg")])
    params = Population.typical().parameters("racemic")
    ref, _ = ScipyEngine(method="DOP853", rtol=1e-11, atol=1e-13).solve(
        MODEL, params, MODEL.events(regimen), times, out_sel, True)
    got, _ = tight_engine.solve(MODEL, params, MODEL.events(regimen), times, out_sel, True)
    assert ref[0, 1, 0] == pytest.approx(15.0, rel=1e-14)
    np.testing.assert_allclose(got, ref, rtol=1e-8)


@pytest.mark.parametrize("engine", [NumbaEngine(), ScipyEngine(rtol=1e-6, atol=1e-9)], ids=["numba", "scipy"])
def test_engine_writes_into_a_given_output_array(engine):
    """``out=`` is filled in place (simulate writes each chunk into its result this way) with
    what the engine returns without it; an array of the wrong shape or type is refused."""
    params = Population.virtual(3, seed=4).parameters("racemic")
    events = MODEL.events(single_dose(0.5))
    times = np.arange(0.0, 48.0, 0.5)
    sel = np.array([MODEL.output_names.index("ketamine_ng_ml"), MODEL.output_names.index("pcl5_total")])
    fresh, fresh_steps = engine.solve(MODEL, params, events, times, sel)
    target = np.full((3, times.size, 2), np.nan)
    got, steps = engine.solve(MODEL, params, events, times, sel, out=target)
    assert got is target
    assert np.array_equal(target, fresh) and np.array_equal(steps, fresh_steps)
    # Single precision, and outputs-major memory (what the streaming writer passes): the same values.
    columns = np.full((2, 3, times.size), np.nan, np.float32)
    engine.solve(MODEL, params, events, times, sel, out=columns.transpose(1, 2, 0))
    assert np.array_equal(columns, fresh.transpose(2, 0, 1).astype(np.float32))
    read_only = np.empty((3, times.size, 2))
    read_only.flags.writeable = False
    for bad in (np.empty((3, times.size, 3)), np.empty((3, times.size, 2), np.int64), read_only):
        with pytest.raises(InputError) as err:
            engine.solve(MODEL, params, events, times, sel, out=bad)
        assert err.value.field == "out"


@pytest.mark.parametrize("given", [None, "ACTIVE"])
def test_idle_engine_threads_sleep_unless_the_user_chose_otherwise(given):
    """libgomp reads OMP_WAIT_POLICY when numba's threading layer loads it: by then the engine
    has made it PASSIVE (idle threads sleep, not spin, while the main thread writes a chunk),
    and a user's own choice stands."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    code = ("import os, numba\n"
            "from ketamine_ptsd import Population, simulate, single_dose\n"
            "from ketamine_ptsd.engine import NumbaEngine\n"
            "simulate(single_dose(0.5, True, 'iv_infusion', 'racemic', 0.0, 40 / 60), Population.virtual(3, 0),\n"
            "         engine=NumbaEngine(kernel='patient', threads=2), times=[0.0, 1.0])\n"
            "print(numba.threading_layer(), os.environ['OMP_WAIT_POLICY'])")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    layer, policy = out.stdout.split()
    assert policy == (given or "PASSIVE")
    assert layer in ("omp", "tbb", "workqueue")
