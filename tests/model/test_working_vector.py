"""What the compiled model computes once per patient, and what it skips, changes no result.

The equations read a working vector (parameters, then constants derived from them once per
patient), compute an output group only when one of its outputs is asked for, and take exact
shortcuts in ``power``. Each is checked here against the plain formula.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from ketamine_ptsd import Population, induction_series, simulate
from ketamine_ptsd.engine import NumbaEngine
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.model import MODEL
from ketamine_ptsd.model import layout as L
from ketamine_ptsd.model._jit import power
from ketamine_ptsd.units import KETAMINE_G_PER_MOL, NORKETAMINE_G_PER_MOL


@pytest.fixture(scope="module")
def patients():
    params = Population.virtual(40, seed=5).parameters("racemic")
    return params, MODEL.prepare(params)


def test_working_vector_starts_with_the_parameters_unchanged(patients):
    params, work = patients
    assert work.shape == (params.shape[0], L.N_WORK)
    assert np.array_equal(work[:, :L.N_PARAMS], params)


def test_derived_constants_are_the_formulas_of_the_parameters(patients):
    """Each derived constant against its formula written out again here from the model's
    documentation (docs/model.md), not read from the code."""
    params, work = patients
    col = {name: params[:, i] for i, name in enumerate(L.PARAM_NAMES)}
    d = {name: work[:, L.N_PARAMS + i] for i, name in enumerate(L.DERIVED_NAMES)}
    np.testing.assert_allclose(d["inv_v1_s"] * col["v1_s"], 1.0, rtol=1e-14)
    np.testing.assert_allclose(d["inv_v3_r"] * col["v3_r"], 1.0, rtol=1e-14)
    np.testing.assert_allclose(d["k_nk"], col["cl_nk"] / col["v_nk"], rtol=1e-14)
    np.testing.assert_allclose(d["nk_ng_ml_per_mg"], 1000.0 * NORKETAMINE_G_PER_MOL / KETAMINE_G_PER_MOL
                               / col["v_nk"], rtol=1e-14)
    np.testing.assert_allclose(d["occ_per_ce_s"], col["fu"] / KETAMINE_G_PER_MOL / col["ki_s_ketamine"], rtol=1e-14)
    np.testing.assert_allclose(d["occ_per_nkr"], col["fu"] * col["nk_brain_ratio"] / NORKETAMINE_G_PER_MOL
                               / col["ki_r_norketamine"], rtol=1e-14)
    # The glutamate drive's half-rise and half-block occupancies enter as reciprocals.
    np.testing.assert_allclose(d["inv_drive_occupancy_half"] * col["drive_occupancy_half"], 1.0, rtol=1e-14)
    np.testing.assert_allclose(d["inv_drive_occupancy_block"] * col["drive_occupancy_block"], 1.0, rtol=1e-14)
    np.testing.assert_allclose(d["inv_oral_ad_tau"] * col["oral_ad_tau"], 1.0, rtol=1e-14)
    np.testing.assert_allclose(d["inv_room"] * (1.0 - col["set_point"]), 1.0, rtol=1e-14)
    np.testing.assert_allclose(d["inv_expectancy_tau"] * col["expectancy_tau"], 1.0, rtol=1e-14)


def test_prepare_refuses_a_matrix_of_the_wrong_width():
    with pytest.raises(InputError) as err:
        MODEL.prepare(np.ones((3, L.N_PARAMS - 1)))
    assert err.value.field == "params"


def test_each_output_alone_equals_the_same_output_among_all(patients):
    """``need`` asking for one output gives exactly what the all-outputs call gives for it."""
    _, work = patients
    rng = np.random.default_rng(3)
    everything = MODEL.all_outputs()
    for i in range(work.shape[0]):
        y = rng.uniform(0.0, 1.0, L.N_STATES) * rng.choice([1e-3, 1.0, 30.0], L.N_STATES)
        full = np.full(L.N_OUTPUTS, np.nan)
        MODEL.observe(y, work[i], full, everything)
        assert np.all(np.isfinite(full))
        for k in range(L.N_OUTPUTS):
            need = np.zeros(L.N_OUTPUTS, dtype=np.bool_)
            need[k] = True
            one = np.full(L.N_OUTPUTS, np.nan)
            MODEL.observe(y, work[i], one, need)
            assert one[k] == full[k], L.OUTPUT_NAMES[k]


def test_a_simulation_of_few_outputs_equals_the_same_outputs_among_many():
    """Through the engine: the outputs of a run that asks for two of them are bit-identical
    to the same two in a run that asks for all of them."""
    population = Population.virtual(3, seed=9)
    regimen = induction_series(days=(0, 2))
    times = np.arange(0.0, 24.0 * 5, 0.25)
    few = simulate(regimen, population, times=times, outputs=["ketamine_ng_ml", "pcl5_total"], engine=NumbaEngine())
    many = simulate(regimen, population, times=times, outputs=list(L.OUTPUT_NAMES), engine=NumbaEngine())
    for name in ("ketamine_ng_ml", "pcl5_total"):
        assert np.array_equal(few[name], many[name])


@njit
def _compiled_power(x, h):
    return power(x, h)


@settings(max_examples=300, deadline=None)
@given(x=st.one_of(st.sampled_from([0.0, 1.0, 0.5, 1e-300]), st.floats(0.0, 1e3)),
       h=st.one_of(st.sampled_from([0.0, 1.0, 2.0, 0.5, 1.767]), st.floats(0.0, 8.0)))
def test_compiled_power_equals_the_plain_power(x, h):
    """The compiled shortcuts (h = 2, 1, 0; x = 1, 0) give what ``x ** h`` gives."""
    want = x ** h
    got = _compiled_power(x, h)
    assert got == want or math.isclose(got, want, rel_tol=1e-15, abs_tol=0.0)
