"""The lane kernel with own steps (``kernel="lanes"``): patients in SIMD lanes, each lane with
its own time, step size, events and output times.

It is held to the DOP853 reference, to the per-patient kernel (the same algorithm, rounded
differently: nearly the same steps, results within a few times the tolerance), and to its own
promise: a patient's course, to the last bit, does not depend on the lane it runs in or on
who runs beside it.
"""

from __future__ import annotations

import numpy as np
import pytest

from ketamine_ptsd import Population, induction_series, simulate
from ketamine_ptsd.engine import NumbaEngine, ScipyEngine
from ketamine_ptsd.engine.numba_engine import LANES, kernel
from ketamine_ptsd.model import MODEL

OUTPUTS = ["ketamine_ng_ml", "norketamine_ng_ml", "cadss", "sbp_mmhg", "plasticity", "pcl5_total", "madrs"]


@pytest.fixture(scope="module")
def course():
    regimen = induction_series()
    times = np.unique(np.concatenate([np.arange(0.0, 24.0 * 28 + 1, 2.0), np.arange(0.0, 2.0, 0.1)]))
    return regimen, times


def relative_error(got, ref):
    """Largest |got - ref| over patients and times, relative to each output's largest
    magnitude for that patient (outputs that stay below 1e-9 are skipped)."""
    scale = np.max(np.abs(ref), axis=1, keepdims=True)
    ok = np.broadcast_to(scale > 1e-9, ref.shape)
    return float(np.max(np.where(ok, np.abs(got - ref) / np.where(scale > 0, scale, 1.0), 0.0)))


def test_lanes_within_1e4_of_the_dop853_reference(course):
    regimen, times = course
    population = Population.virtual(5, seed=11)
    ref = simulate(regimen, population, engine=ScipyEngine(method="DOP853", rtol=1e-12, atol=1e-14), times=times,
                   outputs=OUTPUTS)
    got = simulate(regimen, population, engine=NumbaEngine(kernel="lanes"), times=times, outputs=OUTPUTS)
    assert np.all(got.steps > 0)
    assert relative_error(got.values, ref.values) < 1e-4


def test_lanes_take_the_per_patient_kernel_s_steps(course):
    """The same algorithm as the per-patient kernel, patient by patient; only the rounding
    differs (generated exp and powers, the error scale's reciprocal in single precision and
    refined, the controller's root written out), so a step decided at the tolerance's edge may
    go the other way: each patient's step count within 1 % of its own there, and every course
    within a few times the tolerance (1e-6) of it, where the lockstep kernel moves by 1e-4.
    More patients than a block's lanes, so that lanes take a next patient when theirs is done."""
    regimen, times = course
    population = Population.virtual(3 * LANES + 5, seed=2)
    one = simulate(regimen, population, engine=NumbaEngine(kernel="patient"), times=times, outputs=OUTPUTS)
    own = simulate(regimen, population, engine=NumbaEngine(kernel="lanes"), times=times, outputs=OUTPUTS)
    assert np.all(np.isfinite(own.values))
    assert np.all(np.abs(own.steps - one.steps) <= 0.01 * one.steps)
    assert abs(own.steps.mean() / one.steps.mean() - 1.0) < 0.002
    assert relative_error(own.values, one.values) < 2e-5


def test_a_course_does_not_depend_on_its_lane_or_its_neighbours(course):
    """Each patient alone, and the same patients shuffled among others: bit for bit equal."""
    regimen, times = course
    params = Population.virtual(2 * LANES + 3, seed=9).parameters(regimen.pk_product, None)
    events, sel = MODEL.events(regimen), np.array([MODEL.output_names.index(o) for o in OUTPUTS])
    engine = NumbaEngine(kernel="lanes")
    together, steps = engine.solve(MODEL, params, events, times, sel)
    order = np.random.default_rng(1).permutation(params.shape[0])
    shuffled, steps_shuffled = engine.solve(MODEL, params[order], events, times, sel)
    np.testing.assert_array_equal(shuffled, together[order])
    np.testing.assert_array_equal(steps_shuffled, steps[order])
    for r in (0, 17, params.shape[0] - 1):
        alone, steps_alone = engine.solve(MODEL, params[r:r + 1], events, times, sel)
        np.testing.assert_array_equal(alone[0], together[r])
        assert steps_alone[0] == steps[r]


