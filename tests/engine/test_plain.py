"""The model's numba functions run again as plain Python (engine/plain.py, the one helper the
JAX engine and the SBML export share): the same numbers as the compiled functions, with the
caller's ``max`` reaching the functions ``rhs`` calls, and only ``max``, ``min`` and ``math``
replaceable."""

from __future__ import annotations

import builtins
import math

import numpy as np
import pytest

from ketamine_ptsd import Population, induction_series
from ketamine_ptsd.engine.plain import plain_functions
from ketamine_ptsd.model import MODEL


def _patient_and_state():
    params = Population.typical().parameters(induction_series().pk_product)
    p = MODEL.prepare(params)[0]
    rng = np.random.default_rng(7)
    y = rng.uniform(0.0, 2.0, len(MODEL.state_names))
    u = rng.uniform(0.0, 1.0, len(MODEL.input_names))
    return p, y, u


def test_plain_rhs_and_observe_give_the_compiled_numbers():
    p, y, u = _patient_and_state()
    plain = plain_functions(MODEL.module)
    compiled_dy, plain_dy = np.zeros(len(y)), [0.0] * len(y)
    MODEL.rhs(1.0, y, p, u, compiled_dy)
    plain.rhs(1.0, list(y), list(p), list(u), plain_dy)
    # The compiled code may fuse and reorder (model/_jit.py's fastmath): rounding only.
    np.testing.assert_allclose(plain_dy, compiled_dy, rtol=1e-9, atol=1e-12)
    n_out = len(MODEL.output_names)
    compiled_out, plain_out = np.zeros(n_out), [0.0] * n_out
    MODEL.observe(y, p, compiled_out, MODEL.all_outputs())
    plain.observe(list(y), list(p), plain_out, [True] * n_out)
    np.testing.assert_allclose(plain_out, compiled_out, rtol=1e-9, atol=1e-12)


def test_the_callers_max_and_math_reach_the_functions_called_below():
    p, y, u = _patient_and_state()
    calls = {"max": 0, "exp": 0}

    def counting_max(*values):
        calls["max"] += 1
        return builtins.max(*values)

    class CountingMath:
        def __getattr__(self, name):
            if name == "exp":
                calls["exp"] += 1
            return getattr(math, name)

    plain = plain_functions(MODEL.module, max=counting_max, math=CountingMath())
    plain.rhs(1.0, list(y), list(p), list(u), [0.0] * len(y))
    # system.rhs calls max only inside the layers' functions (pk, acute, cascade).
    assert calls["max"] > 0
    n_out = len(MODEL.output_names)
    plain.observe(list(y), list(p), [0.0] * n_out, [True] * n_out)
    # math.exp is read only by symptoms.ptsd_scores and madrs_score, two calls below observe.
    assert calls["exp"] == 5


def test_only_max_min_and_math_can_be_rebound():
    with pytest.raises(ValueError, match="np"):
        plain_functions(MODEL.module, np=None)
