"""The optional JAX backend against the numba engine on the CPU.

Both engines run the same Dormand-Prince 5(4) on the same equations, so their trajectories
must agree far inside the solver tolerance; each output's difference is measured relative
to that output's largest magnitude over the course, for every patient. The tests skip when
jax is not installed (it is the ``jax`` extra).
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from ketamine_ptsd import Dose, Population, Regimen, induction_series, simulate, with_therapy
from ketamine_ptsd.engine import NumbaEngine, get_engine
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.model import MODEL
from ketamine_ptsd.model.layout import N_INPUTS, N_OUTPUTS, N_STATES

needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax (the jax extra) is not installed")

#: Four weeks of the induction series, every 2 h, and every 6 min over the first infusion.
TIMES = np.unique(np.concatenate([np.arange(0.0, 24.0 * 28 + 1, 2.0), np.arange(0.0, 2.0, 0.1)]))
OUTPUTS = ["ketamine_ng_ml", "norketamine_ng_ml", "nmda_occupancy", "plasticity", "cadss", "sbp_mmhg",
           "pcl5_total", "madrs"]
#: Fewer lanes than patients, so lanes take new patients from the queue as they finish.
LANES = 2


def relative_errors(got, ref, names):
    """Worst ``|got - ref| / max_t |ref|`` per variable over patients."""
    scale = np.max(np.abs(ref), axis=1)
    return {name: float(np.max(np.abs(got[:, :, k] - ref[:, :, k]).max(axis=1) / scale[:, k]))
            for k, name in enumerate(names) if np.all(scale[:, k] > 1e-9)}


def jax_engine(**options):
    from ketamine_ptsd.engine.jax_engine import JaxEngine

    return JaxEngine(lanes=LANES, **options)


@pytest.fixture(scope="module")
def population():
    return Population.virtual(5, seed=11)


@needs_jax
def test_right_hand_side_and_outputs_match_the_numba_model():
    """The JAX model is the model's own source run on JAX: equal to 1e-12 on random states,
    inputs and patients, negative states included (the clips at zero)."""
    import jax

    from ketamine_ptsd.engine.jax_engine import double_precision, jax_model

    rng = np.random.default_rng(7)
    n = 64
    params = MODEL.prepare(Population.virtual(n, seed=3).parameters("racemic"))
    states = rng.uniform(-0.2, 1.0, (n, N_STATES)) * rng.choice([1e-3, 1.0, 50.0], (n, N_STATES))
    inputs = rng.uniform(0.0, 60.0, (n, N_INPUTS))
    t = rng.uniform(0.0, 1000.0, n)
    model = jax_model(MODEL)
    with double_precision():
        rates = np.asarray(jax.jit(jax.vmap(model.rhs))(t, states, params, inputs))
        outputs = np.asarray(jax.jit(jax.vmap(model.observe))(states, params))
    expected_rates, expected_outputs = np.empty((n, N_STATES)), np.empty((n, N_OUTPUTS))
    for i in range(n):
        MODEL.rhs(t[i], states[i], params[i], inputs[i], expected_rates[i])
        MODEL.observe(states[i], params[i], expected_outputs[i], MODEL.all_outputs())
    for got, want in ((rates, expected_rates), (outputs, expected_outputs)):
        assert np.all(np.isfinite(want))
        assert np.all(np.abs(got - want) <= 1e-12 * np.maximum(np.abs(want), 1e-300))


@needs_jax
def test_same_trajectories_as_numba_within_1e6(population):
    """At the default and at tight tolerances, without the flush of tiny states, within 1e-6
    of each output's maximum for every patient."""
    regimen = induction_series()
    for rtol, atol in ((1e-6, 1e-9), (1e-8, 1e-11)):
        options = dict(rtol=rtol, atol=atol, flush_below=0.0)
        ref = simulate(regimen, population, engine=NumbaEngine(**options), times=TIMES, outputs=OUTPUTS)
        got = simulate(regimen, population, engine=jax_engine(**options), times=TIMES, outputs=OUTPUTS)
        assert np.all(np.isfinite(got.values))
        errors = relative_errors(got.values, ref.values, OUTPUTS)
        assert set(errors) == set(OUTPUTS)
        too_far = {k: f"{v:.2e}" for k, v in errors.items() if not v < 1e-6}
        assert not too_far, f"rtol {rtol}: JAX differs from numba by more than 1e-6: {too_far}"


