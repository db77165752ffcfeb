"""The solver interpolates only the states the requested outputs read (``engine.dependencies``):
the selection must be right for every output, or an output would be computed from a state
the solver left stale."""

from __future__ import annotations

import numpy as np
import pytest

from ketamine_ptsd import Population, induction_series
from ketamine_ptsd.engine import NumbaEngine
from ketamine_ptsd.engine.dependencies import states_read
from ketamine_ptsd.engine.numba_engine import kernel
from ketamine_ptsd.model import MODEL

NAMES = MODEL.output_names


def _read(*outputs):
    return {MODEL.state_names[i] for i in states_read(MODEL, [NAMES.index(o) for o in outputs])}


def test_plasma_ketamine_reads_the_two_central_compartments_only():
    # C = amount / V for each enantiomer: nothing else enters the plasma concentration.
    assert _read("ketamine_ng_ml") == {"s_central_mg", "r_central_mg"}


def test_pcl5_reads_the_symptom_drivers_and_no_drug_state():
    read = _read("pcl5_total")
    assert {"synapses_labile", "synapses_stable", "functional_response", "expectancy"} <= read
    assert not any(name.startswith(("s_", "r_")) for name in read)


def test_recorded_states_are_the_selection_itself():
    assert list(states_read(MODEL, [7, 3, 7], record_states=True)) == [3, 7]


def test_every_output_is_read_from_at_least_one_state():
    for k, name in enumerate(NAMES):
        assert states_read(MODEL, [k]).size >= 1, name


@pytest.fixture(scope="module")
def course():
    regimen = induction_series()
    params = Population.virtual(6, seed=5).parameters(regimen.pk_product, None)
    return params, MODEL.events(regimen), np.arange(0.0, 20 * 24.0, 0.25)


def _solve(course, out_sel, dense_sel):
    params, events, times = course
    out = np.empty((params.shape[0], times.size, out_sel.size))
    kernel(MODEL).solve_population(
        MODEL.initial_state(params.shape[0]), MODEL.prepare(params), events.time_h, events.kind,
        events.index, events.fixed, events.per_kg, MODEL.param_names.index("weight_kg"), times,
        out_sel, dense_sel, False, len(MODEL.input_names), len(NAMES), 1e-6, 1e-9, 1e-8, 200_000, out)
    return out


@pytest.mark.parametrize("outputs", [[k] for k in range(len(NAMES))] + [list(range(len(NAMES)))],
                         ids=[*NAMES, "all"])
def test_outputs_from_the_selected_states_equal_those_from_every_state(course, outputs):
    out_sel = np.array(outputs, dtype=np.int64)
    every_state = np.arange(len(MODEL.state_names), dtype=np.int64)
    selected = _solve(course, out_sel, states_read(MODEL, out_sel))
    full = _solve(course, out_sel, every_state)
    assert np.isfinite(full).all()
    np.testing.assert_array_equal(selected, full)


def test_the_engine_passes_the_selection(course):
    params, events, times = course
    out_sel = np.array([NAMES.index("ketamine_ng_ml"), NAMES.index("pcl5_total")], dtype=np.int64)
    out, _ = NumbaEngine(threads=1).solve(MODEL, params, events, times, out_sel)
    np.testing.assert_array_equal(out, _solve(course, out_sel, np.arange(len(MODEL.state_names))))