def test_lanes_over_several_blocks_and_threads(course):
    """More patients than one block, on one thread and on all: the same courses."""
    import numba

    regimen, _ = course
    times = np.arange(0.0, 24.0 * 14 + 1, 24.0)
    n = kernel(MODEL).LANE_BLOCK + 7
    params = Population.virtual(n, seed=12).parameters(regimen.pk_product, None)
    events, sel = MODEL.events(regimen), np.array([MODEL.output_names.index("pcl5_total")])
    many, steps_many = NumbaEngine(kernel="lanes").solve(MODEL, params, events, times, sel)
    try:
        one, steps_one = NumbaEngine(kernel="lanes", threads=1).solve(MODEL, params, events, times, sel)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert np.all(steps_many > 0) and np.all(np.isfinite(many))
    np.testing.assert_array_equal(one, many)
    np.testing.assert_array_equal(steps_one, steps_many)
    alone, steps_alone = NumbaEngine(kernel="lanes").solve(MODEL, params[n - 1:], events, times, sel)
    np.testing.assert_array_equal(alone[0], many[n - 1])


def test_a_failed_patient_is_nan_from_its_failure_and_its_lane_goes_on(course):
    """A patient past ``max_steps`` gets -1 steps and NaN from that output time on, as in the
    per-patient kernel; the lane then takes the next patient."""
    regimen, times = course
    params = Population.virtual(LANES + 3, seed=4).parameters(regimen.pk_product, None)
    events, sel = MODEL.events(regimen), np.array([MODEL.output_names.index("ketamine_ng_ml")])
    one, steps_one = NumbaEngine(kernel="patient", max_steps=60).solve(MODEL, params, events, times, sel)
    own, steps_own = NumbaEngine(kernel="lanes", max_steps=60).solve(MODEL, params, events, times, sel)
    assert np.all(steps_one == -1)
    np.testing.assert_array_equal(steps_own, steps_one)
    np.testing.assert_array_equal(np.isnan(own), np.isnan(one))
    finite = np.isfinite(one)
    np.testing.assert_allclose(own[finite], one[finite], rtol=1e-9, atol=1e-12)


def test_lanes_record_states_into_float32_in_any_layout(course):
    regimen, times = course
    params = Population.virtual(LANES + 1, seed=6).parameters(regimen.pk_product, None)
    events = MODEL.events(regimen)
    sel = np.array([MODEL.state_names.index(s) for s in ("s_central_mg", "bdnf")])
    one, _ = NumbaEngine(kernel="patient").solve(MODEL, params, events, times, sel, record_states=True)
    buffer = np.full((sel.size, params.shape[0], times.size), np.nan, dtype=np.float32)
    out = buffer.transpose(1, 2, 0)
    got, steps = NumbaEngine(kernel="lanes").solve(MODEL, params, events, times, sel, record_states=True, out=out)
    assert got is out and np.all(steps > 0)
    assert relative_error(out.astype(np.float64), one) < 1e-6


def test_fractional_power_exponent_falls_back_to_the_per_patient_kernel(course):
    regimen, times = course
    params = Population.virtual(LANES + 2, seed=3).parameters(regimen.pk_product, None)
    params[1, MODEL.param_names.index("drive_hill")] = 4.5
    events, sel = MODEL.events(regimen), np.array([MODEL.output_names.index("pcl5_total")])
    one, steps_one = NumbaEngine(kernel="patient").solve(MODEL, params, events, times, sel)
    own, steps_own = NumbaEngine(kernel="lanes").solve(MODEL, params, events, times, sel)
    np.testing.assert_array_equal(own, one)
    np.testing.assert_array_equal(steps_own, steps_one)


def test_generated_step_factor_is_within_1e14_of_the_library_power():
    """The controller's factor err ** -0.2 of all lanes at once (exp(-0.2 log err) written out)
    against the library's ``pow``: within 1e-14 relative for the norms steps have (1e-30 to
    1e30), within 5e-14 over the whole range of doubles, subnormal ones included."""
    root = kernel(MODEL)._lane_inverse_fifth_root
    rng = np.random.default_rng(5)
    cases = [(10.0 ** rng.uniform(-30, 30, LANES), 1e-14), (rng.uniform(0.5, 2.0, LANES), 1e-14),
             (10.0 ** rng.uniform(-300, 300, LANES), 5e-14),
             (np.array([5e-324, 1e-310, 2.2250738585072014e-308, 1.0, 1e-12, 1e12, 3.0, 0.999999] * 2), 5e-14)]
    for values, rtol in cases:
        got = np.zeros(LANES)
        root(values, got, LANES)
        np.testing.assert_allclose(got, values ** -0.2, rtol=rtol, atol=0.0)