@needs_jax
def test_default_settings_take_the_same_steps_as_numba(population):
    """With the default flush of tiny states the step sequence itself must match: accepted
    steps within 1 % per patient, and trajectories within the flush's own effect."""
    regimen = induction_series()
    ref = simulate(regimen, population, engine=NumbaEngine(), times=TIMES, outputs=OUTPUTS)
    got = simulate(regimen, population, engine=jax_engine(), times=TIMES, outputs=OUTPUTS)
    assert np.all(np.abs(got.steps - ref.steps) <= 0.01 * ref.steps)
    errors = relative_errors(got.values, ref.values, OUTPUTS)
    assert max(errors.values()) < 1e-5, errors


@needs_jax
def test_every_state_for_nasal_im_and_bolus_esketamine_with_therapy():
    """Depot jumps, the swallowed share as a zero-order input, psychotherapy sessions, and
    events that fall on output times, on every state. Tight tolerances: the clip of the
    glutamate surge puts kinks into mTOR's rate, where both engines are ~1e-6 from the exact
    solution at rtol 1e-8."""
    regimen = Regimen((Dose(0.0, 56.0, "intranasal", "esketamine"), Dose(72.0, 84.0, "intranasal", "esketamine"),
                       Dose(120.0, 0.3, "im", "esketamine", per_kg=True),
                       Dose(170.0, 0.2, "iv_bolus", "esketamine", per_kg=True)))
    regimen = with_therapy(regimen, [1, 4, 6], hours_after_dose=2.0)
    population = Population.virtual(3, seed=5)
    times = np.unique(np.concatenate([np.arange(0.0, 240.0, 1.0), np.arange(0.0, 1.0, 0.05)]))
    options = dict(rtol=1e-10, atol=1e-12, flush_below=0.0)
    ref = simulate(regimen, population, engine=NumbaEngine(**options), times=times, record_states=True)
    got = simulate(regimen, population, engine=jax_engine(**options), times=times, record_states=True)
    errors = relative_errors(got.values, ref.values, got.names)
    assert {"depot_nasal_mg", "depot_gut_mg", "depot_im_mg", "s_central_mg", "therapy_effect"} <= set(errors)
    too_far = {k: f"{v:.2e}" for k, v in errors.items() if not v < 1e-6}
    assert not too_far, too_far


@needs_jax
def test_lane_count_does_not_change_results(population):
    """Two lanes taking patients from the queue give what eight lanes side by side give (up
    to rounding: vector widths differ)."""
    from ketamine_ptsd.engine.jax_engine import JaxEngine

    regimen = induction_series()
    queued = simulate(regimen, population, engine=jax_engine(flush_below=0.0), times=TIMES, outputs=OUTPUTS)
    side_by_side = simulate(regimen, population, engine=JaxEngine(lanes=8, flush_below=0.0), times=TIMES,
                            outputs=OUTPUTS)
    assert np.all(np.abs(queued.steps - side_by_side.steps) <= 0.01 * side_by_side.steps)
    errors = relative_errors(queued.values, side_by_side.values, OUTPUTS)
    assert max(errors.values()) < 1e-6, errors


@needs_jax
def test_step_limit_stops_a_patient_like_numba(population):
    regimen = induction_series()
    ref = simulate(regimen, population, engine=NumbaEngine(max_steps=40), times=TIMES, outputs=OUTPUTS)
    got = simulate(regimen, population, engine=jax_engine(max_steps=40), times=TIMES, outputs=OUTPUTS)
    assert np.all(ref.steps == -1) and np.all(got.steps == -1)
    assert np.array_equal(np.isnan(got.values), np.isnan(ref.values))
    assert any("step limit" in w for w in got.metadata["warnings"])


@needs_jax
def test_get_engine_returns_the_jax_backend_and_checks_its_options():
    engine = get_engine("jax", rtol=1e-7)
    assert engine.name == "jax-dopri5" and engine.rtol == 1e-7
    for field, value in (("rtol", 0.0), ("lanes", 0), ("outputs_per_pass", 1.5), ("bucket", 0), ("flush_below", -1.0)):
        with pytest.raises(InputError) as err:
            get_engine("jax", **{field: value})
        assert err.value.field == field


def test_without_jax_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)
    with pytest.raises(InputError) as err:
        get_engine("jax")
    assert err.value.field == "engine" and "ketamine-ptsd[jax]" in err.value.message
